"""Memory and cpu limits beyond the basics: swappiness, kernel memory, OOM switch, burst, idle, real-time.

Written to real cgroups and read back from the kernel's files, on v1/hybrid and v2 alike.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from cglimits import MiB, limit_file, read
from hutchtest import TIME_SCALE

from hutch.cgroups import CgroupError, CgroupLayout, Layout, Manager, Resources

Spawn = Callable[[Manager, str], subprocess.Popen]
HOLD_24_MIB = "import time; b = b'x' * (24 << 20); time.sleep(120)"
NO_V2_SWAPPINESS = "memory swappiness cannot be set on cgroup v2: it has no per-cgroup swappiness"


def v1_only(layout: CgroupLayout) -> None:
    if layout.layout == Layout.V2:
        pytest.skip("a cgroup v1 file")


def v2_only(layout: CgroupLayout) -> None:
    if layout.layout != Layout.V2:
        pytest.skip("a cgroup v2 behaviour")


def test_v1_memory_knobs_are_written(manager: Manager, layout: CgroupLayout) -> None:
    v1_only(layout)
    manager.apply(
        Resources(
            memory_limit=64 * MiB, memory_swappiness=10, memory_kernel_tcp=16 * MiB,
            memory_disable_oom_killer=True, memory_use_hierarchy=True,
        )
    )

    def memory(name: str) -> str:
        return read(limit_file(layout, manager, "memory", name))

    assert memory("memory.swappiness") == "10"
    assert memory("memory.kmem.tcp.limit_in_bytes") == str(16 * MiB)
    assert "oom_kill_disable 1" in memory("memory.oom_control").splitlines()
    assert memory("memory.use_hierarchy") == "1"
    # An update turns the OOM killer back on and changes swappiness; what it does not name stays.
    manager.apply(Resources(memory_disable_oom_killer=False, memory_swappiness=0))
    assert "oom_kill_disable 0" in memory("memory.oom_control").splitlines()
    assert memory("memory.swappiness") == "0"
    assert memory("memory.kmem.tcp.limit_in_bytes") == str(16 * MiB)


def test_kernel_memory_is_written_where_the_kernel_has_it(manager: Manager, layout: CgroupLayout) -> None:
    # Linux 6.x keeps v1's kmem.limit_in_bytes but ignores writes; v2 has no such file: runc ignores it there.
    manager.apply(Resources(memory_limit=64 * MiB, memory_kernel=32 * MiB))
    if layout.layout == Layout.V2:
        assert read(limit_file(layout, manager, "memory", "memory.max")) == str(64 * MiB)
        return
    kmem = limit_file(layout, manager, "memory", "memory.kmem.limit_in_bytes")
    if os.path.exists(kmem):
        assert int(read(kmem)) in (32 * MiB, 9223372036854771712)  # honoured, or ignored by Linux 6.x
    assert read(limit_file(layout, manager, "memory", "memory.limit_in_bytes")) == str(64 * MiB)


def test_swappiness_minus_one_means_unset(manager: Manager, layout: CgroupLayout) -> None:
    swappiness = limit_file(layout, manager, "memory", "memory.swappiness")
    before = None if layout.layout == Layout.V2 else read(swappiness)
    manager.apply(Resources(memory_swappiness=-1, pids_limit=9))  # as runc: -1 is "not set", also on v2
    if before is not None:
        assert read(swappiness) == before


def test_out_of_range_swappiness_is_refused_before_anything_is_written(
    manager: Manager, layout: CgroupLayout
) -> None:
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(memory_limit=48 * MiB, memory_swappiness=101))
    if layout.layout == Layout.V2:
        assert str(caught.value) == NO_V2_SWAPPINESS
        assert read(limit_file(layout, manager, "memory", "memory.max")) == "max"
    else:
        assert str(caught.value) == "invalid memory swappiness 101: the valid range is 0-100"
        assert int(read(limit_file(layout, manager, "memory", "memory.limit_in_bytes"))) > 48 * MiB


def test_v2_refuses_what_it_has_no_file_for(manager: Manager, layout: CgroupLayout) -> None:
    v2_only(layout)
    refused = {
        NO_V2_SWAPPINESS: Resources(
            memory_swappiness=30
        ),
        "memory use_hierarchy=false cannot be set on cgroup v2: it is always hierarchical": Resources(
            memory_use_hierarchy=False
        ),
        "a real-time CPU runtime or period cannot be set on cgroup v2: it has no RT budget": Resources(
            cpu_rt_runtime=1000
        ),
    }
    for message, res in refused.items():
        with pytest.raises(CgroupError) as caught:
            manager.apply(res)
        assert str(caught.value) == message
    # What v2 does by itself, or cannot switch (runc ignores these too), passes.
    manager.apply(Resources(memory_use_hierarchy=True, memory_disable_oom_killer=True, memory_kernel_tcp=MiB))
    assert read(limit_file(layout, manager, "memory", "memory.oom.group")) == "0"


def test_v1_use_hierarchy_off_is_refused_by_new_kernels(manager: Manager, layout: CgroupLayout) -> None:
    v1_only(layout)
    path = limit_file(layout, manager, "memory", "memory.use_hierarchy")
    try:
        manager.apply(Resources(memory_use_hierarchy=False))
    except CgroupError as exc:
        assert str(exc) == (
            f"cannot write 0 to {path}: this kernel's memory accounting is always hierarchical (Linux 5.16+)"
        )
    else:  # a kernel before 5.16
        assert read(path) == "0"


@pytest.fixture
def busy_manager(manager: Manager, spawn: Spawn) -> Iterator[Manager]:
    """A cgroup where a process holds 24 MiB."""
    manager.apply(Resources(memory_limit=256 * MiB))
    spawn(manager, HOLD_24_MIB)
    deadline = time.monotonic() + 20 * TIME_SCALE
    while (manager.stats().memory_usage or 0) < 24 * MiB:
        assert time.monotonic() < deadline, "the process never allocated its 24 MiB"
        time.sleep(0.02)
    yield manager


def test_check_before_update_refuses_a_limit_below_usage(busy_manager: Manager, layout: CgroupLayout) -> None:
    limit_name = "memory.max" if layout.layout == Layout.V2 else "memory.limit_in_bytes"
    limit = limit_file(layout, busy_manager, "memory", limit_name)
    with pytest.raises(CgroupError) as caught:
        busy_manager.apply(Resources(memory_limit=8 * MiB, memory_check_before_update=True))
    message = str(caught.value)
    assert message.startswith(f"rejecting memory limit {8 * MiB}: the cgroup already uses ")
    assert int(message.split()[-2]) >= 24 * MiB
    assert read(limit) == str(256 * MiB)
    swap_refusal = f"^rejecting memory\\+swap limit {16 * MiB}: the cgroup already uses"
    with pytest.raises(CgroupError, match=swap_refusal):
        busy_manager.apply(
            Resources(memory_limit=300 * MiB, memory_swap=16 * MiB, memory_check_before_update=True)
        )
    assert read(limit) == str(256 * MiB)
    # Above the usage the check lets the limit through.
    busy_manager.apply(Resources(memory_limit=200 * MiB, memory_check_before_update=True))
    assert read(limit) == str(200 * MiB)


def cpu_files(layout: CgroupLayout, manager: Manager) -> tuple[str, str]:
    """The quota and burst files."""
    if layout.layout == Layout.V2:
        names = ("cpu.max", "cpu.max.burst")
    else:
        names = ("cpu.cfs_quota_us", "cpu.cfs_burst_us")
    return limit_file(layout, manager, "cpu", names[0]), limit_file(layout, manager, "cpu", names[1])


def test_cpu_burst_with_the_quota_in_either_order(manager: Manager, layout: CgroupLayout) -> None:
    quota_file, burst_file = cpu_files(layout, manager)
    if not os.path.exists(burst_file):
        pytest.skip("CPU burst needs Linux 5.14")
    quota = (lambda q: f"{q} 100000") if layout.layout == Layout.V2 else str
    manager.apply(Resources(cpu_quota=50_000, cpu_period=100_000, cpu_burst=20_000))
    assert (read(quota_file), read(burst_file)) == (quota(50_000), "20000")
    # The new quota is below the old burst: the kernel refuses it until the burst is lowered first.
    manager.apply(Resources(cpu_quota=10_000, cpu_burst=5_000))
    assert (read(quota_file), read(burst_file)) == (quota(10_000), "5000")
    # The new burst is above the old quota: it needs the quota raised first.
    manager.apply(Resources(cpu_quota=80_000, cpu_burst=60_000))
    assert (read(quota_file), read(burst_file)) == (quota(80_000), "60000")
    # A burst over the quota stays refused, with the kernel's reason and the file.
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(cpu_burst=90_000))
    assert str(caught.value) == f"cannot write 90000 to {burst_file}: Invalid argument"


def test_cpu_idle_comes_before_the_shares(manager: Manager, layout: CgroupLayout) -> None:
    idle_file = limit_file(layout, manager, "cpu", "cpu.idle")
    if not os.path.exists(idle_file):
        pytest.skip("cpu.idle needs Linux 5.15")
    manager.apply(Resources(cpu_idle=1))
    assert read(idle_file) == "1"
    # An idle group refuses weights; leaving idle in the same update must make the shares acceptable.
    manager.apply(Resources(cpu_idle=0, cpu_shares=512))
    assert read(idle_file) == "0"
    if layout.layout == Layout.V2:
        assert read(limit_file(layout, manager, "cpu", "cpu.weight")) == "20"  # runc's conversion of 512
    else:
        assert read(limit_file(layout, manager, "cpu", "cpu.shares")) == "512"


def rt_files(layout: CgroupLayout, path: str) -> tuple[str, str]:
    root = layout.mountpoint("cpu")
    return f"{root}/{path}/cpu.rt_runtime_us", f"{root}/{path}/cpu.rt_period_us"


def test_v1_realtime_budget_within_the_parents(manager: Manager, layout: CgroupLayout) -> None:
    v1_only(layout)
    runtime_file, period_file = rt_files(layout, manager.path)
    if not os.path.exists(runtime_file):
        pytest.skip("kernel without CONFIG_RT_GROUP_SCHED")
    manager.apply(Resources(cpu_rt_period=500_000, cpu_rt_runtime=0))
    assert (read(runtime_file), read(period_file)) == ("0", "500000")
    parent_runtime, _ = rt_files(layout, "hutch")
    if read(parent_runtime) != "0":
        pytest.skip("someone gave hutch/ a real-time budget: the refusal below cannot happen")
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(cpu_rt_runtime=1000))
    assert str(caught.value) == (
        f"cannot write 1000 to {runtime_file}: Invalid argument: the real-time runtime must fit in the"
        f" parent's budget, 0 us per 1000000 us in {layout.mountpoint('cpu')}/hutch, less what its other"
        " children hold"
    )
    # Given a budget, the parent lets its child have a share of it (the test gives it back afterwards).
    with open(parent_runtime, "w") as f:
        f.write("10000")
    try:
        manager.apply(Resources(cpu_rt_period=1_000_000, cpu_rt_runtime=5_000))
        assert (read(runtime_file), read(period_file)) == ("5000", "1000000")
        manager.apply(Resources(cpu_rt_runtime=0))
    finally:
        with open(runtime_file, "w") as f:
            f.write("0")
        with open(parent_runtime, "w") as f:
            f.write("0")
