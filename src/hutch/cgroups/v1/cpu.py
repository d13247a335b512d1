"""The v1 cpu controller: CFS shares, period, quota and burst, idle, real-time budget; throttling counters."""

from __future__ import annotations

import errno

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats


def write_idle(directory: str, idle: int | None) -> None:
    """cpu.idle goes first: an idle group refuses shares/weight, so leaving idle must precede setting them."""
    if idle is None:
        return
    path = f"{directory}/cpu.idle"
    if not fs.exists(path):
        raise CgroupError(f"cannot set cpu idle: {path} is absent (it needs Linux 5.15)")
    fs.write(path, idle)


def burst_write(path: str, burst: int | None) -> list[tuple[str, str | int]]:
    """The burst write to pair with the quota's, or none; no burst file is fine only for "no burst"."""
    if burst is None:
        return []
    if not fs.exists(path):
        if burst == 0:
            return []
        raise CgroupError(f"cannot set cpu burst {burst}: {path} is absent (it needs Linux 5.14)")
    return [(path, burst)]


class Cpu:
    name = "cpu"

    def requested(self, res: Resources) -> bool:
        return res.wants_cpu()

    def apply(self, directory: str, res: Resources) -> None:
        write_idle(directory, res.cpu_idle)
        if res.cpu_shares is not None:
            fs.write(f"{directory}/cpu.shares", res.cpu_shares)
        # Each of these is validated against the others' current values (quota and burst against the period,
        # burst against the quota, all against the parent's bandwidth), so no one order always works.
        writes: list[tuple[str, str | int]] = []
        if res.cpu_period is not None:
            writes.append((f"{directory}/cpu.cfs_period_us", res.cpu_period))
        if res.cpu_quota is not None:
            writes.append((f"{directory}/cpu.cfs_quota_us", res.cpu_quota))
        writes += burst_write(f"{directory}/cpu.cfs_burst_us", res.cpu_burst)
        fs.write_interdependent(writes)
        _write_realtime(directory, res.cpu_rt_runtime, res.cpu_rt_period)

    def stats(self, directory: str, out: Stats) -> None:
        if out.detail is None:
            return
        from hutch.cgroups.detail import read_int_map

        counters = read_int_map(f"{directory}/cpu.stat")
        out.detail.throttling_periods = counters.get("nr_periods")
        out.detail.throttled_periods = counters.get("nr_throttled")
        out.detail.throttled_time = counters.get("throttled_time")  # already nanoseconds on v1


def _write_realtime(directory: str, runtime: int | None, period: int | None) -> None:
    if runtime is None and period is None:
        return
    runtime_file = f"{directory}/cpu.rt_runtime_us"
    if not fs.exists(runtime_file):
        raise CgroupError(
            f"cannot set a real-time CPU budget: {runtime_file} is absent (no CONFIG_RT_GROUP_SCHED)"
        )
    writes: list[tuple[str, str | int]] = []
    if period is not None:
        writes.append((f"{directory}/cpu.rt_period_us", period))
    if runtime is not None:
        writes.append((runtime_file, runtime))
    try:
        fs.write_interdependent(writes)
    except CgroupError as exc:
        if exc.errno != errno.EINVAL:
            raise
        # Almost always the budget: the runtime/period ratios of a cgroup's children must fit in its own, and
        # a new cgroup's parent has a runtime of 0 unless someone gave it one.
        parent = directory.rsplit("/", 1)[0]
        budget = fs.read_or_none(f"{parent}/cpu.rt_runtime_us") or "?"
        parent_period = fs.read_or_none(f"{parent}/cpu.rt_period_us") or "?"
        raise CgroupError(
            f"{exc}: the real-time runtime must fit in the parent's budget, {budget.strip()} us per"
            f" {parent_period.strip()} us in {parent}, less what its other children hold",
            exc.errno,
        ) from None
