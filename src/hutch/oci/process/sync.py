"""The message channel between the runtime and the container's init: a SOCK_SEQPACKET socketpair."""

from __future__ import annotations

# _socket, not socket: socket.py builds enums for hundreds of constants at import, a cost on every start.
import _socket
import os
import struct

# Messages: a keyword, optionally followed by a space and a payload.
USERNS = b"userns"  # child -> runtime: write my id maps now
MAPPED = b"mapped"  # runtime -> child: id maps written
PID = b"pid"  # child -> runtime: host PID of the container's init
PTY = b"pty"  # init -> runtime: carries the pty master as SCM_RIGHTS
READY = b"ready"  # init -> runtime: set up, waiting to exec
DETACH = b"detach"  # runtime -> init: created; wait on the start socket from now on
ARMED = b"armed"  # init -> runtime and back: the init dies with the runtime from now on
HOOKS = b"hooks"  # init -> runtime: run the prestart and createRuntime hooks now (before pivot_root)
HOOKED = b"hooked"  # runtime -> init: done; the payload is the state for the init's own hooks
SECCOMP = b"seccomp"  # init or exec process -> runtime: the seccomp notify listener, as SCM_RIGHTS
START = b"start"  # start -> init (over the start socket): exec now
ERROR = b"error"  # init -> runtime: "error <exit code> <message>"
EXEC_FAILED = b"execerr"  # the exec shim -> runtime: "execerr <errno> <argv0>", execve failed
STEP_FAILED = b"failed"  # the exec shim -> runtime: "failed <errno> <what>", cannot <what>

_MAX = 1 << 16  # hook state documents carry the config's annotations


class ChannelClosed(Exception):
    """The other end closed the channel (for the runtime: the init exec'd or died)."""


class Channel:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        return cls(a), cls(b)

    @classmethod
    def connect(cls, path: str) -> Channel:
        """Connect to a container init's start socket (ENOENT/ECONNREFUSED: it is not waiting any more)."""
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        try:
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, kind: bytes, payload: bytes = b"", fds: list[int] | None = None) -> None:
        message = kind + (b" " + payload if payload else b"")
        if fds:
            rights = struct.pack(f"{len(fds)}i", *fds)
            self.sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        else:
            self.sock.send(message)

    def recv(self, want_fds: bool = False) -> tuple[bytes, bytes, list[int]]:
        """Return (kind, payload, fds); raise ChannelClosed at end of stream.

        Descriptors arrive only when `want_fds` is set: any that come unasked are closed at once, so a peer
        can never plant an fd in this process.
        """
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
        if fds and not want_fds:
            close_all(fds)
            fds = []
        if not data:
            close_all(fds)
            raise ChannelClosed()
        kind, _, payload = data.partition(b" ")
        return kind, payload, fds

    def expect(self, kind: bytes) -> bytes:
        got, payload, _fds = self.recv()
        error = RemoteError.from_message(got, payload)
        if error is not None:
            raise error
        if got != kind:
            raise RemoteError(f"protocol error: expected {kind.decode()}, got {got.decode()}", 125)
        return payload

    def send_error(self, exit_code: int, message: str) -> None:
        try:
            self.send(ERROR, f"{exit_code} {message}".encode(errors="replace")[:_MAX - 16])
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


def listen(path: str) -> _socket.socket:
    """The start socket a created container's init waits on; only root may connect (the directory is 0700)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        sock.bind(path)
        sock.listen(4)
    except BaseException:
        sock.close()
        raise
    return sock


def socket_from_fd(fd: int) -> _socket.socket:
    return _socket.socket(fileno=fd)


def accept(listener: _socket.socket) -> Channel:
    """Wait for a connection to the start socket. Only root reaches it: it sits in a 0700 directory (a peer
    credential check cannot help here: inside a user namespace the host's root shows as the overflow uid)."""
    while True:
        try:
            fd, _addr = listener._accept()  # accept4 with SOCK_CLOEXEC; _socket has no accept()
        except InterruptedError:
            continue
        return Channel(_socket.socket(fileno=fd))


def close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class RemoteError(Exception):
    """An error reported by the container's init."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def parse(cls, payload: bytes) -> RemoteError:
        code, _, message = payload.decode(errors="replace").partition(" ")
        return cls(message, int(code) if code.isdigit() else 125)

    @classmethod
    def exec_failed(cls, payload: bytes) -> RemoteError:
        """The exec shim's report: with docker's exit codes, 127 for a missing program, else 126."""
        number, _, arg0 = payload.decode(errors="replace").partition(" ")
        errno = int(number) if number.isdigit() else 0
        return cls(f"cannot execute {arg0}: {os.strerror(errno)}", 127 if errno == 2 else 126)

    @classmethod
    def from_message(cls, kind: bytes, payload: bytes) -> RemoteError | None:
        """The error an ERROR or EXEC_FAILED message carries; None for other messages."""
        if kind == ERROR:
            return cls.parse(payload)
        if kind == EXEC_FAILED:
            return cls.exec_failed(payload)
        if kind == STEP_FAILED:
            number, _, what = payload.decode(errors="replace").partition(" ")
            return cls(f"cannot {what}: {os.strerror(int(number) if number.isdigit() else 0)}", 125)
        return None
