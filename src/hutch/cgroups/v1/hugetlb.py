"""The v1 hugetlb controller: limits, usage, peak and failures per huge page size."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats


def write_limits(directory: str, res: Resources, suffix: str) -> None:
    """hugetlb.SIZE.SUFFIX for each limit, and the reservation limit (Linux 5.7+) to the same value, as runc.

    The reservation limit also counts pages reserved at mmap time, so a task fails at mmap rather than being
    killed by SIGBUS at fault time when it goes over.
    """
    for entry in res.hugepage_limits or []:
        size = entry.page_size
        path = f"{directory}/hugetlb.{size}.{suffix}"
        # A size with "/" or ".." in it must not reach the path; the kernel's names are like "2MB".
        if not (size[:-2].isdigit() and size[-2:] in ("KB", "MB", "GB")) or not fs.exists(path):
            from hutch.cgroups.detail import hugetlb_sizes

            known = ", ".join(hugetlb_sizes(directory, suffix)) or "none"
            raise CgroupError(f"unsupported huge page size {size!r}: {directory} has {known}")
        fs.write(path, entry.limit)
        reserved = f"{directory}/hugetlb.{size}.rsvd.{suffix}"
        if fs.exists(reserved):
            fs.write(reserved, entry.limit)


class Hugetlb:
    name = "hugetlb"

    def requested(self, res: Resources) -> bool:
        return res.wants_hugetlb()

    def apply(self, directory: str, res: Resources) -> None:
        write_limits(directory, res, "limit_in_bytes")

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
