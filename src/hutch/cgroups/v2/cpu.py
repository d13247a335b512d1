"""The v2 cpu controller: cpu.weight from OCI shares, cpu.max from quota and period, cpu.stat usage."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats

DEFAULT_PERIOD = 100_000
_USEC_PER_SECOND = 1_000_000


def shares_to_weight(shares: int) -> int:
    """Map v1 shares [2, 262144] onto v2 weight [1, 10000] linearly, as runc and crun do."""
    weight = 1 + ((shares - 2) * 9999) // 262142
    return max(1, min(10_000, weight))


def _cpu_max(directory: str, quota: int | None, period: int | None) -> str:
    if quota is None:
        # Only the period changes: keep whatever quota is in force.
        quota_text = fs.read(f"{directory}/cpu.max").split()[0]
    else:
        quota_text = "max" if quota < 0 else str(quota)
    return f"{quota_text} {period if period is not None else DEFAULT_PERIOD}"


class Cpu:
    name = "cpu"

    def requested(self, res: Resources) -> bool:
        return res.wants_cpu()

    def apply(self, directory: str, res: Resources) -> None:
        if res.cpu_shares is not None:
            fs.write(f"{directory}/cpu.weight", shares_to_weight(res.cpu_shares))
        if res.cpu_quota is not None or res.cpu_period is not None:
            fs.write(f"{directory}/cpu.max", _cpu_max(directory, res.cpu_quota, res.cpu_period))

    def stats(self, directory: str, out: Stats) -> None:
        # cpu.stat exists even without the cpu controller enabled, so usage is always there.
        usage = fs.read_keyed(f"{directory}/cpu.stat")
        user, system = usage.get("user_usec", ""), usage.get("system_usec", "")
        if user.isdigit() and system.isdigit():
            out.cpu_user_seconds = int(user) / _USEC_PER_SECOND
            out.cpu_system_seconds = int(system) / _USEC_PER_SECOND
