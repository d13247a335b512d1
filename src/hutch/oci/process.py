"""The container process's last steps: rlimits, cgroup join, identity, capabilities, execve."""

from __future__ import annotations

import os
import resource

from hutch.linux import caps
from hutch.linux import syscalls as sc
from hutch.oci.errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, ContainerError, describe, step
from hutch.oci.spec import Process

_RLIMITS = {name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")}


def apply_rlimits(process: Process) -> None:
    for limit in process.rlimits:
        number = _RLIMITS.get(limit.type)
        if number is None:
            raise ContainerError(f"unknown rlimit {limit.type}")
        with step(f"set {limit.type} to {limit.soft}:{limit.hard}"):
            resource.setrlimit(number, (_rlim(limit.soft), _rlim(limit.hard)))


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
            caps.capset(caps.mask(spec_caps.effective), caps.mask(spec_caps.permitted),
                        caps.mask(spec_caps.inheritable))
            if spec_caps.ambient:
                caps.set_ambient(caps.mask(spec_caps.ambient))
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
