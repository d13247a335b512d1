"""How a container ended: the report written by --report and returned by the Python API."""

from __future__ import annotations

import os
import stat

from hutch.record import Record
from hutch.units import mib


class Report(Record):
    exit_code: int  # what hutch exits with: PID 1's code or 128+signal, 137 after an OOM kill
    process_exit_code: int | None = None  # PID 1's own code or 128+signal
    signal: int | None = None
    oom_killed: bool = False
    timed_out: bool = False
    memory_peak_bytes: int | None = None
    memory_limit_bytes: int | None = None
    cpu_user_seconds: float | None = None
    cpu_system_seconds: float | None = None
    wall_seconds: float = 0.0

    def oom_message(self) -> str:
        limit = mib(self.memory_limit_bytes) if self.memory_limit_bytes else "none"
        return (f"container was killed by the OOM killer "
                f"(memory limit {limit}, peak {mib(self.memory_peak_bytes)})")

    def to_json(self) -> str:
        import json

        return json.dumps(self._asdict(), sort_keys=True)


def write_report(report: Report, destination: str) -> None:
    """Write the JSON report to stderr ("-"), an already-open stream such as /dev/fd/N, or a file.

    A regular file is replaced atomically (temp file, fsync, rename) so a reader never sees half a report.
    """
    data = (report.to_json() + "\n").encode()
    if destination == "-":
        os.write(2, data)
        return
    try:
        st = os.stat(destination)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(destination, "wb") as f:
            f.write(data)
        return
    directory = os.path.dirname(os.path.abspath(destination))
    tmp = os.path.join(directory, f".{os.path.basename(destination)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.rename(tmp, destination)
    except OSError:
        os.unlink(tmp)
        raise
