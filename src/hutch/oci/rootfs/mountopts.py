"""Translation of OCI mount options into mount(2) flags, propagation and filesystem data."""

from __future__ import annotations

from hutch.linux import syscalls as sc
from hutch.record import Record

# option -> (clear?, flag)
_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID), "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV), "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC), "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS), "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC), "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK), "nomand": (True, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME), "atime": (True, sc.MS_NOATIME),
    "nodiratime": (False, sc.MS_NODIRATIME), "diratime": (True, sc.MS_NODIRATIME),
    "relatime": (False, sc.MS_RELATIME), "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "lazytime": (False, sc.MS_LAZYTIME), "nolazytime": (True, sc.MS_LAZYTIME),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW), "symfollow": (True, sc.MS_NOSYMFOLLOW),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
}

_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# Options that are about how the runtime sets a mount up, not kernel options.
_RUNTIME_ONLY = {"tmpcopyup", "notmpcopyup", "copy-symlink", "idmap", "ridmap", "z", "Z", "U"}

# statvfs flags that the kernel locks on bind remounts and that must therefore be kept.
_ST_TO_MS = {2: sc.MS_NOSUID, 4: sc.MS_NODEV, 8: sc.MS_NOEXEC, 1024: sc.MS_NOATIME,
             2048: sc.MS_NODIRATIME, 4096: sc.MS_RELATIME}


class MountOptions(Record):
    flags: int = 0
    propagation: int = 0
    data: str = ""
    recursive_ro: bool = False

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)


def parse(options: list[str]) -> MountOptions:
    out = MountOptions()
    data = []
    for option in options:
        if option in _FLAGS:
            clear, flag = _FLAGS[option]
            out.flags = out.flags & ~flag if clear else out.flags | flag
        elif option in _PROPAGATION:
            out.propagation |= _PROPAGATION[option]
        elif option == "rro":
            out.flags |= sc.MS_RDONLY
            out.recursive_ro = True
        elif option in _RUNTIME_ONLY:
            continue
        else:
            data.append(option)
    out.data = ",".join(data)
    return out


def locked_flags(path: str) -> int:
    """Flags of the mount at `path` that a bind remount must repeat (the kernel refuses to drop them)."""
    import os

    st = os.statvfs(path).f_flag
    return sum(ms for stflag, ms in _ST_TO_MS.items() if st & stflag)


def supported_options() -> list[str]:
    """The mount options hutch honours (for `features`): flags, propagation and rro."""
    return sorted({*_FLAGS, *_PROPAGATION, "rro"})
