"""Block I/O weights and throttles (v1 blkio, v2 io) and huge page limits, read back from the kernel."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cglimits import MiB, in_throwaway_vm, limit_file, lines, read, run, whole_disk

from hutch.cgroups import CgroupError, CgroupLayout, Layout, Manager, Resources
from hutch.cgroups.resources import HugepageLimit, ThrottleDevice, WeightDevice
from hutch.cgroups.v2.io import blkio_weight_to_io_weight


def io_controller(layout: CgroupLayout) -> str:
    return "io" if layout.layout == Layout.V2 else "blkio"


def test_blkio_weight_conversion_matches_runc() -> None:
    # runc's ConvertBlkIOToIOWeightValue: [10, 1000] onto [1, 10000].
    assert [blkio_weight_to_io_weight(w) for w in (10, 100, 500, 1000)] == [1, 910, 4950, 10000]


def test_weight(manager: Manager, layout: CgroupLayout) -> None:
    """The default weight: CFQ's or BFQ's file on v1; io.bfq.weight (same scale) or io.weight (converted)."""
    directory = os.path.dirname(limit_file(layout, manager, io_controller(layout), "x"))
    candidates = ["blkio.weight", "blkio.bfq.weight", "io.bfq.weight", "io.weight"]
    present = [name for name in candidates if os.path.exists(f"{directory}/{name}")]
    if not present:
        with pytest.raises(CgroupError, match="cannot set a block I/O weight"):
            manager.apply(Resources(blkio_weight=300))
        return
    manager.apply(Resources(blkio_weight=300))
    expected = str(blkio_weight_to_io_weight(300)) if present[0] == "io.weight" else "300"
    # v2's files print "default N" first, then per-device lines.
    assert read(f"{directory}/{present[0]}").splitlines()[0].split()[-1] == expected


def test_leaf_weight_needs_cfq_and_is_left_out_without_it(manager: Manager, layout: CgroupLayout) -> None:
    leaf = limit_file(layout, manager, io_controller(layout), "blkio.leaf_weight")
    manager.apply(Resources(blkio_leaf_weight=200, blkio_weight_device=[WeightDevice(7, 0, leaf_weight=200)]))
    if os.path.exists(leaf):  # CFQ: a kernel before 5.0
        assert read(leaf) == "200"


@pytest.fixture
def disk() -> tuple[str, int, int]:
    found = whole_disk()
    if found is None:
        pytest.skip("no whole block device on this machine")
    return found


def test_throttles_are_set_updated_and_lifted(
    manager: Manager, layout: CgroupLayout, disk: tuple[str, int, int]
) -> None:
    _, major, minor = disk
    device = f"{major}:{minor}"
    manager.apply(
        Resources(
            blkio_throttle_read_bps=[ThrottleDevice(major, minor, MiB)],
            blkio_throttle_write_bps=[ThrottleDevice(major, minor, 2 * MiB)],
            blkio_throttle_read_iops=[ThrottleDevice(major, minor, 100)],
            blkio_throttle_write_iops=[ThrottleDevice(major, minor, 50)],
        )
    )
    if layout.layout == Layout.V2:
        io_max = limit_file(layout, manager, "io", "io.max")
        assert lines(io_max) == [f"{device} rbps={MiB} wbps={2 * MiB} riops=100 wiops=50"]
        # An update names only what changes; 0 lifts a cap, as in v1 (io.max itself would refuse 0).
        manager.apply(Resources(blkio_throttle_write_iops=[ThrottleDevice(major, minor, 0)]))
        assert lines(io_max) == [f"{device} rbps={MiB} wbps={2 * MiB} riops=100 wiops=max"]
        zero = ThrottleDevice(major, minor, 0)
        lifted = Resources(
            blkio_throttle_read_bps=[zero], blkio_throttle_write_bps=[zero], blkio_throttle_read_iops=[zero]
        )
        manager.apply(lifted)
        assert lines(io_max) == []
        return

    def throttle(name: str) -> list[str]:
        return lines(limit_file(layout, manager, "blkio", f"blkio.throttle.{name}_device"))

    assert throttle("read_bps") == [f"{device} {MiB}"]
    assert throttle("write_bps") == [f"{device} {2 * MiB}"]
    assert throttle("read_iops") == [f"{device} 100"]
    assert throttle("write_iops") == [f"{device} 50"]
    manager.apply(Resources(blkio_throttle_read_bps=[ThrottleDevice(major, minor, 0)]))
    assert throttle("read_bps") == []
    assert throttle("write_iops") == [f"{device} 50"]


def test_a_throttle_on_a_missing_device_names_the_file(manager: Manager, layout: CgroupLayout) -> None:
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(blkio_throttle_read_bps=[ThrottleDevice(259, 999_999, MiB)]))
    name = "io.max" if layout.layout == Layout.V2 else "blkio.throttle.read_bps_device"
    path = limit_file(layout, manager, io_controller(layout), name)
    value = f"259:999999 rbps={MiB}" if layout.layout == Layout.V2 else f"259:999999 {MiB}"
    assert str(caught.value) == f"cannot write {value} to {path}: No such device"


@pytest.fixture
def bfq_loop_device() -> Iterator[tuple[int, int] | None]:
    """In the throw-away VM: a loop device scheduled by BFQ, the scheduler restored afterwards; else None."""
    if not in_throwaway_vm():
        yield None
        return
    run("modprobe", "loop")
    run("modprobe", "bfq")
    scheduler = "/sys/block/loop0/queue/scheduler"
    if not os.path.exists(scheduler):
        pytest.skip("no loop device in the VM")
    before = read(scheduler).split("[")[1].split("]")[0]
    with open(scheduler, "w") as f:
        f.write("bfq")
    try:
        major, minor = read("/sys/block/loop0/dev").split(":")
        yield int(major), int(minor)
    finally:
        with open(scheduler, "w") as f:
            f.write(before)


def test_per_device_weight(
    manager: Manager, layout: CgroupLayout, bfq_loop_device: tuple[int, int] | None
) -> None:
    if bfq_loop_device is None:
        # Here no disk runs BFQ (changing a host's scheduler is not a test's business): the refusal says why.
        name, major, minor = whole_disk(("loop",)) or pytest.skip("no block device")
        if "[bfq]" in read(f"/sys/block/{name}/queue/scheduler"):
            pytest.skip(f"{name} already runs BFQ")
        with pytest.raises(CgroupError, match=f"^cannot set I/O weight 200 for device {major}:{minor} in .*"
                           "the device's I/O scheduler has no per-cgroup weights"):
            manager.apply(Resources(blkio_weight_device=[WeightDevice(major, minor, 200)]))
        return
    major, minor = bfq_loop_device
    manager.apply(Resources(blkio_weight=300, blkio_weight_device=[WeightDevice(major, minor, 200)]))
    bfq = limit_file(layout, manager, io_controller(layout), "io.bfq.weight")
    assert lines(bfq) == ["default 300", f"{major}:{minor} 200"]


def hugetlb_ready(manager: Manager, layout: CgroupLayout) -> str:
    """The directory hugetlb limits go to, or skip when the kernel has no hugetlb controller at all."""
    if layout.layout == Layout.V2:
        root_controllers = read(f"{layout.unified}/cgroup.controllers").split()
    elif layout.mountpoint("hugetlb") is None:
        root_controllers = read(f"{layout.unified}/cgroup.controllers").split() if layout.unified else []
    else:
        root_controllers = ["hugetlb"]
    if "hugetlb" not in root_controllers:
        pytest.skip("no hugetlb controller on this host")
    hybrid_v2 = layout.layout == Layout.HYBRID and layout.mountpoint("hugetlb") is None
    if hybrid_v2 and not _root_delegates_hugetlb(layout):
        pytest.skip("the cgroup2 root does not delegate hugetlb (see test_hybrid_hugetlb_needs_...)")
    return os.path.dirname(limit_file(layout, manager, "hugetlb", "x"))


def _root_delegates_hugetlb(layout: CgroupLayout) -> bool:
    return "hugetlb" in read(f"{layout.unified}/cgroup.subtree_control").split()


def test_hybrid_hugetlb_needs_the_roots_delegation(manager: Manager, layout: CgroupLayout) -> None:
    """The root's cgroup.subtree_control is the host's: without hugetlb there, a limit is refused, and the
    root is left as it was."""
    if layout.layout != Layout.HYBRID or layout.mountpoint("hugetlb") is not None:
        pytest.skip("a hybrid host with hugetlb only in its cgroup2 tree")
    offered = read(f"{layout.unified}/cgroup.controllers").split()
    if "hugetlb" not in offered or _root_delegates_hugetlb(layout):
        pytest.skip("the cgroup2 root already delegates hugetlb (or has none)")
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(hugepage_limits=[HugepageLimit("2MB", 4 * MiB)]))
    assert "root does not delegate it" in str(caught.value)
    assert not _root_delegates_hugetlb(layout)


def test_hugepage_limits_with_their_reservation_limits(manager: Manager, layout: CgroupLayout) -> None:
    # On a hybrid host whose hugetlb is in the cgroup2 tree, the limit goes there (enabled on demand).
    directory = hugetlb_ready(manager, layout)
    suffix = "max" if directory.startswith(f"{layout.unified}/") else "limit_in_bytes"
    manager.apply(Resources(hugepage_limits=[HugepageLimit("2MB", 4 * MiB), HugepageLimit("1GB", 0)]))
    assert read(f"{directory}/hugetlb.2MB.{suffix}") == str(4 * MiB)
    assert read(f"{directory}/hugetlb.1GB.{suffix}") == "0"
    if os.path.exists(f"{directory}/hugetlb.2MB.rsvd.{suffix}"):  # Linux 5.7+: runc sets both
        assert read(f"{directory}/hugetlb.2MB.rsvd.{suffix}") == str(4 * MiB)
    # The update path: a new value replaces the old.
    manager.apply(Resources(hugepage_limits=[HugepageLimit("2MB", 8 * MiB)]))
    assert read(f"{directory}/hugetlb.2MB.{suffix}") == str(8 * MiB)


def test_an_unknown_page_size_lists_the_real_ones(manager: Manager, layout: CgroupLayout) -> None:
    directory = hugetlb_ready(manager, layout)
    for size in ("3MB", "../2MB", "2MB/x"):
        with pytest.raises(CgroupError) as caught:
            manager.apply(Resources(hugepage_limits=[HugepageLimit(size, MiB)]))
        assert str(caught.value).startswith(f"unsupported huge page size {size!r}: {directory} has ")
        assert "2MB" in str(caught.value).rsplit(" has ", 1)[1]
