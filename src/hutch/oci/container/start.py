"""`start`: release a created container's init to exec the user's program, and learn whether execve worked."""

from __future__ import annotations

from hutch.oci.container.container import CREATED, CREATING, STOPPED, Container
from hutch.oci.container.state import SOCKET_FILE
from hutch.oci.errors import ContainerError
from hutch.oci.process import sync

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def start(root: str, container_id: str, warn: Callable[[str], None] | None = None) -> None:
    with Container.open(root, container_id) as container:
        status = container.status()
        if status == STOPPED:
            raise ContainerError("cannot start a container that has stopped")
        if status == CREATING:
            raise ContainerError("cannot start a container that is still being created")
        if status != CREATED:
            raise ContainerError("cannot start an already running container")
        release(container)
        state = container.require_state()
        poststart = state.hooks("poststart")
        if poststart:
            from hutch.oci.container.container import RUNNING
            from hutch.oci.process.hooks import run_hooks_logged

            run_hooks_logged("poststart", poststart, state.hook_state(RUNNING, state.pid), warn)


def release(container: Container) -> None:
    """Send START over the init's socket; returns once the program runs (the connection closes on execve)."""
    state_dir = container.dir
    try:
        chan = sync.Channel.connect(state_dir.file(SOCKET_FILE))
    except OSError as exc:
        raise ContainerError(f"cannot start the container: {exc.strerror}") from None
    try:
        # Gone from here on, so the container reads as running (or stopped) and no second start gets through.
        _unlink(state_dir.fd)
        try:
            chan.send(sync.START)
            kind, payload = _answer(container, chan)
        except sync.ChannelClosed:
            kind, payload = b"", b""
        except OSError as exc:
            raise ContainerError(f"cannot start the container: {exc.strerror}") from None
    finally:
        chan.close()
    error = sync.RemoteError.from_message(kind, payload)
    if error is not None:
        raise ContainerError(str(error), error.exit_code)
    if kind:
        raise ContainerError(f"protocol error: unexpected {kind.decode()} from the container's init")


def _answer(container: Container, chan: sync.Channel) -> tuple[bytes, bytes]:
    """The init's answer to START; a seccomp listener it sends first (an init that waited in Python, to run
    startContainer hooks, loads its filter after start) goes on to the spec's listenerPath."""
    while True:
        kind, payload, fds = chan.recv(want_fds=True)
        if kind != sync.SECCOMP or not fds:
            sync.close_all(fds)
            return kind, payload
        try:
            _forward_listener(container, fds[0])
        finally:
            sync.close_all(fds)


def _forward_listener(container: Container, listener: int) -> None:
    from hutch import jsonlite
    from hutch.oci.config.linux import Seccomp
    from hutch.oci.process.filters import forward_listener

    state = container.require_state()
    raw = (state.config.get("linux") or {}).get("seccomp")
    if raw:
        model = Seccomp.parse(raw, "linux.seccomp")
        doc = jsonlite.loads(state.hook_state(CREATED, state.pid))
        forward_listener(model, listener, state.pid, doc)


def _unlink(dir_fd: int) -> None:
    import os

    try:
        os.unlink(SOCKET_FILE, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
