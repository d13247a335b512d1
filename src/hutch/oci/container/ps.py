"""`ps`: the processes of a container — its cgroup's PIDs, or the `ps` tool's table filtered to them."""

from __future__ import annotations

import subprocess

from hutch.oci.container.container import Container
from hutch.oci.errors import ContainerError


def pids(root: str, container_id: str) -> list[int]:
    with Container.open(root, container_id, lock=False) as container:
        container.require_state()
        return container.manager().subtree_pids()


def table(root: str, container_id: str, ps_args: list[str]) -> str:
    """`ps ARGS` (default -ef) keeping the header and the rows whose PID column is one of the container's."""
    wanted = {str(pid) for pid in pids(root, container_id)}
    try:
        out = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ContainerError(f"cannot run ps: {exc.strerror}") from None
    if out.returncode != 0:
        reason = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[0]
        raise ContainerError(f"ps {' '.join(ps_args)} failed: {reason}")
    lines = out.stdout.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise ContainerError("couldn't find PID field in ps output")
    column = header.index("PID")
    kept = [line for line in lines[1:] if len(line.split()) > column and line.split()[column] in wanted]
    return "\n".join([lines[0], *kept]) + "\n"
