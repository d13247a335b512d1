"""inotify(7) through ctypes: the standard library has no wrapper, and cgroup v2 reports events this way."""

from __future__ import annotations

import ctypes
import os
import sys

_libc = ctypes.CDLL(None, use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]

IN_MODIFY = 0x00000002
IN_IGNORED = 0x00008000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# struct inotify_event: int wd; uint32 mask, cookie, len; char name[len].
_HEADER_SIZE = 16
# Enough for many events at once; a read needs room for at least one event with the longest name.
_BUFFER_SIZE = 64 * 1024


class Event:
    __slots__ = ("mask", "name", "wd")

    def __init__(self, wd: int, mask: int, name: str) -> None:
        self.wd = wd
        self.mask = mask
        self.name = name

    def __repr__(self) -> str:
        return f"Event(wd={self.wd}, mask={self.mask:#x}, name={self.name!r})"


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def init(flags: int = IN_NONBLOCK | IN_CLOEXEC) -> int:
    """A new inotify descriptor; the caller closes it with os.close."""
    return _check(_libc.inotify_init1(flags), "inotify_init1")


def add_watch(fd: int, path: str, mask: int) -> int:
    """Watch path for the events in mask; returns the watch descriptor that events carry."""
    return _check(_libc.inotify_add_watch(fd, os.fsencode(path), mask), f"inotify_add_watch {path}")


def rm_watch(fd: int, wd: int) -> None:
    _check(_libc.inotify_rm_watch(fd, wd), "inotify_rm_watch")


def parse(data: bytes) -> list[Event]:
    """The events in one read(2) of an inotify descriptor."""
    events = []
    offset = 0
    while offset + _HEADER_SIZE <= len(data):
        wd = int.from_bytes(data[offset : offset + 4], sys.byteorder, signed=True)
        mask = int.from_bytes(data[offset + 4 : offset + 8], sys.byteorder)
        name_len = int.from_bytes(data[offset + 12 : offset + 16], sys.byteorder)
        raw_name = data[offset + _HEADER_SIZE : offset + _HEADER_SIZE + name_len]
        events.append(Event(wd, mask, os.fsdecode(raw_name.rstrip(b"\0"))))
        offset += _HEADER_SIZE + name_len
    return events


def read_events(fd: int) -> list[Event]:
    """Every event queued on a non-blocking inotify descriptor; [] when there is none."""
    events: list[Event] = []
    while True:
        try:
            data = os.read(fd, _BUFFER_SIZE)
        except BlockingIOError:
            return events
        if not data:
            return events
        events.extend(parse(data))
