"""The --console-socket protocol: the pty master sent over a Unix socket with SCM_RIGHTS, as runc sends it."""

from __future__ import annotations

# _socket, not socket: socket.py builds enums for hundreds of constants at import, a cost on every start.
import _socket
import os
import struct

from hutch.oci.errors import ContainerError


def send_pty(socket_path: str, master: int) -> None:
    """Connect to the caller's socket and send the master; the message text is the pty's name, as runc's."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(socket_path)
        name = _pty_name(master).encode()
        sock.sendmsg([name], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", master))])
    except OSError as exc:
        raise ContainerError(f"cannot send the console to {socket_path}: {exc.strerror or exc}") from None
    finally:
        sock.close()


def _pty_name(master: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{master}")
    except OSError:
        return "/dev/ptmx"
