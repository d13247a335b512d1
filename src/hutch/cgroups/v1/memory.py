"""The v1 memory controller: limits (memory, swap, soft, kernel), OOM and swap knobs; usage, memory.stat."""

from __future__ import annotations

import errno
import os

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats

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


def swappiness_to_write(res: Resources) -> int | None:
    """The swappiness to write, None for unset (-1 too, as runc); out of range is an error, before writing."""
    value = res.memory_swappiness
    if value is None or value == -1:
        return None
    if not 0 <= value <= 100:
        raise CgroupError(f"invalid memory swappiness {value}: the valid range is 0-100")
    return value


def check_before_update(res: Resources, usage: int | None, total_usage: int | None) -> None:
    """With memory_check_before_update, refuse limits at or below current usage (runc's CheckBeforeUpdate).

    total_usage is memory plus swap in use, for the memory+swap limit; None values skip the check, which is
    best effort as in runc.
    """
    if not res.memory_check_before_update:
        return
    limit = res.memory_limit
    if limit is not None and limit > 0 and usage is not None and limit <= usage:
        raise CgroupError(f"rejecting memory limit {limit}: the cgroup already uses {usage} bytes")
    swap = res.memory_swap
    if swap is not None and swap > 0 and total_usage is not None and swap <= total_usage:
        raise CgroupError(f"rejecting memory+swap limit {swap}: the cgroup already uses {total_usage} bytes")


class Memory:
    name = "memory"

    def requested(self, res: Resources) -> bool:
        return res.wants_memory()

    def apply(self, directory: str, res: Resources) -> None:
        swappiness = swappiness_to_write(res)
        if res.memory_check_before_update:
            usage = fs.read_int_or_none(f"{directory}/memory.usage_in_bytes")
            memsw_usage = fs.read_int_or_none(f"{directory}/memory.memsw.usage_in_bytes")
            check_before_update(res, usage, usage if memsw_usage is None else memsw_usage)
        limit_file = f"{directory}/memory.limit_in_bytes"
        memsw_file = f"{directory}/memory.memsw.limit_in_bytes"
        swap = _swap_to_write(res, memsw_file)
        if res.memory_limit is not None and swap is not None:
            self._write_limit_and_swap(limit_file, memsw_file, res.memory_limit, swap)
        elif res.memory_limit is not None:
            _write_limit(limit_file, res.memory_limit)
        elif swap is not None:
            fs.write(memsw_file, swap)
        if res.memory_reservation is not None:
            fs.write(f"{directory}/memory.soft_limit_in_bytes", res.memory_reservation)
        _write_kernel_limits(directory, res)
        if res.memory_disable_oom_killer is not None:
            fs.write(f"{directory}/memory.oom_control", int(res.memory_disable_oom_killer))
        if swappiness is not None:
            fs.write(f"{directory}/memory.swappiness", swappiness)
        if res.memory_use_hierarchy is not None:
            _write_use_hierarchy(directory, res.memory_use_hierarchy)

    @staticmethod
    def _write_limit_and_swap(limit_file: str, memsw_file: str, limit: int, swap: int) -> None:
        # The kernel insists on limit <= memsw at every moment, so the order of the two writes depends on
        # whether the new memsw is above the current limit (grow memsw first) or not (shrink limit first).
        current_limit = int(fs.read(limit_file))
        if swap == -1 or current_limit < swap:
            fs.write(memsw_file, swap)
            _write_limit(limit_file, limit)
        else:
            _write_limit(limit_file, limit)
            fs.write(memsw_file, swap)

    def stats(self, directory: str, out: Stats) -> None:
        out.memory_usage = fs.read_int_or_none(f"{directory}/memory.usage_in_bytes")
        out.memory_peak = fs.read_int_or_none(f"{directory}/memory.max_usage_in_bytes")
        out.memory_limit = limit_or_none(fs.read_int_or_none(f"{directory}/memory.limit_in_bytes"))
        out.oom_kills = oom_kills(directory)
        if out.detail is not None:
            _detail(directory, out.detail)


def _write_limit(limit_file: str, limit: int) -> None:
    try:
        fs.write(limit_file, limit)
    except CgroupError as exc:
        if exc.errno != errno.EBUSY:
            raise
        # EBUSY: the kernel could not reclaim down to the new limit. Say how far off it is, as runc does.
        directory = limit_file.rsplit("/", 1)[0]
        usage = fs.read_int_or_none(f"{directory}/memory.usage_in_bytes")
        peak = fs.read_int_or_none(f"{directory}/memory.max_usage_in_bytes")
        raise CgroupError(
            f"cannot set memory limit {limit} on {directory}: usage is {usage} bytes (peak {peak}) and the"
            " kernel could not reclaim enough",
            exc.errno,
        ) from None


def _write_kernel_limits(directory: str, res: Resources) -> None:
    # Linux 5.16 deprecated v1 kernel memory limits and 6.x accepts but ignores kmem.limit_in_bytes; where a
    # kernel has no such file at all there is nothing to limit, which is what runc 1.1 assumes everywhere.
    for value, name in ((res.memory_kernel, "memory.kmem.limit_in_bytes"),
                        (res.memory_kernel_tcp, "memory.kmem.tcp.limit_in_bytes")):
        path = f"{directory}/{name}"
        if value is not None and os.path.exists(path):
            fs.write(path, value)


def _write_use_hierarchy(directory: str, enabled: bool) -> None:
    path = f"{directory}/memory.use_hierarchy"
    try:
        fs.write(path, int(enabled))
    except CgroupError as exc:
        if enabled or exc.errno != errno.EINVAL:
            raise
        raise CgroupError(
            f"cannot write 0 to {path}: this kernel's memory accounting is always hierarchical (Linux 5.16+)",
            exc.errno,
        ) from None


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
