"""rtnetlink over a raw socket: moving a network interface into another process's network namespace."""

from __future__ import annotations

import _socket
import os
import struct

_NETLINK_ROUTE = 0
_RTM_NEWLINK = 16
_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_NLMSG_ERROR = 2
_IFLA_IFNAME = 3
_IFLA_NET_NS_PID = 19
_AF_UNSPEC = 0


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("HH", length, kind) + payload + b"\0" * (-length % 4)


def move_link(name: str, pid: int, new_name: str | None = None) -> None:
    """Move interface `name` into the network namespace of `pid`, renamed to `new_name` there if given."""
    index = _socket.if_nametoindex(name)
    body = struct.pack("BBHiII", _AF_UNSPEC, 0, 0, index, 0, 0)  # struct ifinfomsg
    body += _attr(_IFLA_NET_NS_PID, struct.pack("I", pid))
    if new_name and new_name != name:
        body += _attr(_IFLA_IFNAME, new_name.encode() + b"\0")
    header = struct.pack("IHHII", 16 + len(body), _RTM_NEWLINK, _NLM_F_REQUEST | _NLM_F_ACK, 1, 0)
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, _NETLINK_ROUTE)
    try:
        sock.bind((0, 0))
        sock.send(header + body)
        reply = sock.recv(65536)
    finally:
        sock.close()
    _check_ack(reply)


def _check_ack(reply: bytes) -> None:
    if len(reply) < 20:
        raise OSError(5, "short netlink reply")
    _length, kind = struct.unpack_from("IH", reply)
    if kind == _NLMSG_ERROR:
        (error,) = struct.unpack_from("i", reply, 16)
        if error < 0:
            raise OSError(-error, os.strerror(-error))
