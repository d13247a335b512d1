"""The Python API: `hutch.run(...)` runs a container in a child `hutch` process and returns a Result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class HutchError(RuntimeError):
    """hutch could not run the container (bad input, setup failure); str() is hutch's one-line message."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Result:
    exit_code: int
    process_exit_code: int | None
    signal: int | None
    oom_killed: bool
    timed_out: bool
    memory_peak_bytes: int | None
    memory_limit_bytes: int | None
    cpu_user_seconds: float | None
    cpu_system_seconds: float | None
    wall_seconds: float
    stdout: bytes | None = None
    stderr: bytes | None = None


def run(argv: Sequence[str], *, rootfs: str | None = None, memory: int | str | None = None,
        memory_swap: int | str | None = None, pids: int | None = None, cpus: float | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None, user: str | int | None = None,
        hostname: str | None = None, network: bool = False, read_only: bool = False,
        timeout: float | None = None, input: bytes | None = None, capture_output: bool = False) -> Result:
    """Run argv in a new container and wait for it; a timeout kills the whole container."""
    command = _command(argv, rootfs=rootfs, memory=memory, memory_swap=memory_swap, pids=pids, cpus=cpus,
                       env=env, cwd=cwd, user=user, hostname=hostname, network=network,
                       read_only=read_only, timeout=timeout, interactive=input is not None)
    report_r, report_w = os.pipe()
    try:
        command[4:4] = ["--report", f"/dev/fd/{report_w}"]
        proc = subprocess.Popen(
            command, pass_fds=(report_w,),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_output else None,
            stderr=subprocess.PIPE,
        )
        os.close(report_w)
        report_w = -1
        stdout, stderr = proc.communicate(input)
        with os.fdopen(report_r, "rb") as f:
            report_r = -1
            raw = f.read()
    finally:
        for fd in (report_r, report_w):
            if fd >= 0:
                os.close(fd)
    if not raw:
        message = stderr.decode(errors="replace").strip().splitlines()
        text = message[-1] if message else f"hutch exited with {proc.returncode}"
        raise HutchError(text.removeprefix("hutch: "), proc.returncode)
    if not capture_output:
        sys.stderr.buffer.write(stderr)
        sys.stderr.flush()
        stderr = None
    fields = json.loads(raw)
    return Result(**{k: fields.get(k) for k in Result.__dataclass_fields__ if k not in ("stdout", "stderr")},
                  stdout=stdout, stderr=stderr)


def _command(argv: Sequence[str], *, rootfs: str | None, memory: int | str | None,
             memory_swap: int | str | None, pids: int | None, cpus: float | None,
             env: Mapping[str, str] | None, cwd: str | None, user: str | int | None, hostname: str | None,
             network: bool, read_only: bool, timeout: float | None, interactive: bool) -> list[str]:
    if isinstance(argv, str | bytes):
        raise TypeError("argv must be a sequence of strings, not a string")
    options: list[str] = []
    # The host's own root (read-only) unless a root filesystem is given.
    pairs = (("--rootfs", rootfs or "/"), ("--memory", memory), ("--memory-swap", memory_swap),
             ("--pids-limit", pids), ("--cpus", cpus), ("--workdir", cwd), ("--user", user),
             ("--hostname", hostname), ("--timeout", timeout))
    for flag, value in pairs:
        if value is not None:
            options += [flag, str(value)]
    for key, value in (env or {}).items():
        options += ["--env", f"{key}={value}"]
    if network:
        options += ["--network", "host"]
    if read_only:
        options.append("--read-only")
    if interactive:
        options.append("--interactive")
    return [sys.executable, "-m", "hutch", "run", *options, "--", *argv]
