"""Pseudo-terminal helpers: a pty pair from a given devpts, controlling tty, window size."""

from __future__ import annotations

import fcntl
import os
import struct
import termios

_TIOCSPTLCK = 0x40045431
_TIOCGPTPEER = 0x5441


def open_pair(ptmx: str = "/dev/ptmx") -> tuple[int, int]:
    """Open a (master, slave) pair from the devpts instance behind `ptmx`."""
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        # TIOCGPTPEER opens the peer through the master, never by a path an attacker could swap.
        slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        os.close(master)
        raise
    return master, slave


def make_controlling(fd: int) -> None:
    """Make the terminal `fd` the controlling terminal of the caller, which must lead a new session."""
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def get_winsize(fd: int) -> bytes:
    return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)


def set_winsize(fd: int, winsize: bytes) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, winsize)
