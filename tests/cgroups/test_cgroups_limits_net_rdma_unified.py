"""net_cls, net_prio, rdma and raw unified (cgroup v2) resources; controllers a host lacks are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cglimits import MiB, in_throwaway_vm, limit_file, read, run

from hutch.cgroups import CgroupError, CgroupLayout, Layout, Manager, Resources
from hutch.cgroups.resources import InterfacePriority, RdmaLimit

FORM = "CONTROLLER.PARAMETER"


def test_v1_network_controllers_are_refused_when_not_mounted(manager: Manager, layout: CgroupLayout) -> None:
    requests = {"net_cls": Resources(net_cls_classid=0x100001), "net_prio": Resources(
        net_prio_ifpriomap=[InterfacePriority("lo", 5)]
    )}
    for name, res in requests.items():
        if layout.mountpoint(name) is not None:
            continue  # a host that mounts it: see the positive test below
        with pytest.raises(CgroupError) as caught:
            manager.apply(res)
        if layout.layout == Layout.V2:
            expected = f"the {name} controller exists only in cgroup v1, not on this cgroup v2 host"
        else:
            expected = (
                f"the {name} controller is not mounted on this host (not as a cgroup v1 hierarchy, nor in the"
                f" cgroup2 tree at {layout.unified})"
            )
        assert str(caught.value) == expected


def test_a_missing_controller_fails_before_any_write(manager: Manager, layout: CgroupLayout) -> None:
    """The whole request is checked first: no half-applied update."""
    pids_max = limit_file(layout, manager, "pids", "pids.max")
    with pytest.raises(CgroupError, match="net_cls"):
        manager.apply(Resources(pids_limit=7, net_cls_classid=1))
    assert read(pids_max) == "max"


# Run in a private mount namespace (unshare -m): a net_cls,net_prio v1 hierarchy, made and removed there.
# The kernel frees an unmounted v1 hierarchy only if its root had no children at umount, and removed cgroups
# leave their parent's list asynchronously: wait for that, and check the hierarchy is gone at the end.
NETWORK_IN_A_PRIVATE_HIERARCHY = """
import json, os, subprocess, sys, time
from hutch.cgroups import CgroupLayout, Layout, Resources, new_manager
from hutch.cgroups.resources import InterfacePriority
mountpoint, path = sys.argv[1], sys.argv[2]

def net_cls_hierarchy():
    with open("/proc/cgroups") as f:
        fields = next(line.split() for line in f if line.startswith("net_cls\t"))
    return int(fields[1]), int(fields[2])

def wait_for(done):
    deadline = time.monotonic() + 10
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)
    return done()

mount = ["mount", "-t", "cgroup", "-o", "net_cls,net_prio", "hutch-test", mountpoint]
if subprocess.run(mount).returncode != 0:
    sys.exit(77)
try:
    layout = CgroupLayout(Layout.V1, {"net_cls": mountpoint, "net_prio": mountpoint}, None)
    manager = new_manager(path, layout)
    try:
        manager.create()
        manager.apply(Resources(net_cls_classid=0x100001, net_prio_ifpriomap=[InterfacePriority("lo", 5)]))
        directory = manager.directories()[0]
        with open(directory + "/net_cls.classid") as f:
            classid = f.read().strip()
        with open(directory + "/net_prio.ifpriomap") as f:
            priorities = f.read().split("\\n")
        print(json.dumps({"classid": classid, "priorities": priorities}))
    finally:
        manager.destroy()
        os.rmdir(mountpoint + "/" + path.split("/")[0])
        wait_for(lambda: net_cls_hierarchy()[1] == 1)
finally:
    subprocess.run(["umount", mountpoint], check=True)
for _ in range(5):
    if wait_for(lambda: net_cls_hierarchy()[0] == 0):
        break
    subprocess.run(mount, check=True)  # unmounting again, now childless, frees it
    subprocess.run(["umount", mountpoint], check=True)
else:
    sys.exit("the net_cls,net_prio hierarchy outlived its mount")
"""


def test_v1_network_controllers_in_a_private_hierarchy(tmp_path: Path, layout: CgroupLayout) -> None:
    if layout.layout == Layout.V2 or "net_cls" in layout.v1:
        pytest.skip("needs v1 net_cls and net_prio that no hierarchy of this host uses")
    mountpoint = tmp_path / "net"
    mountpoint.mkdir()
    script = NETWORK_IN_A_PRIVATE_HIERARCHY
    command = ["unshare", "-m", "--propagation", "private", sys.executable, "-c", script, str(mountpoint),
               "hutch/test-net"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode == 77:
        pytest.skip(f"this kernel refuses a v1 net_cls,net_prio hierarchy: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["classid"] == str(0x100001)
    assert "lo 5" in found["priorities"]


@pytest.fixture
def rdma_device() -> Iterator[str | None]:
    """In the throw-away VM: a soft-RoCE device on a dummy interface, removed afterwards; else None."""
    if not in_throwaway_vm():
        yield None
        return
    run("modprobe", "rdma_rxe")
    if run("ip", "link", "add", "hutch-d0", "type", "dummy").returncode != 0:
        pytest.skip("no dummy network device")
    try:
        run("ip", "link", "set", "hutch-d0", "up")
        added = run("rdma", "link", "add", "hutchrxe0", "type", "rxe", "netdev", "hutch-d0")
        if added.returncode != 0:
            pytest.skip(f"no soft-RoCE: {added.stderr.strip()}")
        try:
            yield "hutchrxe0"
        finally:
            run("rdma", "link", "delete", "hutchrxe0")
    finally:
        run("ip", "link", "delete", "hutch-d0")


def test_rdma_limits(manager: Manager, layout: CgroupLayout, rdma_device: str | None) -> None:
    available = layout.mountpoint("rdma") is not None or (
        layout.unified is not None and "rdma" in read(f"{layout.unified}/cgroup.controllers").split()
    )
    if not available:
        with pytest.raises(CgroupError) as caught:
            manager.apply(Resources(rdma={"mlx4_0": RdmaLimit(2, 2000)}))
        assert str(caught.value).startswith("the rdma controller is not mounted on this host")
        return
    rdma_max = limit_file(layout, manager, "rdma", "rdma.max")
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(rdma={"hutch-absent0": RdmaLimit(2, 2000)}))
    assert str(caught.value) == (
        f"cannot write hutch-absent0 hca_handle=2 hca_object=2000 to {rdma_max}: this host has no RDMA device"
        " 'hutch-absent0'"
    )
    if rdma_device is None:
        return
    manager.apply(Resources(rdma={rdma_device: RdmaLimit(2, 2000)}))
    assert read(rdma_max) == f"{rdma_device} hca_handle=2 hca_object=2000"
    manager.apply(Resources(rdma={rdma_device: RdmaLimit(hca_handles=3)}))  # the other stays
    assert read(rdma_max) == f"{rdma_device} hca_handle=3 hca_object=2000"


def test_unified_on_v2_overrides_the_fields(manager: Manager, layout: CgroupLayout) -> None:
    if layout.layout != Layout.V2:
        pytest.skip("cgroup v2 only")
    manager.apply(Resources(pids_limit=5, unified={"pids.max": "7", "memory.high": str(64 * MiB)}))
    assert read(limit_file(layout, manager, "pids", "pids.max")) == "7"
    assert read(limit_file(layout, manager, "memory", "memory.high")) == str(64 * MiB)
    manager.apply(Resources(unified={"cgroup.max.descendants": "3"}))
    assert read(limit_file(layout, manager, "pids", "cgroup.max.descendants")) == "3"


def test_unified_refusals_on_v2(make_manager: Callable[..., Manager], layout: CgroupLayout) -> None:
    if layout.layout != Layout.V2:
        pytest.skip("cgroup v2 only")
    outer = make_manager()
    manager = make_manager(f"{outer.path}/inner")
    directory = manager.directories()[0]
    with open(f"{outer.directories()[0]}/cgroup.subtree_control", "w") as f:
        f.write("-pids")
    for key in ("pids/../x", "pids", ".max", "pids."):
        with pytest.raises(CgroupError) as caught:
            manager.apply(Resources(unified={key: "1"}))
        assert str(caught.value) == f"unified resource {key!r} must be a file name of the form {FORM}"
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(memory_limit=64 * MiB, unified={"pids.max": "3"}))
    assert str(caught.value) == (
        f"unified resource 'pids.max' cannot be set: the pids controller is not enabled for {directory}: its"
        " parent's cgroup.subtree_control lacks it"
    )
    assert read(f"{directory}/memory.max") == "max"  # refused before anything was written
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(unified={"memory.nonsense": "1"}))
    assert str(caught.value) == (
        f"unified resource 'memory.nonsense' cannot be set: {directory}/memory.nonsense does not exist"
    )


def test_unified_on_a_hybrid_host_reaches_only_cgroup2(manager: Manager, layout: CgroupLayout) -> None:
    if layout.layout != Layout.HYBRID:
        pytest.skip("a hybrid host")
    unified_dir = f"{layout.unified}/{manager.path}"
    manager.apply(Resources(unified={"cgroup.max.descendants": "3"}))
    assert read(f"{unified_dir}/cgroup.max.descendants") == "3"
    offered = read(f"{layout.unified}/cgroup.controllers").split()
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(pids_limit=9, unified={"memory.high": "1G"}))
    files = " and ".join(["cgroup.*", *(f"{c}.*" for c in offered)])
    assert str(caught.value) == (
        "unified resource 'memory.high' cannot be set on this hybrid host: a cgroup v1 hierarchy has it, and"
        f" only {files} files are in its cgroup2 tree ({layout.unified})"
    )
    assert read(limit_file(layout, manager, "pids", "pids.max")) == "max"
    if "hugetlb" in read(f"{layout.unified}/cgroup.subtree_control").split():
        manager.apply(Resources(unified={"hugetlb.2MB.max": str(4 * MiB)}))
        assert read(f"{unified_dir}/hugetlb.2MB.max") == str(4 * MiB)
    elif "hugetlb" in offered:
        with pytest.raises(CgroupError) as caught:
            manager.apply(Resources(unified={"hugetlb.2MB.max": str(4 * MiB)}))
        assert "root does not delegate it" in str(caught.value)


def test_unified_is_refused_on_cgroup_v1(make_manager: Callable[..., Manager], layout: CgroupLayout) -> None:
    if layout.layout == Layout.V2:
        pytest.skip("needs v1 hierarchies")
    manager = make_manager(layout=layout._replace(layout=Layout.V1, unified=None))
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(unified={"memory.high": "1G"}))
    assert str(caught.value) == (
        "unified resources (cgroup v2 files) cannot be set: this host has only cgroup v1"
    )


def test_rdma_is_refused_where_no_hierarchy_has_it(
    make_manager: Callable[..., Manager], layout: CgroupLayout
) -> None:
    if layout.layout == Layout.V2 or layout.mountpoint("rdma") is not None:
        pytest.skip("needs v1 hierarchies without rdma")
    manager = make_manager(layout=layout._replace(layout=Layout.V1, unified=None))
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(rdma={"mlx4_0": RdmaLimit(1)}))
    assert str(caught.value) == "the rdma controller is not mounted on this host"
