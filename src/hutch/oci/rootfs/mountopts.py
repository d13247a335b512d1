"""Translation of OCI mount options into mount(2) flags, propagation, recursive attributes and fs data."""

from __future__ import annotations

import errno

from hutch.linux import syscalls as sc
from hutch.oci.errors import ContainerError, describe, step
from hutch.record import Record

# option -> (clear?, flag): runc's table (libcontainer/specconv mountFlags)
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
    "iversion": (False, sc.MS_I_VERSION), "noiversion": (True, sc.MS_I_VERSION),
    "silent": (False, sc.MS_SILENT), "loud": (True, sc.MS_SILENT),
    "defaults": (False, 0),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
}

_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# option -> (clear?, MOUNT_ATTR_* bit), set or cleared on the mount and every mount below it with
# mount_setattr(AT_RECURSIVE) once it is made (runc's recAttrFlags, but for the atime options below).
_RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, sc.MOUNT_ATTR_RDONLY), "rrw": (True, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, sc.MOUNT_ATTR_NOSUID), "rsuid": (True, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (False, sc.MOUNT_ATTR_NODEV), "rdev": (True, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (False, sc.MOUNT_ATTR_NOEXEC), "rexec": (True, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, sc.MOUNT_ATTR_NODIRATIME), "rdiratime": (True, sc.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (False, sc.MOUNT_ATTR_NOSYMFOLLOW), "rsymfollow": (True, sc.MOUNT_ATTR_NOSYMFOLLOW),
}

# The atime setting is one value of mount_setattr's MOUNT_ATTR__ATIME field, and the kernel refuses a part of
# that field in attr_clr (runc's "ratime" and "rnostrictatime" fail so): each option names the value. A
# clearing option names what the mount gets without the flag it clears: relatime, the kernel's default, and
# for "rnorelatime" strictatime (updating atime on every access is what leaving relatime out asks for).
_RECURSIVE_ATIME = {
    "rrelatime": sc.MOUNT_ATTR_RELATIME, "rnorelatime": sc.MOUNT_ATTR_STRICTATIME,
    "rnoatime": sc.MOUNT_ATTR_NOATIME, "ratime": sc.MOUNT_ATTR_RELATIME,
    "rstrictatime": sc.MOUNT_ATTR_STRICTATIME, "rnostrictatime": sc.MOUNT_ATTR_RELATIME,
}

# How hutch sets a mount up, not kernel options: tmpcopyup fills a tmpfs with what the root filesystem had
# at its destination (copyup.py); idmap/ridmap make an idmapped bind mount (idmap.py).
_RUNTIME = {"tmpcopyup", "notmpcopyup", "idmap", "ridmap"}

# Accepted and ignored, as runc ignores them: "z" and "Z" ask for an SELinux relabel of the source (there is
# no SELinux support here, see features), and "U" asks podman to chown the volume, done before any runtime
# runs. Everything else that is not in the tables above is filesystem data for mount(2), as in runc: the
# kernel refuses what the filesystem does not know, and the error names the mount and its options.
_IGNORED = {"z", "Z", "U"}

# statvfs flags that the kernel locks on bind remounts and that must therefore be kept.
_ST_TO_MS = {2: sc.MS_NOSUID, 4: sc.MS_NODEV, 8: sc.MS_NOEXEC, 1024: sc.MS_NOATIME,
             2048: sc.MS_NODIRATIME, 4096: sc.MS_RELATIME}


class MountOptions(Record):
    flags: int = 0
    propagation: int = 0
    data: str = ""
    attr_set: int = 0  # recursive attributes (MOUNT_ATTR_*) to set, then to clear, over the whole tree
    attr_clr: int = 0
    idmap: str = ""  # "idmap" or "ridmap" (the idmapping applied to every mount of the tree)
    tmpcopyup: bool = False

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)

    @property
    def recursive_ro(self) -> bool:
        return bool(self.attr_set & sc.MOUNT_ATTR_RDONLY)


def parse(options: list[str]) -> MountOptions:
    """The options in order: a later option overrides an earlier one it contradicts."""
    out = MountOptions()
    data = []
    for option in options:
        if option in _FLAGS:
            clear, flag = _FLAGS[option]
            out.flags = out.flags & ~flag if clear else out.flags | flag
        elif option in _PROPAGATION:
            out.propagation |= _PROPAGATION[option]
        elif option in _RECURSIVE:
            clear, attr = _RECURSIVE[option]
            if clear:
                out.attr_set, out.attr_clr = out.attr_set & ~attr, out.attr_clr | attr
            else:
                out.attr_set, out.attr_clr = out.attr_set | attr, out.attr_clr & ~attr
        elif option in _RECURSIVE_ATIME:
            out.attr_set = (out.attr_set & ~sc.MOUNT_ATTR__ATIME) | _RECURSIVE_ATIME[option]
            out.attr_clr |= sc.MOUNT_ATTR__ATIME
        elif option in _RUNTIME:
            if option in ("idmap", "ridmap"):
                out.idmap = option
            else:
                out.tmpcopyup = option == "tmpcopyup"
        elif option in _IGNORED:
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
    """The mount options hutch honours (for `features`): flags, propagation, recursive attributes and the
    runtime's own options."""
    return sorted({*_FLAGS, *_PROPAGATION, *_RECURSIVE, *_RECURSIVE_ATIME, *_RUNTIME})


def refuse_data(what: str, kind: str, opts: MountOptions) -> None:
    """A bind or cgroup mount passes no filesystem data to the kernel. Filesystem settings (`mode=755`,
    `size=1k`: KEY=VALUE) mean nothing there and are ignored, as by runc and the kernel (engines and the
    validation suite send them); a bare word that is in none of the tables is a mistake to report, not to
    drop. `what` says what could not be done."""
    unknown = [word for word in opts.data.split(",") if word and "=" not in word]
    if unknown:
        raise ContainerError(f"cannot {what}: unknown mount option(s) {', '.join(unknown)} "
                             f"(a {kind} mount takes no filesystem options)")


class mount_step(step):
    """step() for a mount(2) of a filesystem: the error names the mount and its options, and when the kernel
    refused them (EINVAL), the options it may not know."""

    __slots__ = ("data",)

    def __init__(self, fstype: str, destination: str, options: list[str], data: str) -> None:
        shown = f" with options {','.join(options)}" if options else ""
        super().__init__(f"mount {fstype} on {destination}{shown}")
        self.data = data

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> bool:
        if isinstance(exc, OSError) and exc.errno == errno.EINVAL and self.data:
            raise ContainerError(f"cannot {self.what}: {describe(exc)} (the filesystem may not know one "
                                 f"of: {self.data})") from exc
        return super().__exit__(kind, exc, _tb)
