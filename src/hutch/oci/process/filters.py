"""The container's seccomp filter: built while the host's root is still the root, loaded last, and the
notify listener passed on to the spec's listenerPath with the container's state."""

from __future__ import annotations

# _socket, not socket: socket.py builds enums for hundreds of constants at import, a cost on every start.
import _socket
import os
import struct

from hutch.oci.errors import ContainerError, describe, step
from hutch.oci.process import sync

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.oci.config.linux import Seccomp


class PreparedFilter:
    """A compiled filter, ready to load with nothing left to import or read from disk."""

    def __init__(self, model: Seccomp) -> None:
        from hutch.linux import seccomp
        from hutch.oci.config.seccomp import to_profile

        self._seccomp = seccomp
        with step("compile the seccomp filter"):
            try:
                self._filter = seccomp.build(to_profile(model))
                seccomp.export_bpf(self._filter)  # the program, now: load() only installs it
            except seccomp.SeccompError as exc:
                raise ContainerError(str(exc)) from None

    def load(self, chan: sync.Channel) -> None:
        """Install the filter on this process; a notify listener goes to the runtime over `chan`."""
        try:
            listener = self._seccomp.load(self._filter)
        except self._seccomp.SeccompError as exc:
            raise ContainerError(str(exc)) from None
        if listener is not None:
            try:
                chan.send(sync.SECCOMP, fds=[listener])
            finally:
                os.close(listener)


def forward_listener(model: Seccomp, listener: int, pid: int, state: dict) -> None:
    """Send the notify fd to listenerPath as the spec's container process state: one JSON document with the
    descriptor, on a connection of its own."""
    from hutch import jsonlite

    doc = {"ociVersion": state.get("ociVersion", ""), "fds": ["seccompFd"], "pid": pid,
           "metadata": model.listener_metadata or "", "state": state}
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(10)
        sock.connect(model.listener_path)
        rights = struct.pack("i", listener)
        sock.sendmsg([jsonlite.dumps(doc).encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
    except OSError as exc:
        raise ContainerError(f"cannot send the seccomp listener to {model.listener_path}: {describe(exc)}") \
            from None
    finally:
        sock.close()
