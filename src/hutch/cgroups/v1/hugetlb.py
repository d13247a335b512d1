"""The v1 hugetlb controller: usage, peak and failures per huge page size (hutch sets no limits)."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats


class Hugetlb:
    name = "hugetlb"

    def requested(self, res: Resources) -> bool:
        return False

    def apply(self, directory: str, res: Resources) -> None:
        pass

    def stats(self, directory: str, out: Stats) -> None:
        if out.detail is None:
            return
        from hutch.cgroups.detail import HugetlbEntry, hugetlb_sizes

        for size in hugetlb_sizes(directory, "usage_in_bytes"):
            prefix = f"{directory}/hugetlb.{size}"
            out.detail.hugetlb[size] = HugetlbEntry(
                usage=fs.read_int_or_none(f"{prefix}.usage_in_bytes"),
                max_usage=fs.read_int_or_none(f"{prefix}.max_usage_in_bytes"),
                failcnt=fs.read_int_or_none(f"{prefix}.failcnt"),
            )
