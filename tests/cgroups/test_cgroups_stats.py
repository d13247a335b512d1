"""Detailed statistics (what runc's `events` reports) read from real cgroups, and the parsers behind them."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cghelpers import cgroup_file
from hutchtest import TIME_SCALE

from hutch.cgroups import CgroupLayout, Layout, Manager, Resources, Stats
from hutch.cgroups.detail import BlkioEntry, StatsDetail, hugetlb_sizes, parse_blkio, parse_id_list
from hutch.cgroups.v1.cpuacct import CpuAcct
from hutch.cgroups.v1.manager import CONTROLLERS as V1_CONTROLLERS
from hutch.cgroups.v2.io import parse_io_stat
from hutch.cgroups.v2.manager import CONTROLLERS as V2_CONTROLLERS

MiB = 1 << 20
Spawn = Callable[[Manager, str], subprocess.Popen]

# Reading the CPU clock is a system call: check it rarely, so the time is spent in user mode.
BUSY_FOR_HALF_A_SECOND = """
import time
end = time.process_time() + 0.5
while time.process_time() < end:
    sum(range(100_000))
"""
BUSY_FOR_A_TENTH = BUSY_FOR_HALF_A_SECOND.replace("0.5", "0.1")
HOLD_30_MIB = "import time; b = b'x' * (30 << 20); time.sleep(120)"
SLEEP = "import time; time.sleep(120)"


def wait_until(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout * TIME_SCALE
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def detail_of(manager: Manager) -> StatsDetail:
    stats = manager.stats(detailed=True)
    assert stats.detail is not None
    return stats.detail


def test_plain_stats_leave_the_detail_out(manager: Manager) -> None:
    assert manager.stats().detail is None


def test_cpu_usage_in_nanoseconds(manager: Manager, spawn: Spawn, layout: CgroupLayout) -> None:
    assert spawn(manager, BUSY_FOR_HALF_A_SECOND).wait(timeout=60 * TIME_SCALE) == 0
    stats = manager.stats(detailed=True)
    detail = stats.detail
    assert detail is not None and detail.cpu_total is not None
    assert detail.cpu_user is not None and detail.cpu_kernel is not None
    assert detail.cpu_total >= 0.45e9
    # Kernels sample user/system time at ticks while the total is exact: close, not equal.
    assert 0.5 * detail.cpu_total <= detail.cpu_user + detail.cpu_kernel <= 1.5 * detail.cpu_total
    # The same clock as the engine's report, in other units.
    assert stats.cpu_user_seconds is not None
    assert abs(detail.cpu_user - stats.cpu_user_seconds * 1e9) < 1e6
    if layout.layout == Layout.V2:
        assert detail.cpu_percpu == detail.cpu_percpu_user == detail.cpu_percpu_kernel == []
    else:
        # cpuacct counts every possible CPU; nothing runs in the cgroup any more, so the sums are exact.
        assert len(detail.cpu_percpu) == len(detail.cpu_percpu_user) == len(detail.cpu_percpu_kernel) >= 1
        assert sum(detail.cpu_percpu) == detail.cpu_total
        assert sum(detail.cpu_percpu_user) == detail.cpu_user
        assert sum(detail.cpu_percpu_kernel) == detail.cpu_kernel


def test_cpu_throttling_under_a_quota(manager: Manager, spawn: Spawn) -> None:
    before = detail_of(manager)
    assert not before.throttled_periods
    manager.apply(Resources(cpu_quota=10_000, cpu_period=100_000))
    assert spawn(manager, BUSY_FOR_A_TENTH).wait(timeout=60 * TIME_SCALE) == 0
    detail = detail_of(manager)
    assert detail.throttled_periods is not None and detail.throttling_periods is not None
    # 0.1 s of CPU at 10 ms per 100 ms period: about ten periods, nearly all of them throttled.
    assert detail.throttling_periods >= detail.throttled_periods >= 5
    assert detail.throttled_time is not None and detail.throttled_time >= 0.1e9


def test_memory_counters_and_memory_stat(manager: Manager, spawn: Spawn, layout: CgroupLayout) -> None:
    manager.apply(Resources(memory_limit=100 * MiB, memory_swap=200 * MiB))
    spawn(manager, HOLD_30_MIB)
    wait_until(lambda: (manager.stats().memory_usage or 0) >= 30 * MiB)
    detail = detail_of(manager)
    memory = detail.memory
    assert memory is not None and memory.usage is not None
    assert memory.usage >= 30 * MiB
    assert memory.limit == 100 * MiB
    if memory.max_usage is not None:  # memory.peak needs Linux 5.19 on v2
        assert memory.max_usage >= memory.usage
    assert memory.failcnt == 0
    anon = "anon" if layout.layout == Layout.V2 else "rss"
    # memory.stat is batched per CPU (v2 flushes it lazily): within a few pages of the 30 MiB held.
    assert detail.memory_raw[anon] >= 28 * MiB
    assert detail.memory_cache == detail.memory_raw["file" if layout.layout == Layout.V2 else "cache"]
    swap_file = "memory.swap.max" if layout.layout == Layout.V2 else "memory.memsw.limit_in_bytes"
    if os.path.exists(cgroup_file(layout, manager.path, "memory", swap_file)):
        # Memory plus swap on both layouts, as runc reports it.
        assert detail.memory_swap is not None and detail.memory_swap.usage is not None
        assert detail.memory_swap.usage >= memory.usage
        assert detail.memory_swap.limit == 200 * MiB
    else:
        assert detail.memory_swap is None
    kmem_file = cgroup_file(layout, manager.path, "memory", "memory.kmem.usage_in_bytes")
    if (layout.layout == Layout.V2 and "kernel" in detail.memory_raw) or os.path.exists(kmem_file):
        assert detail.memory_kernel is not None and (detail.memory_kernel.usage or 0) > 0


def test_unlimited_memory_is_the_kernels_value(manager: Manager, layout: CgroupLayout) -> None:
    memory = detail_of(manager).memory
    assert memory is not None
    if layout.layout == Layout.V2:
        assert memory.limit is None  # "max"
    else:
        assert memory.limit is not None and memory.limit >= 1 << 62


def test_pids_current_and_limit(manager: Manager, spawn: Spawn) -> None:
    assert detail_of(manager).pids_limit is None  # "max"
    manager.apply(Resources(pids_limit=50))
    for _ in range(2):
        spawn(manager, SLEEP)
    stats = manager.stats(detailed=True)
    assert stats.pids_current == 2
    assert stats.detail is not None and stats.detail.pids_limit == 50


def test_cpuset_lists(manager: Manager, layout: CgroupLayout) -> None:
    manager.apply(Resources(cpuset_cpus="0", cpuset_mems="0"))
    detail = detail_of(manager)
    assert detail.cpuset_cpus == [0]
    assert detail.cpuset_mems == [0]
    if layout.layout == Layout.V2:
        assert detail.cpuset_flags == {}
    else:
        assert detail.cpuset_flags["cpu_exclusive"] == 0
        assert set(detail.cpuset_flags) >= {"mem_hardwall", "sched_load_balance", "sched_relax_domain_level"}
    if (os.cpu_count() or 1) >= 2:
        manager.apply(Resources(cpuset_cpus="0-1"))
        assert detail_of(manager).cpuset_cpus == [0, 1]


def _whole_disk(path: Path) -> tuple[int, int] | None:
    """MAJ:MIN of the disk that holds path, or None when no block device does (tmpfs, 9p, overlay...)."""
    dev = os.stat(path).st_dev
    sysfs = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not sysfs.exists():
        return None
    if (sysfs / "partition").exists():  # I/O rules and counters are per disk
        sysfs = sysfs.resolve().parent
    major, minor = (sysfs / "dev").read_text().split(":")
    return int(major), int(minor)


def direct_io(path: Path) -> str:
    """Code that writes 4 MiB with O_DIRECT, so the block layer sees it now, and reads it back."""
    return f"""
import mmap, os
buf = mmap.mmap(-1, 1 << 20)
buf.write(b"x" * (1 << 20))
fd = os.open({str(path)!r}, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
for i in range(4):
    os.pwritev(fd, [buf], i << 20)
os.close(fd)
fd = os.open({str(path)!r}, os.O_RDONLY | os.O_DIRECT)
for i in range(4):
    os.preadv(fd, [buf], i << 20)
os.close(fd)
"""


def test_block_io_counts_reads_and_writes(
    manager: Manager, spawn: Spawn, layout: CgroupLayout, tmp_path: Path
) -> None:
    disk = _whole_disk(tmp_path)
    if disk is None:
        pytest.skip("the test's temporary directory is not on a block device")
    if layout.layout == Layout.V2:
        enabled = Path(cgroup_file(layout, manager.path, "io", "cgroup.controllers")).read_text().split()
        if "io" not in enabled:
            pytest.skip("no io controller")
    else:
        if layout.mountpoint("blkio") is None:
            pytest.skip("no blkio hierarchy")
        # Without CFQ/BFQ, v1 counts only I/O that passes a throttle rule: a rule nobody can reach will do.
        for name in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
            with open(cgroup_file(layout, manager.path, "blkio", name), "w") as f:
                f.write(f"{disk[0]}:{disk[1]} {1 << 40}")
    assert spawn(manager, direct_io(tmp_path / "data")).wait(timeout=60 * TIME_SCALE) == 0
    blkio = detail_of(manager).blkio

    def value(stat: str, op: str) -> int:
        return sum(e.value for e in blkio.get(stat, []) if (e.major, e.minor) == disk and e.op == op)

    assert value("io_service_bytes_recursive", "Read") >= 4 * MiB
    assert value("io_service_bytes_recursive", "Write") >= 4 * MiB
    assert value("io_serviced_recursive", "Read") >= 1
    assert value("io_serviced_recursive", "Write") >= 1


def test_hugetlb_page_sizes(manager: Manager, layout: CgroupLayout) -> None:
    if layout.layout == Layout.V2:
        enabled = Path(cgroup_file(layout, manager.path, "hugetlb", "cgroup.controllers")).read_text().split()
        if "hugetlb" not in enabled:
            pytest.skip("no hugetlb controller")
    elif layout.mountpoint("hugetlb") is None:
        pytest.skip("no v1 hugetlb hierarchy (a hybrid host's cgroup2 one has no container cgroups)")
    expected = set()
    for name in os.listdir("/sys/kernel/mm/hugepages"):  # hugepages-2048kB
        kib = int(name.removeprefix("hugepages-").removesuffix("kB"))
        name = f"{kib >> 20}GB" if kib >= 1 << 20 else f"{kib >> 10}MB" if kib >= 1 << 10 else f"{kib}KB"
        expected.add(name)
    hugetlb = detail_of(manager).hugetlb
    assert set(hugetlb) == expected
    assert all(entry.usage == 0 and entry.failcnt == 0 for entry in hugetlb.values())


@pytest.mark.parametrize("controllers", [V1_CONTROLLERS, V2_CONTROLLERS], ids=["v1", "v2"])
def test_detail_of_missing_files_is_empty(tmp_path: Path, controllers) -> None:
    out = Stats(detail=StatsDetail())
    for controller in controllers:
        controller.stats(str(tmp_path), out)
    assert out == Stats(detail=StatsDetail())


# Pure parsing, on files written here.


def test_cpuacct_per_cpu_modes(tmp_path: Path) -> None:
    (tmp_path / "cpuacct.usage").write_text("600\n")
    (tmp_path / "cpuacct.usage_percpu").write_text("100 500 \n")
    (tmp_path / "cpuacct.usage_user").write_text("450\n")
    (tmp_path / "cpuacct.usage_sys").write_text("150\n")
    (tmp_path / "cpuacct.usage_all").write_text("cpu user system\n0 70 30\n1 380 120\n")
    out = Stats(detail=StatsDetail())
    CpuAcct().stats(str(tmp_path), out)
    assert out.detail == StatsDetail(
        cpu_total=600,
        cpu_percpu=[100, 500],
        cpu_percpu_user=[70, 380],
        cpu_percpu_kernel=[30, 120],
        cpu_user=450,
        cpu_kernel=150,
    )


def test_id_lists() -> None:
    assert parse_id_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert parse_id_list("0\n") == [0]
    assert parse_id_list("\n") == []
    assert parse_id_list("0-x") == []


def test_blkio_lines() -> None:
    text = "8:0 Read 4096\n8:0 Write 0\n8:16 Total 12\nTotal 4108\n254:0 7\n"
    assert parse_blkio(text) == [
        BlkioEntry(8, 0, "Read", 4096),
        BlkioEntry(8, 0, "Write", 0),
        BlkioEntry(8, 16, "Total", 12),
        BlkioEntry(254, 0, "", 7),
    ]
    assert parse_blkio("Total 0\n") == []


def test_io_stat_becomes_v1_tables_as_in_runc() -> None:
    text = "254:0 rbytes=8192 wbytes=4096 rios=2 wios=1 dbytes=0 dios=0\n\n1:0 rbytes=1 wbytes=0 rios=1\n"
    assert parse_io_stat(text) == {
        "io_service_bytes_recursive": [
            BlkioEntry(254, 0, "Read", 8192),
            BlkioEntry(254, 0, "Write", 4096),
            BlkioEntry(1, 0, "Read", 1),
            BlkioEntry(1, 0, "Write", 0),
        ],
        "io_serviced_recursive": [
            BlkioEntry(254, 0, "Read", 2),
            BlkioEntry(254, 0, "Write", 1),
            BlkioEntry(1, 0, "Read", 1),
        ],
    }


def test_hugetlb_sizes_from_file_names(tmp_path: Path) -> None:
    for name in ("hugetlb.2MB.current", "hugetlb.2MB.rsvd.current", "hugetlb.1GB.current", "hugetlb.1GB.max"):
        (tmp_path / name).write_text("0\n")
    assert hugetlb_sizes(str(tmp_path), "current") == ["2MB", "1GB"]
    assert hugetlb_sizes(str(tmp_path / "absent"), "current") == []
