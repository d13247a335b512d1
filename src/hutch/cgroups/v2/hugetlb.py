"""The v2 hugetlb controller: limits (hugetlb.SIZE.max), usage and failures per huge page size."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats
from hutch.cgroups.v1.hugetlb import write_limits


class Hugetlb:
    name = "hugetlb"

    def requested(self, res: Resources) -> bool:
        return res.wants_hugetlb()

    def apply(self, directory: str, res: Resources) -> None:
        write_limits(directory, res, "max")

    def stats(self, directory: str, out: Stats) -> None:
        if out.detail is None:
            return
        from hutch.cgroups.detail import HugetlbEntry, hugetlb_sizes, int_or_none

        for size in hugetlb_sizes(directory, "current"):
            prefix = f"{directory}/hugetlb.{size}"
            # "max" in hugetlb.SIZE.events: allocations refused by the limit, v1's failcnt. v2 keeps no peak.
            failures = int_or_none(fs.read_keyed(f"{prefix}.events").get("max"))
            out.detail.hugetlb[size] = HugetlbEntry(
                usage=fs.read_int_or_none(f"{prefix}.current"), failcnt=failures
            )
