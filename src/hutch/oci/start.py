"""`start`: tell a created container's init to exec, and learn whether the exec succeeded."""

from __future__ import annotations

from hutch.oci import sync
from hutch.oci.create import Created
from hutch.oci.errors import ContainerError


def start(created: Created) -> None:
    """Release the init; returns once the user's program runs (the channel closes on execve)."""
    try:
        created.channel.send(sync.START)
        kind, payload, _fds = created.channel.recv()
    except sync.ChannelClosed:
        return
    except OSError as exc:
        raise ContainerError(f"cannot start the container: {exc.strerror}") from None
    if kind == sync.ERROR:
        error = sync.RemoteError.parse(payload)
        created.process.wait()
        raise ContainerError(str(error), error.exit_code)
    raise ContainerError(f"protocol error: unexpected {kind.decode()} from the container's init")
