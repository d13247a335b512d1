"""The OCI resource fields cgroup v2 cannot honour, refused before anything is written."""

from __future__ import annotations

from hutch.cgroups.resources import CgroupError, Resources


def refuse_v1_only(res: Resources) -> None:
    """A limit v2 has no file for is an error, not a silent no-op (runc 1.1 ignores these; hutch says so).

    Kernel memory limits and the OOM-killer switch stay ignored, as runc does: v2 accounts kernel memory
    within memory.max, and configs written for v1 commonly carry them.
    """
    if res.memory_swappiness not in (None, -1):
        raise CgroupError("memory swappiness cannot be set on cgroup v2: it has no per-cgroup swappiness")
    if res.memory_use_hierarchy is False:
        raise CgroupError("memory use_hierarchy=false cannot be set on cgroup v2: it is always hierarchical")
    if res.cpu_rt_runtime is not None or res.cpu_rt_period is not None:
        raise CgroupError("a real-time CPU runtime or period cannot be set on cgroup v2: it has no RT budget")
    for name, wanted in (("net_cls", res.wants_net_cls()), ("net_prio", res.wants_net_prio())):
        if wanted:
            raise CgroupError(f"the {name} controller exists only in cgroup v1, not on this cgroup v2 host")
