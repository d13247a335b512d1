"""runc's `events` output: stats and OOM events in runc's JSON shape, and the loop that watches a cgroup."""

from __future__ import annotations

import select
import time

from hutch import jsonlite
from hutch.cgroups.resources import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from hutch.cgroups import Manager, Stats
    from hutch.cgroups.detail import BlkioEntry, HugetlbEntry, MemoryEntry, StatsDetail

# What runc prints for a limit of "max": Go's uint64 maximum.
_NO_LIMIT = (1 << 64) - 1

# StatsDetail.blkio names -> runc's keys, in runc's order.
_BLKIO_KEYS = (
    ("io_service_bytes_recursive", "ioServiceBytesRecursive"),
    ("io_serviced_recursive", "ioServicedRecursive"),
    ("io_queue_recursive", "ioQueueRecursive"),
    ("io_service_time_recursive", "ioServiceTimeRecursive"),
    ("io_wait_time_recursive", "ioWaitTimeRecursive"),
    ("io_merged_recursive", "ioMergedRecursive"),
    ("io_time_recursive", "ioTimeRecursive"),
    ("sectors_recursive", "sectorsRecursive"),
)
_CPUSET_FLAGS = (
    "mem_hardwall",
    "mem_exclusive",
    "memory_migrate",
    "memory_spread_page",
    "memory_spread_slab",
    "memory_pressure",
    "sched_load_balance",
    "sched_relax_domain_level",
)


def oom_event(container_id: str) -> dict:
    return {"type": "oom", "id": container_id}


def stats_event(container_id: str, stats: Stats) -> dict:
    """A stats event as runc prints it: runc's key names and order; zero counters left out where runc's
    `omitempty` leaves them out. stats must come from Manager.stats(detailed=True)."""
    from hutch.cgroups.detail import StatsDetail

    detail = stats.detail if stats.detail is not None else StatsDetail()
    data = {
        "cpu": _cpu(detail),
        "cpuset": _cpuset(detail),
        "memory": _memory(detail),
        "pids": _omit_zero({"current": stats.pids_current, "limit": detail.pids_limit}),
        "blkio": _blkio(detail),
        "hugetlb": {size: _hugetlb_entry(detail.hugetlb[size]) for size in sorted(detail.hugetlb)},
        # Intel RDT and network interfaces are runc's too; hutch reads neither (runc prints these for a
        # container without them).
        "intel_rdt": {},
        "network_interfaces": None,
    }
    return {"type": "stats", "id": container_id, "data": data}


def encode(event: dict) -> str:
    """One event as runc writes it: compact JSON on one line (the caller adds the newline)."""
    return jsonlite.dumps(event)


def watch(
    manager: Manager, container_id: str, interval: float, is_alive: Callable[[], bool]
) -> Iterator[dict]:
    """Yield a stats event every interval seconds and an OOM event as soon as one happens, until is_alive()
    turns false (it is asked after every wake-up, so at the latest one interval after the end).

    Waits in poll(2) on the cgroup's OOM notifier with the time to the next stats event as timeout. Without
    a memory controller there is no notifier and only stats events come.
    """
    if interval <= 0:
        raise ValueError("interval must be greater than 0")
    try:
        notifier = manager.oom_notifier()
    except CgroupError:
        notifier = None
    poller = select.poll()
    if notifier is not None:
        poller.register(notifier.fileno(), select.POLLIN)
    try:
        next_stats = time.monotonic() + interval
        while is_alive():
            timeout_ms = max(0, next_stats - time.monotonic()) * 1000
            if poller.poll(timeout_ms) and notifier is not None:
                yield from _ooms(container_id, notifier.read())
            now = time.monotonic()
            if now >= next_stats:
                yield stats_event(container_id, manager.stats(detailed=True))
                # Catch up by skipping, not by a burst, when reading stats took longer than an interval.
                next_stats = max(next_stats + interval, now)
        if notifier is not None:
            # The OOM that ended the container is often the last thing to report.
            yield from _ooms(container_id, notifier.read())
    finally:
        if notifier is not None:
            notifier.close()


def _ooms(container_id: str, count: int) -> Iterator[dict]:
    for _ in range(count):
        yield oom_event(container_id)


def _omit_zero(pairs: dict) -> dict:
    """Go's `omitempty` for numbers and lists: None, 0 and [] are left out."""
    return {key: value for key, value in pairs.items() if value}


def _cpu(detail: StatsDetail) -> dict:
    usage = _omit_zero(
        {
            "total": detail.cpu_total,
            "percpu": detail.cpu_percpu,
            "percpu_kernel": detail.cpu_percpu_kernel,
            "percpu_user": detail.cpu_percpu_user,
        }
    )
    usage["kernel"] = detail.cpu_kernel or 0
    usage["user"] = detail.cpu_user or 0
    throttling = _omit_zero(
        {
            "periods": detail.throttling_periods,
            "throttledPeriods": detail.throttled_periods,
            "throttledTime": detail.throttled_time,
        }
    )
    return {"usage": usage, "throttling": throttling}


def _cpuset(detail: StatsDetail) -> dict:
    out: dict = _omit_zero({"cpus": detail.cpuset_cpus})
    out["cpu_exclusive"] = detail.cpuset_flags.get("cpu_exclusive", 0)
    out.update(_omit_zero({"mems": detail.cpuset_mems}))
    for flag in _CPUSET_FLAGS:
        out[flag] = detail.cpuset_flags.get(flag, 0)
    return out


def _memory(detail: StatsDetail) -> dict:
    out: dict = _omit_zero({"cache": detail.memory_cache})
    out["usage"] = _memory_entry(detail.memory)
    out["swap"] = _memory_entry(detail.memory_swap)
    out["kernel"] = _memory_entry(detail.memory_kernel)
    out["kernelTCP"] = _memory_entry(detail.memory_kernel_tcp)
    if detail.memory_raw:
        out["raw"] = {key: detail.memory_raw[key] for key in sorted(detail.memory_raw)}  # Go sorts map keys
    return out


def _memory_entry(entry: MemoryEntry | None) -> dict:
    if entry is None:  # the kernel has no such counters: runc prints its zero value
        return {"limit": 0, "failcnt": 0}
    out = {"limit": _NO_LIMIT if entry.limit is None else entry.limit}
    out.update(_omit_zero({"usage": entry.usage, "max": entry.max_usage}))
    out["failcnt"] = entry.failcnt or 0
    return out


def _blkio(detail: StatsDetail) -> dict:
    out = {}
    for name, key in _BLKIO_KEYS:
        if detail.blkio.get(name):
            out[key] = [_blkio_entry(entry) for entry in detail.blkio[name]]
    return out


def _blkio_entry(entry: BlkioEntry) -> dict:
    return _omit_zero({"major": entry.major, "minor": entry.minor, "op": entry.op, "value": entry.value})


def _hugetlb_entry(entry: HugetlbEntry) -> dict:
    out = _omit_zero({"usage": entry.usage, "max": entry.max_usage})
    out["failcnt"] = entry.failcnt or 0
    return out
