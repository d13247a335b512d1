"""Which cgroup layout the host runs (v1, v2 or hybrid) and where each hierarchy is mounted."""

from __future__ import annotations

from hutch.cgroups.resources import CgroupError
from hutch.linux import mountinfo
from hutch.record import Factory, Record

# Words in a v1 mount's super options that name a controller; the rest are mount flags.
V1_CONTROLLERS = frozenset(
    {
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "net_prio",
        "blkio",
        "perf_event",
        "hugetlb",
        "pids",
        "rdma",
        "misc",
    }
)


class Layout:
    """The three ways a host mounts cgroups (plain string constants: enum is not worth its import here)."""

    V1 = "v1"
    V2 = "v2"
    HYBRID = "hybrid"


class CgroupLayout(Record):
    layout: str  # one of Layout.V1, Layout.V2, Layout.HYBRID
    # Controller (or "name=systemd" for a named hierarchy) -> mount point; co-mounted controllers share one.
    v1: dict[str, str] = Factory(dict)
    # Mount point of the cgroup2 hierarchy, if any.
    unified: str | None = None

    def mountpoint(self, controller: str) -> str | None:
        return self.v1.get(controller)


_cached: CgroupLayout | None = None


def _v1_hierarchy_names(super_options: tuple[str, ...]) -> list[str]:
    return [opt for opt in super_options if opt in V1_CONTROLLERS or opt.startswith("name=")]


def _classify(mounts: list[mountinfo.Mount]) -> CgroupLayout:
    v1: dict[str, str] = {}
    unified: str | None = None
    for mount in mounts:
        if mount.fs_type == "cgroup2" and unified is None:
            unified = mount.mount_point
        elif mount.fs_type == "cgroup":
            for name in _v1_hierarchy_names(mount.super_options):
                # The first mount wins: later ones are usually bind mounts of the same hierarchy.
                v1.setdefault(name, mount.mount_point)
    has_v1_controllers = any(not name.startswith("name=") for name in v1)
    if has_v1_controllers:
        layout = Layout.HYBRID if unified is not None else Layout.V1
    elif unified is not None:
        layout = Layout.V2
    else:
        raise CgroupError("no cgroup filesystem is mounted")
    return CgroupLayout(layout, v1, unified)


def detect(mounts: list[mountinfo.Mount] | None = None) -> CgroupLayout:
    """Classify the given mounts, or this process's mounts (cached: they don't change under us)."""
    global _cached
    if mounts is not None:
        return _classify(mounts)
    if _cached is None:
        _cached = _classify(mountinfo.read())
    return _cached
