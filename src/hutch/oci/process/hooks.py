"""Running the config's hooks: each with the container's state on stdin, its args and env, and its timeout.

Used from the runtime (prestart, createRuntime, poststart, poststop) and from the container's init
(createContainer before pivot_root, startContainer after start), so it needs nothing that would be imported
late: posix_spawn, poll and a pidfd.
"""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import fcntl
import os
import select
import time

from hutch.oci.errors import ContainerError, describe
from hutch.oci.process.steps import environ

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from hutch.oci.config.spec import Hook

_F_SETPIPE_SZ = 1031
_OUTPUT_KEPT = 4096  # the end of a failing hook's output, for the error message


class HookError(ContainerError):
    """A hook failed, timed out or could not be run; str() names the hook kind and path."""


def run_hooks(kind: str, hooks: list[Hook], state: bytes) -> None:
    """Run the hooks in order; the first failure raises HookError and the rest do not run."""
    for index, hook in enumerate(hooks):
        run_hook(kind, index, hook, state)


def run_hooks_logged(kind: str, hooks: list[Hook], state: bytes, warn: Callable[[str], None] | None) -> None:
    """Run every hook; a failure is a warning (to `warn`, or stderr) and the next hook runs (poststart,
    poststop: the spec has the lifecycle go on as if the hook had succeeded)."""
    for index, hook in enumerate(hooks):
        try:
            run_hook(kind, index, hook, state)
        except ContainerError as exc:
            if warn is None:
                os.write(2, f"hutch-runtime: warning: {exc}\n".encode(errors="replace"))
            else:
                warn(str(exc))


def run_hook(kind: str, index: int, hook: Hook, state: bytes) -> None:
    name = f"{kind} hook #{index} ({hook.path})"
    stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    try:
        _fill(stdin_w, state)
        os.close(stdin_w)
        stdin_w = -1
        try:
            pid = os.posix_spawn(hook.path, hook.args or [hook.path], environ(hook.env),
                                 file_actions=[(os.POSIX_SPAWN_DUP2, stdin_r, 0),
                                               (os.POSIX_SPAWN_DUP2, out_w, 1),
                                               (os.POSIX_SPAWN_DUP2, out_w, 2)],
                                 setsigdef=(signal.SIGPIPE, signal.SIGINT, signal.SIGTERM))
        except OSError as exc:
            raise HookError(f"{name}: cannot run it: {describe(exc)}") from None
        os.close(out_w)
        out_w = -1
        status, output = _wait(pid, out_r, hook.timeout)
    finally:
        for fd in (stdin_r, stdin_w, out_r, out_w):
            if fd >= 0:
                os.close(fd)
    if status is None:
        raise HookError(f"{name}: timed out after {hook.timeout} s")
    if status != 0:
        detail = output.decode(errors="replace").strip().splitlines()
        said = f": {detail[-1].strip()}" if detail else ""
        if os.WIFSIGNALED(status):
            raise HookError(f"{name}: killed by signal {os.WTERMSIG(status)}{said}")
        raise HookError(f"{name}: exit status {os.WEXITSTATUS(status)}{said}")


def _fill(fd: int, data: bytes) -> None:
    """Put all of `data` into the pipe now: a hook that never reads stdin must not block us."""
    if len(data) > 65536:
        try:
            fcntl.fcntl(fd, _F_SETPIPE_SZ, len(data))
        except OSError as exc:
            raise ContainerError(f"the state is too large for a hook's stdin: {describe(exc)}") from None
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _wait(pid: int, out_fd: int, timeout: int | None) -> tuple[int | None, bytes]:
    """The hook's wait status (None when it timed out and was killed) and the end of its output."""
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(out_fd, select.POLLIN)
        deadline = None if timeout is None else time.monotonic() + timeout
        output = b""
        while True:
            left = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            ready = {fd for fd, _ev in poller.poll(left)}
            if out_fd in ready:
                chunk = os.read(out_fd, 65536)
                if chunk:
                    output = (output + chunk)[-_OUTPUT_KEPT:]
                else:
                    poller.unregister(out_fd)
            if pidfd in ready:
                return os.waitpid(pid, 0)[1], output
            if deadline is not None and time.monotonic() >= deadline:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None, output
    finally:
        os.close(pidfd)
