"""The cgroup v2 manager: one directory, controllers enabled down the tree through cgroup.subtree_control."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.layout import CgroupLayout, detect
from hutch.cgroups.manager import Manager, kill_by_polling, new_stats, normalize_path, signal_all
from hutch.cgroups.resources import CgroupError, Resources, Stats
from hutch.cgroups.v2 import freezer, subtree
from hutch.cgroups.v2.cpu import Cpu
from hutch.cgroups.v2.cpuset import Cpuset
from hutch.cgroups.v2.devices import Devices
from hutch.cgroups.v2.hugetlb import Hugetlb
from hutch.cgroups.v2.io import Io
from hutch.cgroups.v2.memory import Memory, oom_kills
from hutch.cgroups.v2.pids import Pids
from hutch.cgroups.v2.rdma import Rdma
from hutch.cgroups.v2.unsupported import refuse_v1_only

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the start path
if TYPE_CHECKING:
    from hutch.cgroups.controller import Controller
    from hutch.cgroups.v2.oom import OomNotifier

CONTROLLERS: tuple[Controller, ...] = (Cpuset(), Cpu(), Pids(), Devices(), Io(), Hugetlb(), Rdma(), Memory())
# Enforced by a BPF program, not a cgroup.controllers entry: always there.
_WITHOUT_CONTROLLER_FILE = frozenset({"devices"})


class V2Manager(Manager):
    def __init__(self, path: str, layout: CgroupLayout | None = None) -> None:
        self.path = normalize_path(path)
        self.layout = layout or detect()
        if self.layout.unified is None:
            raise CgroupError("cgroup2 is not mounted")
        self.root = self.layout.unified
        self.directory = f"{self.root}/{self.path}"

    def directories(self) -> list[str]:
        return [self.directory]

    def create(self) -> None:
        wanted = self._wanted_controllers()
        current = self.root
        for part in self.path.split("/"):
            # Each level may only enable what its parent enabled, so go from the root down.
            subtree.enable(current, wanted)
            current = f"{current}/{part}"
            fs.make_dir(current)

    def _wanted_controllers(self) -> list[str]:
        available = fs.read(f"{self.root}/cgroup.controllers").split()
        return [c.name for c in CONTROLLERS if c.name in available]

    def apply(self, res: Resources) -> None:
        """Set what res names; a field v2 lacks or a controller that is off is refused before any write."""
        refuse_v1_only(res)
        enabled = fs.read(f"{self.directory}/cgroup.controllers").split()
        wanted = [c for c in CONTROLLERS if c.requested(res)]
        for controller in wanted:
            if controller.name not in enabled and controller.name not in _WITHOUT_CONTROLLER_FILE:
                raise self._unavailable(controller.name)
        if res.unified:
            from hutch.cgroups.v2 import unified

            refused = unified.first_unavailable(res.unified, enabled)
            if refused is not None:
                key, name = refused
                raise CgroupError(f"unified resource {key!r} cannot be set: {self._unavailable(name)}")
        for controller in wanted:
            controller.apply(self.directory, res)
        if res.unified:
            # Last, as runc: raw values override what the fields above wrote.
            unified.write(self.directory, res.unified)

    def _unavailable(self, name: str) -> CgroupError:
        if name not in fs.read(f"{self.root}/cgroup.controllers").split():
            return CgroupError(f"the {name} controller is missing from the cgroup2 root {self.root}")
        return CgroupError(
            f"the {name} controller is not enabled for {self.directory}: its parent's cgroup.subtree_control"
            " lacks it"
        )

    def stats(self, detailed: bool = False) -> Stats:
        out = new_stats(detailed)
        for controller in CONTROLLERS:
            controller.stats(self.directory, out)
        return out

    def oom_kills(self) -> int:
        return oom_kills(self.directory)

    def oom_notifier(self) -> OomNotifier:
        if not fs.exists(f"{self.directory}/memory.events"):
            raise CgroupError("cgroup controller 'memory' is not available")
        from hutch.cgroups.v2.oom import OomNotifier

        return OomNotifier(self.directory)

    def freeze(self, timeout: float = freezer.PAUSE_SECONDS) -> None:
        freezer.pause(self.directory, timeout)

    def thaw(self) -> None:
        if fs.exists(f"{self.directory}/cgroup.freeze"):  # kernels before 5.2 cannot have frozen it
            freezer.thaw(self.directory)

    def is_frozen(self) -> bool:
        return freezer.is_frozen(self.directory)

    def kill(self) -> None:
        if not fs.exists(self.directory):
            return
        kill_file = f"{self.directory}/cgroup.kill"
        if fs.exists(kill_file):
            # Linux 5.14+: the kernel kills the whole subtree atomically, forks included.
            fs.write(kill_file, "1")
        elif fs.exists(f"{self.directory}/cgroup.freeze"):
            self.kill_frozen()
        else:
            kill_by_polling(self.subtree_pids)

    def kill_frozen(self) -> None:
        """Kill for kernels 5.2-5.13: freeze so no pid is recycled between reading and signalling."""
        # If it does not freeze in time, kill anyway: a task stuck in the kernel must not stop the teardown.
        freezer.freeze(self.directory)
        try:
            signal_all(self.subtree_pids())
        finally:
            freezer.thaw(self.directory)
