"""The v2 cpuset controller: cpuset.cpus and cpuset.mems (empty means "the parent's")."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats


class Cpuset:
    name = "cpuset"

    def requested(self, res: Resources) -> bool:
        return res.cpuset_cpus is not None or res.cpuset_mems is not None

    def apply(self, directory: str, res: Resources) -> None:
        if res.cpuset_mems is not None:
            fs.write(f"{directory}/cpuset.mems", res.cpuset_mems)
        if res.cpuset_cpus is not None:
            fs.write(f"{directory}/cpuset.cpus", res.cpuset_cpus)

    def stats(self, directory: str, out: Stats) -> None:
        pass
