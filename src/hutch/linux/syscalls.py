"""ctypes wrappers for namespace, mount, prctl and fd syscalls the standard library lacks."""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_FORCE = 1
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

CLOSE_RANGE_CLOEXEC = 1 << 2

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70  # the atime setting is one value of this field, not a set of bits
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

OPEN_TREE_CLONE = 0x1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40

_SYS_PIVOT_ROOT = 155
_SYS_SETNS = 308
_SYS_CLOSE_RANGE = 436
_SYS_MOUNT_SETATTR = 442
_SYS_OPEN_TREE = 428

NAMESPACE_FLAGS = {
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}


def _fail(path: str | None = None) -> None:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err), path)


def _enc(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return os.fsencode(value)


def unshare(flags: int) -> None:
    if _libc.unshare(ctypes.c_int(flags)) != 0:
        _fail()


def setns(fd: int, nstype: int = 0) -> None:
    if _libc.syscall(_SYS_SETNS, ctypes.c_int(fd), ctypes.c_int(nstype)) != 0:
        _fail()


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    ret = _libc.mount(_enc(source), _enc(target), _enc(fstype), ctypes.c_ulong(flags), _enc(data))
    if ret != 0:
        _fail(target)


def umount2(target: str, flags: int = 0) -> None:
    if _libc.umount2(_enc(target), ctypes.c_int(flags)) != 0:
        _fail(target)


def pivot_root(new_root: str, put_old: str) -> None:
    if _libc.syscall(_SYS_PIVOT_ROOT, _enc(new_root), _enc(put_old)) != 0:
        _fail(new_root)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(path: str, attr_set: int, attr_clr: int = 0, recursive: bool = True, *,
                  dirfd: int = AT_FDCWD, propagation: int = 0, userns_fd: int = 0) -> None:
    """Change mount attributes, recursively over the whole subtree when asked (kernel 5.12+). With `dirfd`
    and an empty `path`, the mount is the descriptor's own (AT_EMPTY_PATH): a detached open_tree() copy."""
    attr = _MountAttr(attr_set, attr_clr, propagation, userns_fd)
    flags = (AT_RECURSIVE if recursive else 0) | (AT_EMPTY_PATH if not path else 0)
    ret = _libc.syscall(_SYS_MOUNT_SETATTR, ctypes.c_int(dirfd), _enc(path), ctypes.c_uint(flags),
                        ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    if ret != 0:
        _fail(path or None)


def open_tree(path: str, flags: int, dirfd: int = AT_FDCWD) -> int:
    """A descriptor of the mount at `path`; with OPEN_TREE_CLONE a detached copy of it (of its whole
    subtree with AT_RECURSIVE) that mount_setattr() may change and move_mount() attach elsewhere."""
    fd = _libc.syscall(_SYS_OPEN_TREE, ctypes.c_int(dirfd), _enc(path), ctypes.c_uint(flags))
    if fd < 0:
        _fail(path)
    return fd


def move_mount(from_fd: int, to_fd: int, from_path: str = "", to_path: str = "",
               flags: int = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) -> None:
    """Attach a mount: by default the one of descriptor `from_fd` (as open_tree() gives) on the file of
    descriptor `to_fd` (an O_PATH descriptor of the mount point: no path is looked up again)."""
    if _libc.syscall(_SYS_MOVE_MOUNT, ctypes.c_int(from_fd), _enc(from_path), ctypes.c_int(to_fd),
                     _enc(to_path), ctypes.c_uint(flags)) != 0:
        _fail(to_path or None)


_SYS_MOVE_MOUNT, _SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT = 429, 430, 431, 432  # the same on every arch
_FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 1, 6
_MOVE_MOUNT_F_EMPTY_PATH = 0x4


def mount_overlay(target: str, lower: list[str], upper: str, work: str) -> None:
    """An overlay through the new mount API, each lower directory its own "lowerdir+" (Linux 6.8): no
    limit of one page of options on the number of layers."""
    fs = _libc.syscall(_SYS_FSOPEN, b"overlay", ctypes.c_uint(1))  # FSOPEN_CLOEXEC
    if fs < 0:
        _fail(target)
    try:
        for key, value in [*(("lowerdir+", d) for d in lower), ("upperdir", upper), ("workdir", work)]:
            if _libc.syscall(_SYS_FSCONFIG, ctypes.c_int(fs), ctypes.c_uint(_FSCONFIG_SET_STRING), _enc(key),
                             _enc(value), ctypes.c_int(0)) != 0:
                _fail(value)
        if _libc.syscall(_SYS_FSCONFIG, ctypes.c_int(fs), ctypes.c_uint(_FSCONFIG_CMD_CREATE), None, None,
                         ctypes.c_int(0)) != 0:
            _fail(target)
        mnt = _libc.syscall(_SYS_FSMOUNT, ctypes.c_int(fs), ctypes.c_uint(1), ctypes.c_uint(0))
        if mnt < 0:
            _fail(target)
        try:
            if _libc.syscall(_SYS_MOVE_MOUNT, ctypes.c_int(mnt), b"", ctypes.c_int(AT_FDCWD), _enc(target),
                             ctypes.c_uint(_MOVE_MOUNT_F_EMPTY_PATH)) != 0:
                _fail(target)
        finally:
            os.close(mnt)
    finally:
        os.close(fs)


def sethostname(name: str) -> None:
    raw = name.encode()
    if _libc.sethostname(raw, ctypes.c_size_t(len(raw))) != 0:
        _fail()


def setdomainname(name: str) -> None:
    raw = name.encode()
    if _libc.setdomainname(raw, ctypes.c_size_t(len(raw))) != 0:
        _fail()


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    ret = _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                      ctypes.c_ulong(arg4), ctypes.c_ulong(arg5))
    if ret < 0:
        _fail()
    return ret


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    ret = _libc.syscall(_SYS_CLOSE_RANGE, ctypes.c_uint(first), ctypes.c_uint(last), ctypes.c_uint(flags))
    if ret != 0:
        _fail()


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_dumpable(dumpable: bool) -> None:
    prctl(PR_SET_DUMPABLE, int(dumpable))


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def close_all_except(keep: set[int]) -> None:
    """Close every descriptor of this process but those in `keep` (close_range over the gaps)."""
    first = 0
    for fd in sorted(keep):
        if fd > first:
            close_range(first, fd - 1)
        first = max(first, fd + 1)
    close_range(first)


_SYS_KEYCTL = 250
KEYCTL_JOIN_SESSION_KEYRING = 1


def join_session_keyring(name: str) -> int:
    """Join (create) a new session keyring named `name`, so keys of the caller's session stay out of reach."""
    ret = _libc.syscall(_SYS_KEYCTL, ctypes.c_int(KEYCTL_JOIN_SESSION_KEYRING), _enc(name))
    if ret < 0:
        _fail()
    return ret
