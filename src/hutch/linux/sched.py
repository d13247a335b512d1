"""ctypes wrappers for a process's scheduling: sched_setattr, ioprio_set, personality, time offsets."""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# (x86_64, aarch64) syscall numbers
_NUMBERS = {"sched_setattr": (314, 274), "ioprio_set": (251, 30)}
_ARCH = 1 if os.uname().machine in ("aarch64", "arm64") else 0

SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
                  "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
               "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10,
               "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20, "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}

_IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_SHIFT = 13


class _SchedAttr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64),
                ("sched_nice", ctypes.c_int32), ("sched_priority", ctypes.c_uint32),
                ("sched_runtime", ctypes.c_uint64), ("sched_deadline", ctypes.c_uint64),
                ("sched_period", ctypes.c_uint64)]


def _fail() -> None:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


def sched_setattr(policy: str, nice: int = 0, priority: int = 0, flags: list[str] | None = None,
                  runtime: int = 0, deadline: int = 0, period: int = 0, pid: int = 0) -> None:
    """Set the scheduling policy of `pid` (0: the caller), as sched_setattr(2)."""
    attr = _SchedAttr(ctypes.sizeof(_SchedAttr), SCHED_POLICIES[policy],
                      sum(SCHED_FLAGS[f] for f in flags or []), nice, priority, runtime, deadline, period)
    if _libc.syscall(_NUMBERS["sched_setattr"][_ARCH], ctypes.c_int(pid), ctypes.byref(attr),
                     ctypes.c_uint(0)) != 0:
        _fail()


def ioprio_set(io_class: str, priority: int, pid: int = 0) -> None:
    """Set the I/O scheduling class and priority of `pid` (0: the caller), as ioprio_set(2)."""
    value = (IOPRIO_CLASSES[io_class] << _IOPRIO_CLASS_SHIFT) | priority
    if _libc.syscall(_NUMBERS["ioprio_set"][_ARCH], ctypes.c_int(_IOPRIO_WHO_PROCESS), ctypes.c_int(pid),
                     ctypes.c_int(value)) != 0:
        _fail()


def ioprio_get(pid: int = 0) -> tuple[int, int]:
    """(class, priority) of `pid`; for tests and `hutch-runtime exec` checks."""
    number = 252 if _ARCH == 0 else 31
    value = _libc.syscall(number, ctypes.c_int(_IOPRIO_WHO_PROCESS), ctypes.c_int(pid))
    if value < 0:
        _fail()
    return value >> _IOPRIO_CLASS_SHIFT, value & ((1 << _IOPRIO_CLASS_SHIFT) - 1)


def set_personality(domain: str) -> None:
    if _libc.personality(ctypes.c_ulong(PERSONALITIES[domain])) == -1:
        _fail()


def write_time_offsets(offsets: dict[str, tuple[int, int]]) -> None:
    """Write clock offsets (seconds, nanoseconds) into a new time namespace that no process has entered yet
    (the caller unshared CLONE_NEWTIME; its children will be in it)."""
    text = "".join(f"{clock} {secs} {nanos}\n" for clock, (secs, nanos) in offsets.items())
    fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
