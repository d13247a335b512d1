"""The v2 memory controller: memory.max, memory.low, memory.swap.max, usage, peak, OOM kills, memory.stat."""

from __future__ import annotations

import os

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats
from hutch.cgroups.v1.memory import check_before_update

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.detail import StatsDetail


def max_value(value: int) -> str:
    return "max" if value == -1 else str(value)


def swap_max(memory_swap: int | None, memory_limit: int | None) -> int | None:
    """OCI's memory+swap total turned into v2's swap-only memory.swap.max (runc's conversion); -1 = max."""
    if memory_swap is None:
        # "memory unlimited" with swap unset means both unlimited, as on v1.
        return -1 if memory_limit == -1 else None
    if memory_swap == -1:
        return -1
    if memory_limit is None or memory_limit == -1:
        raise CgroupError("cannot limit swap without a memory limit")
    if memory_swap < memory_limit:
        raise CgroupError(f"memory+swap limit {memory_swap} is below the memory limit {memory_limit}")
    return memory_swap - memory_limit


class Memory:
    name = "memory"

    def requested(self, res: Resources) -> bool:
        return res.wants_memory()

    def apply(self, directory: str, res: Resources) -> None:
        # Kernel memory limits and the OOM-killer switch have no v2 file; runc ignores them here too.
        # Swappiness and non-hierarchical accounting are refused before any write (v2.unsupported).
        if res.memory_check_before_update:
            usage = fs.read_int_or_none(f"{directory}/memory.current")
            swap_usage = fs.read_int_or_none(f"{directory}/memory.swap.current") or 0
            check_before_update(res, usage, None if usage is None else usage + swap_usage)
        swap = swap_max(res.memory_swap, res.memory_limit)
        swap_file = f"{directory}/memory.swap.max"
        # Without swap accounting the file is absent and there is nothing to limit.
        if swap is not None and os.path.exists(swap_file):
            fs.write(swap_file, max_value(swap))
        if res.memory_limit is not None:
            fs.write(f"{directory}/memory.max", max_value(res.memory_limit))
        if res.memory_reservation is not None:
            fs.write(f"{directory}/memory.low", max_value(res.memory_reservation))

    def stats(self, directory: str, out: Stats) -> None:
        out.memory_usage = fs.read_int_or_none(f"{directory}/memory.current")
        # memory.peak appeared in Linux 5.19.
        out.memory_peak = fs.read_int_or_none(f"{directory}/memory.peak")
        out.memory_limit = fs.read_int_or_none(f"{directory}/memory.max")  # "max" -> None
        out.oom_kills = oom_kills(directory)
        if out.detail is not None:
            _detail(directory, out, out.detail)


def _detail(directory: str, out: Stats, detail: StatsDetail) -> None:
    from hutch.cgroups.detail import MemoryEntry, int_or_none, read_int_map

    detail.memory_raw = read_int_map(f"{directory}/memory.stat")
    detail.memory_cache = detail.memory_raw.get("file")
    if out.memory_usage is None:
        return  # no memory controller here
    events = fs.read_keyed(f"{directory}/memory.events")
    # "max": times usage was about to go over memory.max, v2's counterpart of v1's failcnt.
    limit = out.memory_limit
    detail.memory = MemoryEntry(out.memory_usage, out.memory_peak, int_or_none(events.get("max")), limit)
    # v2 has no separate kernel counters with limits, only usage in memory.stat ("kernel" since Linux 5.18;
    # "sock" is socket buffers, what v1 counts as kmem.tcp).
    if "kernel" in detail.memory_raw:
        detail.memory_kernel = MemoryEntry(usage=detail.memory_raw["kernel"])
    if "sock" in detail.memory_raw:
        detail.memory_kernel_tcp = MemoryEntry(usage=detail.memory_raw["sock"])
    swap_usage = fs.read_int_or_none(f"{directory}/memory.swap.current")
    if swap_usage is None:
        return  # no swap accounting
    # runc reports v2 swap as memory+swap, v1's memsw: consumers compare it with the memory entry.
    swap_limit = int_or_none(fs.read_or_none(f"{directory}/memory.swap.max"))
    combined_limit = None if swap_limit is None or limit is None else swap_limit + limit
    detail.memory_swap = MemoryEntry(usage=swap_usage + out.memory_usage, limit=combined_limit)


def oom_kills(directory: str) -> int:
    value = fs.read_keyed(f"{directory}/memory.events").get("oom_kill", "0")
    return int(value) if value.isdigit() else 0
