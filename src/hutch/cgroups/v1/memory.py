"""The v1 memory controller: limit, soft limit, memory+swap limit, usage and OOM kills, memory.stat."""

from __future__ import annotations

import os

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.detail import MemoryEntry, StatsDetail

# The kernel reports "no limit" as PAGE_COUNTER_MAX pages, e.g. 9223372036854771712; anything this big is it.
_UNLIMITED_THRESHOLD = 1 << 62


def limit_or_none(value: int | None) -> int | None:
    return None if value is None or value >= _UNLIMITED_THRESHOLD else value


def _swap_to_write(res: Resources, memsw_file: str) -> int | None:
    swap = res.memory_swap
    # As runc: "memory unlimited" with swap unset means both unlimited, else memsw would cap memory.
    if swap is None and res.memory_limit == -1:
        swap = -1
    if swap is not None and not os.path.exists(memsw_file):
        # Kernel without swap accounting: there is nothing to limit.
        return None
    return swap


class Memory:
    name = "memory"

    def requested(self, res: Resources) -> bool:
        return res.wants_memory()

    def apply(self, directory: str, res: Resources) -> None:
        limit_file = f"{directory}/memory.limit_in_bytes"
        memsw_file = f"{directory}/memory.memsw.limit_in_bytes"
        swap = _swap_to_write(res, memsw_file)
        if res.memory_limit is not None and swap is not None:
            self._write_limit_and_swap(limit_file, memsw_file, res.memory_limit, swap)
        elif res.memory_limit is not None:
            fs.write(limit_file, res.memory_limit)
        elif swap is not None:
            fs.write(memsw_file, swap)
        if res.memory_reservation is not None:
            fs.write(f"{directory}/memory.soft_limit_in_bytes", res.memory_reservation)

    @staticmethod
    def _write_limit_and_swap(limit_file: str, memsw_file: str, limit: int, swap: int) -> None:
        # The kernel insists on limit <= memsw at every moment, so the order of the two writes depends on
        # whether the new memsw is above the current limit (grow memsw first) or not (shrink limit first).
        current_limit = int(fs.read(limit_file))
        if swap == -1 or current_limit < swap:
            fs.write(memsw_file, swap)
            fs.write(limit_file, limit)
        else:
            fs.write(limit_file, limit)
            fs.write(memsw_file, swap)

    def stats(self, directory: str, out: Stats) -> None:
        out.memory_usage = fs.read_int_or_none(f"{directory}/memory.usage_in_bytes")
        out.memory_peak = fs.read_int_or_none(f"{directory}/memory.max_usage_in_bytes")
        out.memory_limit = limit_or_none(fs.read_int_or_none(f"{directory}/memory.limit_in_bytes"))
        out.oom_kills = oom_kills(directory)
        if out.detail is not None:
            _detail(directory, out.detail)


def _detail(directory: str, detail: StatsDetail) -> None:
    from hutch.cgroups.detail import read_int_map

    detail.memory_raw = read_int_map(f"{directory}/memory.stat")
    detail.memory_cache = detail.memory_raw.get("cache")
    detail.memory = _entry(directory, "memory")
    detail.memory_swap = _entry(directory, "memory.memsw")
    detail.memory_kernel = _entry(directory, "memory.kmem")
    detail.memory_kernel_tcp = _entry(directory, "memory.kmem.tcp")


def _entry(directory: str, prefix: str) -> MemoryEntry | None:
    """The four counters of one family; None when the kernel lacks it (memsw without swap accounting)."""
    from hutch.cgroups.detail import MemoryEntry

    usage = fs.read_int_or_none(f"{directory}/{prefix}.usage_in_bytes")
    if usage is None:
        return None
    return MemoryEntry(
        usage=usage,
        max_usage=fs.read_int_or_none(f"{directory}/{prefix}.max_usage_in_bytes"),
        failcnt=fs.read_int_or_none(f"{directory}/{prefix}.failcnt"),
        limit=fs.read_int_or_none(f"{directory}/{prefix}.limit_in_bytes"),
    )


def oom_kills(directory: str) -> int:
    value = fs.read_keyed(f"{directory}/memory.oom_control").get("oom_kill", "0")
    return int(value) if value.isdigit() else 0
