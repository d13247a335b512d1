"""Bringing a network interface up with the SIOCSIFFLAGS ioctl (loopback in a new netns)."""

from __future__ import annotations

# _socket: the socket module's enum set-up is a start-path cost this one ioctl does not need.
import _socket
import fcntl
import struct

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def link_up(name: str = "lo") -> None:
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        request = struct.pack("16sh", name.encode(), 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sh", name.encode(), flags | _IFF_UP))
    finally:
        sock.close()
