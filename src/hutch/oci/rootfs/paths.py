"""Resolving container paths inside a root directory without ever escaping it through symlinks."""

from __future__ import annotations

import errno
import os
import stat

_MAX_LINKS = 255
_COMPONENT = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def secure_join(root: str, unsafe: str) -> str:
    """Join `unsafe` under `root`, resolving symlinks as if `root` were "/" (as runc's securejoin does)."""
    root = root.rstrip("/") or "/"
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(40, "Too many levels of symbolic links", unsafe)
        try:
            target = os.readlink(candidate)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.EINVAL):
                raise
            parts.insert(0, part)  # no longer a symlink (changed meanwhile): look again
            continue
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return os.path.join(root, *resolved) if resolved else root


def ensure_dir(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def open_inside(root: str, path: str, create: str = "") -> int:
    """An O_PATH descriptor of `path`, a secure_join() result under `root`, opened one component at a time
    from `root` without following any symlink; missing directories on the way are made, and a missing last
    component too when `create` says "dir" or "file".

    secure_join() resolved every symlink of the path. One met here was put there since, by whoever else can
    write to the root filesystem (another container sharing a volume), to send a mount or a device node out
    of the root (CVE-2021-30465): it fails with ELOOP instead. Mount through fd_path() of the descriptor, and
    open the path again after a mount to reach what is mounted there.
    """
    parts = [part for part in os.path.relpath(path, root).split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{path} is not under {root}")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for index, part in enumerate(parts):
            kind = create if index == len(parts) - 1 else "dir"
            parent, fd = fd, -1
            try:
                fd = _open_component(parent, part, kind)
            finally:
                os.close(parent)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return fd


def _open_component(parent: int, name: str, create: str) -> int:
    try:
        fd = os.open(name, _COMPONENT, dir_fd=parent)
    except FileNotFoundError:
        if create == "dir":
            try:
                os.mkdir(name, 0o755, dir_fd=parent)
            except FileExistsError:
                pass
        elif create == "file":
            try:
                flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
                os.close(os.open(name, flags, 0o644, dir_fd=parent))
            except FileExistsError:
                pass
        else:
            raise
        fd = os.open(name, _COMPONENT, dir_fd=parent)
    if stat.S_ISLNK(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name)
    return fd


def fd_path(fd: int) -> str:
    """The path that mount(2) and friends follow to exactly the file of `fd` (the host's /proc, before the
    pivot)."""
    return f"/proc/self/fd/{fd}"
