"""The v1 cpuset controller: allowed CPUs and memory nodes, inherited from the parent on creation."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats


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
        pass


def inherit_from_parent(directory: str) -> None:
    """Fill a new v1 cpuset's empty cpus/mems from its parent: with them empty, joining fails with ENOSPC."""
    parent = directory.rsplit("/", 1)[0]
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not fs.read(f"{directory}/{name}").strip():
            fs.write(f"{directory}/{name}", fs.read(f"{parent}/{name}").strip())
