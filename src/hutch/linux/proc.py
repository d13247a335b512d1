"""A process's /proc/PID/stat: its state and start time, which tell a live process from a reused PID."""

from __future__ import annotations

import os

from hutch.record import Record


class ProcStat(Record):
    pid: int
    state: str  # R, S, D, Z, T, t, X, I ...
    ppid: int
    start_time: int  # clock ticks after boot: with the PID, it names one process for the machine's uptime


def stat(pid: int) -> ProcStat | None:
    """The process's stat line, or None when no process has this PID."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        data = os.read(fd, 4096)
    except ProcessLookupError:  # ESRCH: it exited between open and read
        return None
    finally:
        os.close(fd)
    # The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
    rest = data[data.rindex(b")") + 2:].split()
    return ProcStat(pid, rest[0].decode(), int(rest[1]), int(rest[19]))


def start_time(pid: int) -> int | None:
    st = stat(pid)
    return None if st is None else st.start_time


def is_running(pid: int, expected_start: int | None) -> bool:
    """Whether `pid` still names the process that started at `expected_start` and has not exited (zombie)."""
    if pid <= 0:
        return False
    st = stat(pid)
    if st is None or st.state in ("Z", "X"):
        return False
    return expected_start is None or st.start_time == expected_start
