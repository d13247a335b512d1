"""Device nodes and /dev symlinks of the container: mknod, or bind mounts inside a user namespace."""

from __future__ import annotations

import os
import stat

from hutch.linux import syscalls as sc
from hutch.oci.config.spec import Device
from hutch.oci.errors import step
from hutch.oci.rootfs.paths import fd_path, open_inside, secure_join

DEFAULT_DEVICES = (
    Device("/dev/null", "c", 1, 3, 0o666, 0, 0),
    Device("/dev/zero", "c", 1, 5, 0o666, 0, 0),
    Device("/dev/full", "c", 1, 7, 0o666, 0, 0),
    Device("/dev/random", "c", 1, 8, 0o666, 0, 0),
    Device("/dev/urandom", "c", 1, 9, 0o666, 0, 0),
    Device("/dev/tty", "c", 5, 0, 0o666, 0, 0),
)

_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)

_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_devices(root: str, devices: list[Device], bind: bool) -> None:
    """Create the default devices and the spec's; bind the host's nodes when mknod is not allowed."""
    seen = set()
    for dev in [*DEFAULT_DEVICES, *devices]:
        if dev.path in seen:
            continue
        seen.add(dev.path)
        dest = secure_join(root, dev.path)
        if bind:
            _bind_device(root, dev, dest)
        else:
            _mknod_device(root, dev, dest)


# Nodes and symlinks are made relative to a descriptor of their directory, opened inside the root without
# following symlinks (paths.open_inside): a path swapped meanwhile cannot put them on the host.


def _mknod_device(root: str, dev: Device, dest: str) -> None:
    kind = _TYPES.get(dev.type)
    if kind is None:
        raise ValueError(f"device {dev.path}: unknown type {dev.type!r}")
    with step(f"create device {dev.path}"):
        parent = open_inside(root, os.path.dirname(dest), "dir")
        try:
            name = os.path.basename(dest)
            try:
                os.unlink(name, dir_fd=parent)
            except FileNotFoundError:
                pass
            mode = dev.file_mode if dev.file_mode is not None else 0o666
            os.mknod(name, kind | (mode & 0o7777), os.makedev(dev.major, dev.minor), dir_fd=parent)
            os.chown(name, dev.uid or 0, dev.gid or 0, dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)


def _bind_device(root: str, dev: Device, dest: str) -> None:
    with step(f"bind device {dev.path}"):
        fd = open_inside(root, dest, "file")
        try:
            sc.mount(dev.path, fd_path(fd), None, sc.MS_BIND)
        finally:
            os.close(fd)


def create_symlinks(root: str) -> None:
    for target, link in _SYMLINKS:
        path = secure_join(root, link)
        with step(f"create the symlink {link}"):
            parent = open_inside(root, os.path.dirname(path), "dir")
            try:
                os.symlink(target, os.path.basename(path), dir_fd=parent)
            except FileExistsError:
                pass
            finally:
                os.close(parent)
