"""`start`: release a created container's init to exec the user's program, and learn whether execve worked."""

from __future__ import annotations

from hutch.oci.container.container import CREATED, CREATING, STOPPED, Container
from hutch.oci.container.state import SOCKET_FILE
from hutch.oci.errors import ContainerError
from hutch.oci.process import sync


def start(root: str, container_id: str) -> None:
    with Container.open(root, container_id) as container:
        status = container.status()
        if status == STOPPED:
            raise ContainerError("cannot start a container that has stopped")
        if status == CREATING:
            raise ContainerError("cannot start a container that is still being created")
        if status != CREATED:
            raise ContainerError("cannot start an already running container")
        release(container)


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
            kind, payload, _fds = chan.recv()
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


def _unlink(dir_fd: int) -> None:
    import os

    try:
        os.unlink(SOCKET_FILE, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
