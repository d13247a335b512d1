"""The container process's last steps: sealed imports, pty, rlimits, cgroup join, identity, caps, exec."""

from __future__ import annotations

import os
import resource
import struct
import sys

from hutch.linux import caps, pty, sched
from hutch.linux import syscalls as sc
from hutch.oci.config.process import cpu_list
from hutch.oci.config.spec import ConsoleSize, Process
from hutch.oci.errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, ContainerError, describe, step
from hutch.oci.process import sync

_RLIMITS = {name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")}


class _RefuseImports:
    """The only entry of sys.meta_path once a process has entered a container's filesystem."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        raise ImportError(f"hutch: refusing to import {name} inside the container's filesystem")


def seal_imports() -> None:
    """Close the import system: after pivot_root or setns into a container, a module not yet imported would be
    read from the container's root filesystem and run with the runtime's privileges. A missed import now fails
    loudly instead (modules already in sys.modules keep working)."""
    sys.meta_path[:] = [_RefuseImports]
    sys.path_hooks.clear()
    sys.path_importer_cache.clear()
    sys.path.clear()
    linecache = sys.modules.get("linecache")
    if linecache is not None:
        # A traceback would read source lines from the container's files by their host paths.
        linecache.updatecache = lambda *_args, **_kw: []  # type: ignore[attr-defined]
        linecache.cache.clear()  # type: ignore[attr-defined]


def preload_traceback() -> None:
    """--debug prints tracebacks from inside the container: import what that needs while the root is ours."""
    import linecache  # noqa: F401
    import traceback  # noqa: F401


def print_traceback(exc: BaseException) -> None:
    traceback = sys.modules.get("traceback")
    if traceback is not None:
        traceback.print_exception(exc, file=sys.stderr)
        sys.stderr.flush()


def change_directory(cwd: str) -> None:
    with step(f"change to the working directory {cwd}"):
        try:
            os.chdir(cwd)
        except FileNotFoundError:
            os.makedirs(cwd, 0o755)  # as docker does for a missing WORKDIR
            os.chdir(cwd)
    try:
        os.getcwd()
    except FileNotFoundError:
        # getcwd fails for a directory that / cannot reach: a leaked descriptor's /proc/self/fd/N led out of
        # the root (CVE-2024-21626); refuse it, as runc does since 1.1.12.
        raise ContainerError(f"the working directory {cwd} is outside the container's root") from None


def close_fds_for_exec(preserve: int) -> None:
    """Every descriptor above stdio closes on execve, but the N the caller asked to pass on (3 .. 3+N-1)."""
    for fd in range(3, 3 + preserve):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
    sc.close_range(3 + preserve, flags=sc.CLOSE_RANGE_CLOEXEC)


def apply_rlimits(process: Process) -> None:
    for limit in process.rlimits:
        number = _RLIMITS.get(limit.type)
        if number is None:
            raise ContainerError(f"unknown rlimit {limit.type}")
        with step(f"set {limit.type} to {limit.soft}:{limit.hard}"):
            try:
                resource.setrlimit(number, (_rlim(limit.soft), _rlim(limit.hard)))
            except ValueError as exc:  # how the resource module reports EINVAL and EPERM
                raise ContainerError(f"cannot set {limit.type} to {limit.soft}:{limit.hard}: {exc}") from None


def apply_scheduling(process: Process) -> None:
    """process.scheduler and process.ioPriority; before the identity, which may drop CAP_SYS_NICE."""
    policy = process.scheduler
    if policy is not None:
        with step(f"set the scheduling policy {policy.policy}"):
            sched.sched_setattr(policy.policy, nice=policy.nice or 0, priority=policy.priority or 0,
                                flags=policy.flags, runtime=policy.runtime or 0,
                                deadline=policy.deadline or 0, period=policy.period or 0)
    io = process.io_priority
    if io is not None:
        with step(f"set the I/O priority {io.class_} {io.priority}"):
            sched.ioprio_set(io.class_, io.priority)


def set_cpu_affinity(cpus: str | None, when: str) -> None:
    """One half of process.execCPUAffinity: `initial` before the cgroup join, `final` after it."""
    if cpus is not None:
        with step(f"set the {when} CPU affinity {cpus}"):
            os.sched_setaffinity(0, cpu_list(cpus))


def _rlim(value: int) -> int:
    return resource.RLIM_INFINITY if value < 0 or value >= 2**64 - 1 else value


def find_executable(name: str, env: list[str], cwd: str) -> str:
    """Resolve argv[0] the way execvp would, in the container's PATH; errors carry 126/127."""
    if "/" in name:
        path = name if name.startswith("/") else os.path.join(cwd, name)
        _check_executable(path, name)
        return path
    search = next((e[5:] for e in env if e.startswith("PATH=")),
                  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    denied = None
    for directory in search.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = candidate
    if denied:
        raise ContainerError(f"cannot execute {name}: Permission denied", EXIT_CANNOT_EXEC)
    raise ContainerError(f"{name}: executable file not found in $PATH", EXIT_NOT_FOUND)


def _check_executable(path: str, name: str) -> None:
    if not os.path.exists(path):
        raise ContainerError(f"{name}: no such file or directory", EXIT_NOT_FOUND)
    if os.path.isdir(path):
        raise ContainerError(f"cannot execute {name}: Is a directory", EXIT_CANNOT_EXEC)
    if not os.access(path, os.X_OK):
        raise ContainerError(f"cannot execute {name}: Permission denied", EXIT_CANNOT_EXEC)


def join_cgroup(fds: list[int]) -> None:
    with step("join the container's cgroup"):
        for fd in fds:
            os.write(fd, b"0")


def set_identity(process: Process) -> None:
    """Switch to the process's user while keeping the capabilities the spec asks for."""
    spec_caps = process.capabilities
    if spec_caps is not None:
        with step("drop capabilities from the bounding set"):
            caps.drop_bounding(caps.mask(spec_caps.bounding))
    user = process.user
    with step(f"switch to user {user.uid}:{user.gid}"):
        sc.prctl(sc.PR_SET_KEEPCAPS, 1)
        os.setgroups(user.additional_gids)
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    if spec_caps is not None:
        with step("set capabilities"):
            permitted, inheritable = caps.mask(spec_caps.permitted), caps.mask(spec_caps.inheritable)
            caps.capset(caps.mask(spec_caps.effective), permitted, inheritable)
            if spec_caps.ambient:
                # The kernel raises an ambient capability only if it is permitted and inheritable; runc skips
                # the others (`runc spec` asks for ambient ones it leaves out of inheritable), and so do we.
                caps.set_ambient(caps.mask(spec_caps.ambient) & permitted & inheritable)
    if user.umask is not None:
        os.umask(user.umask)


def execute(path: str, args: list[str], env: dict[str, str]) -> None:
    """execve, or raise with docker's exit code for why it failed."""
    try:
        os.execve(path, args, env)
    except OSError as exc:
        code = EXIT_NOT_FOUND if isinstance(exc, FileNotFoundError) else EXIT_CANNOT_EXEC
        raise ContainerError(f"cannot execute {args[0]}: {describe(exc)}", code) from exc


def environ(env: list[str]) -> dict[str, str]:
    out = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def open_terminal(chan: sync.Channel, send_name: bool = False, size: ConsoleSize | None = None) -> int:
    """A pty from the container's own devpts (its /dev/ptmx): the master goes to the runtime (with the slave's
    name if asked), the slave is returned. `size` is the spec's process.consoleSize."""
    with step("allocate a pseudo-terminal"):
        master, slave = pty.open_pair("/dev/ptmx")
        if size is not None:
            pty.set_winsize(slave, struct.pack("HHHH", size.height, size.width, 0, 0))
        chan.send(sync.PTY, os.ttyname(slave).encode() if send_name else b"", fds=[master])
        os.close(master)
    return slave


def take_terminal(slave: int) -> None:
    """Make the pty slave the controlling terminal (the caller leads a new session) and stdin/out/err."""
    with step("set up the terminal"):
        pty.make_controlling(slave)
        for target in (0, 1, 2):
            os.dup2(slave, target)
        if slave > 2:
            os.close(slave)
