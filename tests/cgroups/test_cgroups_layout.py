"""Layout detection: mountinfo samples for v1, v2 and hybrid hosts, and the real host."""

from __future__ import annotations

import os

import pytest

from hutch.cgroups import CgroupError, Layout, detect_layout
from hutch.linux import mountinfo

V1_HOST = """\
25 30 0:23 / /sys rw,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
27 26 0:25 / /sys/fs/cgroup/systemd rw,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
28 26 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
29 26 0:27 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
30 26 0:28 / /sys/fs/cgroup/pids rw,relatime shared:13 - cgroup cgroup rw,pids
31 26 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
32 26 0:30 / /sys/fs/cgroup/cpuset rw,relatime shared:15 - cgroup cgroup rw,cpuset,clone_children
"""

V2_HOST = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 30 0:23 / /sys rw,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""

HYBRID_HOST = """\
26 25 0:24 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
27 26 0:25 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
28 26 0:26 / /sys/fs/cgroup/systemd rw,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
29 26 0:27 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
30 26 0:28 / /sys/fs/cgroup/freezer rw,relatime shared:13 - cgroup cgroup rw,freezer
"""

# A v2 host where something (an old container tool) still mounts systemd's named v1 hierarchy.
V2_WITH_NAMED_V1 = V2_HOST + (
    "40 26 0:40 / /run/systemd-v1 rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
)

NO_CGROUPS = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"


def test_v1_host_maps_comounted_controllers_to_one_mountpoint() -> None:
    found = detect_layout(mountinfo.parse(V1_HOST))
    assert found.layout == Layout.V1
    assert found.unified is None
    assert found.mountpoint("cpu") == found.mountpoint("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct"
    assert found.mountpoint("memory") == "/sys/fs/cgroup/memory"
    assert found.mountpoint("net_prio") == "/sys/fs/cgroup/net_cls,net_prio"
    assert found.mountpoint("name=systemd") == "/sys/fs/cgroup/systemd"
    # Mount flags in the super options are not controllers.
    assert found.mountpoint("clone_children") is None
    assert found.mountpoint("rw") is None
    assert found.mountpoint("xattr") is None


def test_v2_host() -> None:
    found = detect_layout(mountinfo.parse(V2_HOST))
    assert found.layout == Layout.V2
    assert found.unified == "/sys/fs/cgroup"
    assert found.v1 == {}


def test_hybrid_host() -> None:
    found = detect_layout(mountinfo.parse(HYBRID_HOST))
    assert found.layout == Layout.HYBRID
    assert found.unified == "/sys/fs/cgroup/unified"
    assert found.mountpoint("memory") == "/sys/fs/cgroup/memory"
    assert found.mountpoint("freezer") == "/sys/fs/cgroup/freezer"
    assert found.mountpoint("pids") is None


def test_a_named_v1_hierarchy_alone_does_not_make_a_host_hybrid() -> None:
    assert detect_layout(mountinfo.parse(V2_WITH_NAMED_V1)).layout == Layout.V2


def test_no_cgroup_mount_is_a_one_line_error() -> None:
    with pytest.raises(CgroupError) as caught:
        detect_layout(mountinfo.parse(NO_CGROUPS))
    assert str(caught.value) == "no cgroup filesystem is mounted"


def test_detects_the_real_host() -> None:
    found = detect_layout()
    # Evidence independent of the parser: the files each layout puts under /sys/fs/cgroup.
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        expected = Layout.V2
    elif os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers"):
        expected = Layout.HYBRID
    else:
        expected = Layout.V1
    assert found.layout is expected
    assert detect_layout() is found  # cached: one mountinfo read per process
    if expected is not Layout.V2:
        assert os.path.exists(f"{found.mountpoint('memory')}/memory.limit_in_bytes")
