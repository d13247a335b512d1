"""Hybrid hosts' manager: v1 controllers, plus the same path in the cgroup2 tree and its controllers."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.layout import CgroupLayout
from hutch.cgroups.resources import CgroupError
from hutch.cgroups.v1.manager import V1Manager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.controller import Controller

# v1 names of controllers whose v2 counterpart is called differently.
_V2_NAMES = {"blkio": "io", "cpuacct": "cpu"}


def _v2_controller(name: str) -> Controller | None:
    # Imported only when a limit needs a controller that lives in the cgroup2 tree: rare, off the start path.
    from hutch.cgroups.v2.manager import CONTROLLERS

    wanted = _V2_NAMES.get(name, name)
    return next((c for c in CONTROLLERS if c.name == wanted), None)


class HybridManager(V1Manager):
    """As runc does: systemd and other tools on hybrid hosts look a process's cgroup up in the unified tree.

    Creating, joining and removing simply include one more directory. A controller that this host attaches to
    the cgroup2 tree instead of a v1 hierarchy (hugetlb here, when no v1 hierarchy has it) is used there, and
    enabled down to the cgroup only when a limit needs it: that is also where its processes are charged.
    Statistics stay the v1 hierarchies' alone, as runc reports them on such hosts.
    """

    def __init__(self, path: str, layout: CgroupLayout | None = None) -> None:
        super().__init__(path, layout)
        unified = self.layout.unified
        self._unified_dir = f"{unified}/{self.path}" if unified else None

    def directories(self) -> list[str]:
        v1 = super().directories()
        return v1 if self._unified_dir is None else [self._unified_dir, *v1]

    def _unified_controllers(self) -> list[str]:
        """Controllers the cgroup2 root offers; on a hybrid host none of them is in a v1 hierarchy."""
        root = self.layout.unified
        return fs.read(f"{root}/cgroup.controllers").split() if root else []

    def _target(self, controller: Controller) -> tuple[Controller, str]:
        if controller.name in self._dirs or self._unified_dir is None:
            return super()._target(controller)
        v2_name = _V2_NAMES.get(controller.name, controller.name)
        implementation = _v2_controller(controller.name)
        if implementation is None or v2_name not in self._unified_controllers():
            raise CgroupError(
                f"the {controller.name} controller is not mounted on this host (not as a cgroup v1 hierarchy,"
                f" nor in the cgroup2 tree at {self.layout.unified})"
            )
        self._enable([v2_name])
        return implementation, self._unified_dir

    def _enable(self, names: list[str]) -> None:
        """Enable the controllers from the hierarchy's first level down to the cgroup. The root's own
        cgroup.subtree_control is the host's: it must already delegate them (as systemd's does), hutch never
        changes it."""
        from hutch.cgroups.v2 import subtree

        root = self.layout.unified
        assert root is not None
        delegated = fs.read(f"{root}/cgroup.subtree_control").split()
        missing = [name for name in names if name not in delegated]
        if missing:
            raise CgroupError(
                f"the {' and '.join(missing)} controller is in this host's cgroup2 tree ({root}), but its "
                "root does not delegate it (cgroup.subtree_control), and hutch leaves the host's root alone")
        top, _, rest = self.path.partition("/")
        if rest:
            subtree.enable_down_to(f"{root}/{top}", rest, names)

    def _prepare_unified(self, values: dict[str, str]) -> None:
        root = self.layout.unified
        if root is None:
            super()._prepare_unified(values)
            return
        from hutch.cgroups.v2 import unified

        available = self._unified_controllers()
        refused = unified.first_unavailable(values, available)
        if refused is not None:
            key, name = refused
            where = "a cgroup v1 hierarchy has it" if name in self.layout.v1 else "no such controller exists"
            offered = " and ".join(["cgroup.*", *(f"{c}.*" for c in available)])
            raise CgroupError(
                f"unified resource {key!r} cannot be set on this hybrid host: {where}, and only {offered}"
                f" files are in its cgroup2 tree ({root})"
            )
        needed = sorted({unified.controller_of(key) for key in values} - {"cgroup"})
        if needed:
            self._enable(needed)

    def _write_unified(self, values: dict[str, str]) -> None:
        from hutch.cgroups.v2 import unified

        assert self._unified_dir is not None
        unified.write(self._unified_dir, values)
