"""Reading and writing cgroup files, turning OSError into a one-line CgroupError."""

from __future__ import annotations

import errno
import os
import time

from hutch.cgroups.resources import CgroupError

_RMDIR_RETRY_SECONDS = 1.0


def _error(action: str, path: str, exc: OSError) -> CgroupError:
    reason = exc.strerror or str(exc)
    return CgroupError(f"{action} {path}: {reason}", exc.errno)


def _read_raw(path: str) -> str:
    # os-level calls: open() adds a buffered text layer and five syscalls per small kernel file.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode("ascii")
    finally:
        os.close(fd)


def read(path: str) -> str:
    try:
        return _read_raw(path)
    except OSError as exc:
        raise _error("cannot read", path, exc) from None


def read_or_none(path: str) -> str | None:
    """Content of a file that may be absent on this kernel, or None."""
    try:
        return _read_raw(path)
    except OSError:
        return None


def read_int_or_none(path: str) -> int | None:
    text = read_or_none(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def read_keyed(path: str) -> dict[str, str]:
    """Parse a flat-keyed file such as cpu.stat ("key value" per line); {} when absent."""
    text = read_or_none(path)
    if text is None:
        return {}
    pairs = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        pairs[key] = value.strip()
    return pairs


def read_pids(path: str) -> list[int]:
    text = read_or_none(path)
    return [int(word) for word in text.split()] if text else []


def exists(path: str) -> bool:
    return os.path.exists(path)


def write(path: str, value: str | int) -> None:
    text = str(value)
    try:
        # cgroupfs takes each write(2) as one command: no buffering, no O_TRUNC needed.
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode("ascii"))
        finally:
            os.close(fd)
    except OSError as exc:
        raise _error(f"cannot write {text} to", path, exc) from None


def write_interdependent(writes: list[tuple[str, str | int]]) -> None:
    """Write files the kernel checks against each other's current values (period, quota, burst).

    Whether one value is valid can depend on the old value of another (a burst above the old quota, a
    quota over the parent's budget with the old period), so a write refused with EINVAL is tried again once
    the others are in; only when a whole round makes no progress is the first refusal raised.
    """
    pending = writes
    while pending:
        refused: list[tuple[str, str | int]] = []
        first_error: CgroupError | None = None
        for path, value in pending:
            try:
                write(path, value)
            except CgroupError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                refused.append((path, value))
                first_error = first_error or exc
        if first_error is not None and len(refused) == len(pending):
            raise first_error
        pending = refused


def subtree(directory: str) -> list[str]:
    """A cgroup directory and every cgroup below it, deepest first (the order rmdir needs)."""
    return [dirpath for dirpath, _, _ in os.walk(directory, topdown=False)]


def make_dir(path: str) -> bool:
    """Create one directory; False when it already existed."""
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise _error("cannot create", path, exc) from None


def remove_dir(path: str) -> None:
    """rmdir a cgroup; absent is fine, EBUSY is retried because exiting tasks leave it late."""
    deadline = time.monotonic() + _RMDIR_RETRY_SECONDS
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise _error("cannot remove", path, exc) from None
        time.sleep(0.01)
