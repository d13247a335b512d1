"""Files written atomically: a reader sees the old content or the new, never a part (temp, fsync, rename)."""

from __future__ import annotations

import os


def write_atomic(path: str, data: bytes, dir_fd: int | None = None, mode: int = 0o600,
                 durable: bool = True) -> None:
    """Write a file so that readers see the old content or the new one, never a part: temp, fsync, rename."""
    base = path.rsplit("/", 1)
    tmp = f"{base[0]}/.{base[1]}.{os.getpid()}.tmp" if len(base) == 2 else f".{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode,
                 dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp, dir_fd)
        raise
    os.close(fd)
    try:
        os.rename(tmp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        _unlink_quietly(tmp, dir_fd)
        raise


def _unlink_quietly(path: str, dir_fd: int | None) -> None:
    try:
        os.unlink(path, dir_fd=dir_fd)
    except OSError:
        pass
