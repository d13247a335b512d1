"""The spec's linux.resources in the cgroups layer's terms."""

from __future__ import annotations

from hutch.cgroups import Resources
from hutch.oci import spec


def cgroup_resources(res: spec.Resources) -> Resources:
    return Resources(
        memory_limit=res.memory.limit, memory_reservation=res.memory.reservation,
        memory_swap=res.memory.swap, pids_limit=res.pids_limit, cpu_shares=res.cpu.shares,
        cpu_quota=res.cpu.quota, cpu_period=res.cpu.period, cpuset_cpus=res.cpu.cpus,
        cpuset_mems=res.cpu.mems,
    )
