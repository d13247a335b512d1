"""The v2 memory controller: memory.max, memory.low, memory.swap.max, usage, peak and OOM kills."""

from __future__ import annotations

import os

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats


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


def oom_kills(directory: str) -> int:
    value = fs.read_keyed(f"{directory}/memory.events").get("oom_kill", "0")
    return int(value) if value.isdigit() else 0
