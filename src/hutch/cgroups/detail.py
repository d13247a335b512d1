"""Detailed cgroup statistics (the counters runc's `events` reports) and parsers for the files they come from.

Only `Manager.stats(detailed=True)` imports this module: the container start and exit paths read the few
counters of `Stats` and never pay for these records or the extra files.
"""

from __future__ import annotations

import os

from hutch.cgroups import fs
from hutch.record import Factory, Record


class MemoryEntry(Record):
    """One family of memory counters (memory, memory+swap, kernel, kernel TCP), in bytes.

    Values are the kernel's: a v1 limit of "no limit" is the huge number v1 prints; None is a v2 "max" or a
    counter this kernel lacks.
    """

    usage: int | None = None
    max_usage: int | None = None
    failcnt: int | None = None
    limit: int | None = None


class BlkioEntry(Record):
    """One line of a blkio/io statistics file: device, operation ("Read", "Write", ... or "") and value."""

    major: int
    minor: int
    op: str
    value: int


class HugetlbEntry(Record):
    """Usage of one huge page size, in bytes; v2 has no peak counter."""

    usage: int | None = None
    max_usage: int | None = None
    failcnt: int | None = None


class StatsDetail(Record):
    """Everything runc's `events` reports about a cgroup; empty or None where the kernel has nothing.

    CPU times are nanoseconds, memory and I/O bytes, as in runc.
    """

    cpu_total: int | None = None
    cpu_percpu: list[int] = Factory(list)
    cpu_percpu_kernel: list[int] = Factory(list)
    cpu_percpu_user: list[int] = Factory(list)
    cpu_kernel: int | None = None
    cpu_user: int | None = None
    throttling_periods: int | None = None
    throttled_periods: int | None = None
    throttled_time: int | None = None

    cpuset_cpus: list[int] = Factory(list)
    cpuset_mems: list[int] = Factory(list)
    # v1's cpuset flag files by name without "cpuset." (cpu_exclusive, mem_hardwall, sched_load_balance...).
    cpuset_flags: dict[str, int] = Factory(dict)

    # Page cache: memory.stat's "cache" on v1, "file" on v2.
    memory_cache: int | None = None
    memory: MemoryEntry | None = None
    # Memory plus swap, as v1's memsw counters; on v2 the swap counters plus the memory ones, as runc does.
    memory_swap: MemoryEntry | None = None
    memory_kernel: MemoryEntry | None = None
    memory_kernel_tcp: MemoryEntry | None = None
    # memory.stat as it is.
    memory_raw: dict[str, int] = Factory(dict)

    # None: no limit ("max"), or no pids controller.
    pids_limit: int | None = None

    # Statistic name as runc's libcontainer has it (io_service_bytes_recursive, ...) -> its lines.
    blkio: dict[str, list[BlkioEntry]] = Factory(dict)
    # Page size as the kernel names it in file names ("2MB", "1GB") -> usage.
    hugetlb: dict[str, HugetlbEntry] = Factory(dict)


def int_or_none(text: str | None) -> int | None:
    """A counter's text as an int; None for absent, "max" or anything else that is not a number."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def read_int_map(path: str) -> dict[str, int]:
    """A flat-keyed file ("key value" per line) with integer values; {} when absent."""
    out: dict[str, int] = {}
    for key, value in fs.read_keyed(path).items():
        number = int_or_none(value)
        if number is not None:
            out[key] = number
    return out


def read_int_list(path: str) -> list[int]:
    """A file of space-separated integers (cpuacct.usage_percpu); [] when absent."""
    text = fs.read_or_none(path)
    if text is None:
        return []
    try:
        return [int(word) for word in text.split()]
    except ValueError:
        return []


def parse_id_list(text: str) -> list[int]:
    """A kernel list such as "0-3,8,10-11" as [0, 1, 2, 3, 8, 10, 11]; [] when empty or malformed."""
    ids: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            ids.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            return []
    return ids


def parse_blkio(text: str) -> list[BlkioEntry]:
    """v1 blkio lines, "MAJ:MIN OP VALUE" or "MAJ:MIN VALUE"; the "Total N" line is not per device."""
    entries = []
    for line in text.splitlines():
        fields = line.replace(":", " ").split()
        if len(fields) not in (3, 4) or not (fields[0].isdigit() and fields[1].isdigit()):
            continue
        op = fields[2] if len(fields) == 4 else ""
        value = int_or_none(fields[-1])
        if value is not None:
            entries.append(BlkioEntry(int(fields[0]), int(fields[1]), op, value))
    return entries


def hugetlb_sizes(directory: str, suffix: str) -> list[str]:
    """Page sizes with a hugetlb.SIZE.SUFFIX file in the cgroup, named as the kernel names them ("2MB")."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    sizes = []
    for name in names:
        prefix, dot, rest = name.partition(".")
        if prefix == "hugetlb" and dot and rest.endswith(f".{suffix}"):
            size = rest[: -len(suffix) - 1]
            if "." not in size:  # hugetlb.2MB.rsvd.current is the reservation counter, not usage
                sizes.append(size)
    return sorted(sizes, key=_page_size_bytes)


_UNITS = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def _page_size_bytes(size: str) -> int:
    number = int_or_none(size[:-2]) or 0
    return number * _UNITS.get(size[-2:], 1)
