"""The exec shim: a sealed in-memory copy of a tiny static program that execs the container's program.

A container's init and every exec'd process become the shim (shim/execshim.c) right before the user's
program runs, so that no process of the container runs the host's Python interpreter when it calls execve
or while it waits for `start`: "#!/proc/self/exe" then names the shim's sealed memfd, and /proc/PID/exe of
a waiting init is that memfd, which no one can write to (CVE-2019-5736). Machines without a shim build fall
back to a direct execve from Python (`available()` says which).
"""

from __future__ import annotations

import fcntl
import os

_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
SHIM_NAME = "hutch-init"  # argv[0], what ps shows for a created container's init


def _program() -> bytes | None:
    from hutch.linux.execshim_blob import PROGRAMS

    text = PROGRAMS.get(os.uname().machine)
    if text is None:
        return None
    import binascii

    return binascii.a2b_base64(text)


_PROGRAM = _program()  # decoded at import: the init imports this before it changes its root


def available() -> bool:
    return _PROGRAM is not None


def sealed_fd() -> int:
    """A close-on-exec memfd holding the shim, sealed against every change."""
    assert _PROGRAM is not None
    fd = os.memfd_create(SHIM_NAME, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(_PROGRAM)
        while view:
            view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def execute(shim_fd: int, path: str, args: list[str], env: dict[str, str], *, listen_fd: int | None = None,
            report_fd: int | None = None, fork: bool = False, tty_fd: int | None = None,
            join_fds: list[int] | None = None) -> None:
    """Become the shim (see shim/execshim.c): it waits for "start" on `listen_fd` if given; with `fork`, it
    forks, reports "pid N" on `report_fd` and goes on in the child, in a new session, with `tty_fd` as its
    terminal and the cgroups of `join_fds` joined; then it execs `path`. A failure comes back on the start
    connection or `report_fd` as "failed ERRNO WHAT" or "execerr ERRNO ARG0". Returns only by raising."""
    passed = [fd for fd in (listen_fd, report_fd, tty_fd, *(join_fds or ())) if fd is not None]
    for fd in passed:
        os.set_inheritable(fd, True)  # the shim closes them, or marks them close-on-exec, before the program
    joins = ",".join(map(str, join_fds)) if join_fds else "-"
    argv = [SHIM_NAME, _fd_arg(listen_fd), _fd_arg(report_fd), "fork" if fork else "-", _fd_arg(tty_fd),
            joins, path, *args]
    os.execve(shim_fd, argv, env)  # fexecve: execveat(fd, "", AT_EMPTY_PATH), no path lookup


def _fd_arg(fd: int | None) -> str:
    return "-" if fd is None else str(fd)
