"""Creating cgroups and writing limits on the real kernel, checked by reading the kernel's files back."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cghelpers import cgroup_file, read, unique_path

from hutch.cgroups import CgroupError, CgroupLayout, Layout, Manager, Resources

MiB = 1 << 20


def test_create_makes_one_directory_per_hierarchy_and_is_idempotent(
    make_manager: Callable[..., Manager], layout: CgroupLayout
) -> None:
    manager = make_manager()
    manager.create()
    for directory in manager.directories():
        assert os.path.isfile(f"{directory}/cgroup.procs")
    if layout.layout == Layout.V2:
        assert manager.directories() == [f"{layout.unified}/{manager.path}"]
    else:
        assert manager.directories()[-1] == f"{layout.mountpoint('memory')}/{manager.path}"
    if layout.layout == Layout.HYBRID:
        assert f"{layout.unified}/{manager.path}" in manager.directories()


def test_v1_cpuset_is_inherited_from_the_parent(manager: Manager, layout: CgroupLayout) -> None:
    if layout.layout == Layout.V2:
        pytest.skip("v2 cpusets are empty by design and inherit the parent's effective set")
    root = layout.mountpoint("cpuset")
    for name in ("cpuset.cpus", "cpuset.mems"):
        assert read(cgroup_file(layout, manager.path, "cpuset", name)) == read(f"{root}/{name}")
        assert read(f"{root}/hutch/{name}") == read(f"{root}/{name}")


def test_v2_controllers_are_enabled_down_to_the_leaf(manager: Manager, layout: CgroupLayout) -> None:
    if layout.layout is not Layout.V2:
        pytest.skip("subtree_control exists only in cgroup v2")
    available = set(read(f"{layout.unified}/cgroup.controllers").split())
    wanted = {"memory", "pids", "cpu", "cpuset"} & available
    assert wanted <= set(read(f"{layout.unified}/hutch/cgroup.subtree_control").split())
    assert wanted <= set(read(f"{manager.directories()[0]}/cgroup.controllers").split())


def test_apply_writes_every_limit(manager: Manager, layout: CgroupLayout) -> None:
    suffix = ".effective" if layout.layout == Layout.V2 else ""
    cpus = read(cgroup_file(layout, "hutch", "cpuset", f"cpuset.cpus{suffix}"))
    mems = read(cgroup_file(layout, "hutch", "cpuset", f"cpuset.mems{suffix}"))
    manager.apply(
        Resources(
            memory_limit=50 * MiB,
            memory_reservation=40 * MiB,
            pids_limit=64,
            cpu_shares=512,
            cpu_quota=50_000,
            cpu_period=100_000,
            cpuset_cpus=cpus,
            cpuset_mems=mems,
        )
    )

    def file(controller: str, name: str) -> str:
        return read(cgroup_file(layout, manager.path, controller, name))

    assert file("pids", "pids.max") == "64"
    assert file("cpuset", "cpuset.cpus") == cpus
    assert file("cpuset", "cpuset.mems") == mems
    if layout.layout == Layout.V2:
        assert file("memory", "memory.max") == str(50 * MiB)
        assert file("memory", "memory.low") == str(40 * MiB)
        assert file("cpu", "cpu.max") == "50000 100000"
        assert file("cpu", "cpu.weight") == "20"
    else:
        assert file("memory", "memory.limit_in_bytes") == str(50 * MiB)
        assert file("memory", "memory.soft_limit_in_bytes") == str(40 * MiB)
        assert file("cpu", "cpu.cfs_quota_us") == "50000"
        assert file("cpu", "cpu.cfs_period_us") == "100000"
        assert file("cpu", "cpu.shares") == "512"
    stats = manager.stats()
    assert stats.memory_limit == 50 * MiB
    assert stats.pids_current == 0
    assert stats.oom_kills == 0 == manager.oom_kills()


def test_unlimited_values(manager: Manager, layout: CgroupLayout) -> None:
    limited = Resources(memory_limit=50 * MiB, pids_limit=10, cpu_quota=20_000, cpu_period=50_000)
    manager.apply(limited)
    manager.apply(Resources(memory_limit=-1, pids_limit=-1, cpu_quota=-1))
    assert read(cgroup_file(layout, manager.path, "pids", "pids.max")) == "max"
    assert manager.stats().memory_limit is None
    if layout.layout == Layout.V2:
        assert read(cgroup_file(layout, manager.path, "cpu", "cpu.max")) == "max 100000"
    else:
        assert read(cgroup_file(layout, manager.path, "cpu", "cpu.cfs_quota_us")) == "-1"
        # The period set earlier stays: only what was asked for changes.
        assert read(cgroup_file(layout, manager.path, "cpu", "cpu.cfs_period_us")) == "50000"
    manager.apply(Resources(pids_limit=0))
    assert read(cgroup_file(layout, manager.path, "pids", "pids.max")) == "max"


def test_swap_limit_grows_and_shrinks_in_the_order_the_kernel_needs(
    manager: Manager, layout: CgroupLayout
) -> None:
    v2 = layout.layout == Layout.V2
    swap_file = cgroup_file(
        layout, manager.path, "memory", "memory.swap.max" if v2 else "memory.memsw.limit_in_bytes"
    )
    if not os.path.exists(swap_file):
        pytest.skip("this kernel does not account swap")
    steps = [(50 * MiB, 100 * MiB), (200 * MiB, 300 * MiB), (20 * MiB, 30 * MiB), (20 * MiB, 20 * MiB)]
    for memory, swap in steps:
        manager.apply(Resources(memory_limit=memory, memory_swap=swap))
        assert read(swap_file) == str(swap - memory if v2 else swap)
        assert manager.stats().memory_limit == memory
    manager.apply(Resources(memory_limit=-1))
    assert manager.stats().memory_limit is None
    assert read(swap_file) == ("max" if v2 else "9223372036854771712")


def test_swap_without_accounting_is_skipped_silently(manager: Manager, layout: CgroupLayout) -> None:
    # Whether or not the file exists, the request must not fail.
    manager.apply(Resources(memory_limit=30 * MiB, memory_swap=60 * MiB))
    assert manager.stats().memory_limit == 30 * MiB


def test_a_rejected_value_is_a_one_line_error_naming_the_file(manager: Manager, layout: CgroupLayout) -> None:
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(cpuset_cpus="50x"))
    cpus_file = cgroup_file(layout, manager.path, "cpuset", "cpuset.cpus")
    assert str(caught.value) == f"cannot write 50x to {cpus_file}: Invalid argument"


def test_missing_controller_is_a_one_line_error(
    make_manager: Callable[..., Manager], layout: CgroupLayout
) -> None:
    if layout.layout == Layout.V2:
        # Take pids away from a leaf by disabling it in its parent's subtree_control.
        outer = make_manager()
        inner = make_manager(f"{outer.path}/inner")
        with open(f"{outer.directories()[0]}/cgroup.subtree_control", "w") as f:
            f.write("-pids")
        manager = inner
    else:
        without_pids = {name: mp for name, mp in layout.v1.items() if name != "pids"}
        manager = make_manager(layout=layout._replace(v1=without_pids))
    manager.apply(Resources(memory_limit=30 * MiB))
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(pids_limit=5))
    if layout.layout == Layout.V2:
        expected = (
            f"the pids controller is not enabled for {manager.directories()[0]}: its parent's"
            " cgroup.subtree_control lacks it"
        )
    elif layout.layout == Layout.HYBRID:
        expected = (
            "the pids controller is not mounted on this host (not as a cgroup v1 hierarchy, nor in the"
            f" cgroup2 tree at {layout.unified})"
        )
    else:
        expected = "the pids controller is not mounted on this host"
    assert str(caught.value) == expected


def test_destroy_keeps_the_parent_and_is_idempotent(
    make_manager: Callable[..., Manager], layout: CgroupLayout
) -> None:
    manager = make_manager(create=False)
    manager.destroy()  # nothing there yet: fine
    manager.create()
    manager.destroy()
    manager.destroy()
    assert not any(os.path.exists(d) for d in manager.directories())
    assert all(os.path.isdir(os.path.dirname(d)) for d in manager.directories())


def test_nested_path_creates_missing_parents(make_manager: Callable[..., Manager]) -> None:
    outer_path = unique_path()
    outer = make_manager(outer_path, create=False)
    inner = make_manager(f"/{outer_path}/a/b/")
    assert inner.path == f"{outer_path}/a/b"
    assert all(os.path.isdir(d) for d in inner.directories())
    # Only the leaf goes with destroy(); the fixture removes the levels in between, innermost first.
    make_manager(f"{outer_path}/a", create=False)
    assert outer.path == outer_path
