"""The v1 cpu controller: CFS shares, period and quota (usage is cpuacct's business)."""

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
        pass
