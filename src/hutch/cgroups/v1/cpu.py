"""The v1 cpu controller: CFS shares, period and quota; throttling counters (usage is cpuacct's business)."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats


class Cpu:
    name = "cpu"

    def requested(self, res: Resources) -> bool:
        return res.wants_cpu()

    def apply(self, directory: str, res: Resources) -> None:
        if res.cpu_shares is not None:
            fs.write(f"{directory}/cpu.shares", res.cpu_shares)
        # The quota is validated against the period, so the period must be in place first.
        if res.cpu_period is not None:
            fs.write(f"{directory}/cpu.cfs_period_us", res.cpu_period)
        if res.cpu_quota is not None:
            fs.write(f"{directory}/cpu.cfs_quota_us", res.cpu_quota)

    def stats(self, directory: str, out: Stats) -> None:
        if out.detail is None:
            return
        from hutch.cgroups.detail import read_int_map

        counters = read_int_map(f"{directory}/cpu.stat")
        out.detail.throttling_periods = counters.get("nr_periods")
        out.detail.throttled_periods = counters.get("nr_throttled")
        out.detail.throttled_time = counters.get("throttled_time")  # already nanoseconds on v1
