"""Capability sets: names, the bounding set, capget/capset and the ambient set."""

from __future__ import annotations

import ctypes

from hutch.linux import syscalls

CAP_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
_BY_NAME = {name: number for number, name in enumerate(CAP_NAMES)}

_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def number(name: str) -> int:
    """Map 'CAP_NET_RAW' (or 'net_raw') to its number; ValueError for an unknown name."""
    key = name.upper()
    if not key.startswith("CAP_"):
        key = "CAP_" + key
    try:
        return _BY_NAME[key]
    except KeyError:
        raise ValueError(f"unknown capability {name!r}") from None


def mask(names: list[str] | tuple[str, ...] | None) -> int:
    bits = 0
    for name in names or ():
        bits |= 1 << number(name)
    return bits


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(CAP_NAMES) - 1


def drop_bounding(keep: int) -> None:
    """Drop every capability not in `keep` from the bounding set (needs CAP_SETPCAP)."""
    for cap in range(last_cap() + 1):
        if not keep & (1 << cap) and syscalls.prctl(syscalls.PR_CAPBSET_READ, cap):
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, cap)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if syscalls._libc.capset(ctypes.byref(header), data) != 0:
        syscalls._fail()


def capget(pid: int = 0) -> tuple[int, int, int]:
    """Return (effective, permitted, inheritable) of a process (0 = this one)."""
    header = _Header(_VERSION_3, pid)
    data = (_Data * 2)()
    if syscalls._libc.capget(ctypes.byref(header), data) != 0:
        syscalls._fail()
    eff = data[0].effective | (data[1].effective << 32)
    perm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, perm, inh


def set_ambient(caps: int) -> None:
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(last_cap() + 1):
        if caps & (1 << cap):
            syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, cap)
