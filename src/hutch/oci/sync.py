"""The message channel between the runtime and the container's init: a SOCK_SEQPACKET socketpair."""

from __future__ import annotations

# _socket, not socket: socket.py builds enums for hundreds of constants at import, a cost on every start.
import _socket
import struct

# Messages: a keyword, optionally followed by a space and a payload.
USERNS = b"userns"  # child -> runtime: write my id maps now
MAPPED = b"mapped"  # runtime -> child: id maps written
PID = b"pid"  # child -> runtime: host PID of the container's init
PTY = b"pty"  # init -> runtime: carries the pty master as SCM_RIGHTS
READY = b"ready"  # init -> runtime: set up, waiting to exec
START = b"start"  # runtime -> init: exec now
ERROR = b"error"  # init -> runtime: "error <exit code> <message>"

_MAX = 8192


class ChannelClosed(Exception):
    """The other end closed the channel (for the runtime: the init exec'd or died)."""


class Channel:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, kind: bytes, payload: bytes = b"", fds: list[int] | None = None) -> None:
        message = kind + (b" " + payload if payload else b"")
        if fds:
            rights = struct.pack(f"{len(fds)}i", *fds)
            self.sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        else:
            self.sock.send(message)

    def recv(self) -> tuple[bytes, bytes, list[int]]:
        """Return (kind, payload, fds); raise ChannelClosed at end of stream."""
        while True:
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(_MAX, _socket.CMSG_SPACE(4 * 4),
                                                                   _socket.MSG_CMSG_CLOEXEC)
                break
            except InterruptedError:
                continue
        fds: list[int] = []
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % 4
                fds += struct.unpack(f"{usable // 4}i", payload[:usable])
        if not data:
            raise ChannelClosed()
        kind, _, payload = data.partition(b" ")
        return kind, payload, fds

    def expect(self, kind: bytes) -> tuple[bytes, list[int]]:
        got, payload, fds = self.recv()
        if got == ERROR:
            raise RemoteError.parse(payload)
        if got != kind:
            raise RemoteError(f"protocol error: expected {kind.decode()}, got {got.decode()}", 125)
        return payload, fds

    def send_error(self, exit_code: int, message: str) -> None:
        try:
            self.send(ERROR, f"{exit_code} {message}".encode(errors="replace")[:_MAX - 16])
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


class RemoteError(Exception):
    """An error reported by the container's init."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def parse(cls, payload: bytes) -> RemoteError:
        code, _, message = payload.decode(errors="replace").partition(" ")
        return cls(message, int(code) if code.isdigit() else 125)
