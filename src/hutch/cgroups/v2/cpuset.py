"""The v2 cpuset controller: v1's files for limits (empty means "the parent's"), effective sets for stats."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Stats
from hutch.cgroups.v1.cpuset import Cpuset as V1Cpuset


class Cpuset(V1Cpuset):
    def stats(self, directory: str, out: Stats) -> None:
        if out.detail is None:
            return
        from hutch.cgroups.detail import parse_id_list

        # cpuset.cpus is usually empty on v2 (inherit): what is in force is the effective set. No flags on v2.
        out.detail.cpuset_cpus = parse_id_list(fs.read_or_none(f"{directory}/cpuset.cpus.effective") or "")
        out.detail.cpuset_mems = parse_id_list(fs.read_or_none(f"{directory}/cpuset.mems.effective") or "")
