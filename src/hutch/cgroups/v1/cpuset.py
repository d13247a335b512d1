"""The v1 cpuset controller: allowed CPUs and memory nodes (inherited from the parent on creation), flags."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats

# The v1 flag files runc's `events` reports, in its order.
_FLAGS = (
    "cpu_exclusive",
    "mem_hardwall",
    "mem_exclusive",
    "memory_migrate",
    "memory_spread_page",
    "memory_spread_slab",
    "memory_pressure",
    "sched_load_balance",
    "sched_relax_domain_level",
)


class Cpuset:
    name = "cpuset"

    def requested(self, res: Resources) -> bool:
        return res.wants_cpuset()

    def apply(self, directory: str, res: Resources) -> None:
        # mems before cpus matches runc; either order is valid as both are subsets of the parent's.
        if res.cpuset_mems is not None:
            fs.write(f"{directory}/cpuset.mems", res.cpuset_mems)
        if res.cpuset_cpus is not None:
            fs.write(f"{directory}/cpuset.cpus", res.cpuset_cpus)

    def stats(self, directory: str, out: Stats) -> None:
        if out.detail is None:
            return
        from hutch.cgroups.detail import int_or_none, parse_id_list

        detail = out.detail
        detail.cpuset_cpus = parse_id_list(fs.read_or_none(f"{directory}/cpuset.cpus") or "")
        detail.cpuset_mems = parse_id_list(fs.read_or_none(f"{directory}/cpuset.mems") or "")
        for flag in _FLAGS:
            value = int_or_none(fs.read_or_none(f"{directory}/cpuset.{flag}"))
            if value is not None:
                detail.cpuset_flags[flag] = value


def inherit_from_parent(directory: str) -> None:
    """Fill a new v1 cpuset's empty cpus/mems from its parent: with them empty, joining fails with ENOSPC."""
    parent = directory.rsplit("/", 1)[0]
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not fs.read(f"{directory}/{name}").strip():
            fs.write(f"{directory}/{name}", fs.read(f"{parent}/{name}").strip())
