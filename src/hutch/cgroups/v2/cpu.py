"""The v2 cpu controller: cpu.weight from OCI shares, cpu.max from quota and period, burst, idle; cpu.stat."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats
from hutch.cgroups.v1.cpu import burst_write, write_idle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.detail import StatsDetail

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
        # The real-time fields are refused before any write (v2.unsupported): v2 has no RT group budget.
        write_idle(directory, res.cpu_idle)
        if res.cpu_shares is not None:
            fs.write(f"{directory}/cpu.weight", shares_to_weight(res.cpu_shares))
        writes: list[tuple[str, str | int]] = []
        if res.cpu_quota is not None or res.cpu_period is not None:
            writes.append((f"{directory}/cpu.max", _cpu_max(directory, res.cpu_quota, res.cpu_period)))
        # The burst may not exceed the quota, old or new: which write goes first depends on both.
        writes += burst_write(f"{directory}/cpu.max.burst", res.cpu_burst)
        fs.write_interdependent(writes)

    def stats(self, directory: str, out: Stats) -> None:
        # cpu.stat exists even without the cpu controller enabled, so usage is always there.
        usage = fs.read_keyed(f"{directory}/cpu.stat")
        user, system = usage.get("user_usec", ""), usage.get("system_usec", "")
        if user.isdigit() and system.isdigit():
            out.cpu_user_seconds = int(user) / _USEC_PER_SECOND
            out.cpu_system_seconds = int(system) / _USEC_PER_SECOND
        if out.detail is not None:
            _detail(usage, out.detail)


def _detail(usage: dict[str, str], detail: StatsDetail) -> None:
    """cpu.stat's microseconds as nanoseconds, as runc reports them; v2 has no per-CPU counters."""
    from hutch.cgroups.detail import int_or_none

    def nanoseconds(key: str) -> int | None:
        value = int_or_none(usage.get(key))
        return None if value is None else value * 1000

    detail.cpu_total = nanoseconds("usage_usec")
    detail.cpu_user = nanoseconds("user_usec")
    detail.cpu_kernel = nanoseconds("system_usec")
    # The throttling counters are there only with the cpu controller enabled.
    detail.throttling_periods = int_or_none(usage.get("nr_periods"))
    detail.throttled_periods = int_or_none(usage.get("nr_throttled"))
    detail.throttled_time = nanoseconds("throttled_usec")
