"""The cgroup v1 manager: one directory per controller hierarchy, each limit written by its controller."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.layout import CgroupLayout, detect
from hutch.cgroups.manager import Manager, kill_by_polling, new_stats, normalize_path, signal_all
from hutch.cgroups.resources import CgroupError, Resources, Stats
from hutch.cgroups.v1 import freezer
from hutch.cgroups.v1.blkio import Blkio
from hutch.cgroups.v1.cpu import Cpu
from hutch.cgroups.v1.cpuacct import CpuAcct
from hutch.cgroups.v1.cpuset import Cpuset, inherit_from_parent
from hutch.cgroups.v1.devices import Devices
from hutch.cgroups.v1.freezer import Freezer
from hutch.cgroups.v1.hugetlb import Hugetlb
from hutch.cgroups.v1.memory import Memory, oom_kills
from hutch.cgroups.v1.network import NetCls, NetPrio
from hutch.cgroups.v1.pids import Pids
from hutch.cgroups.v1.rdma import Rdma

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the start path
if TYPE_CHECKING:
    from hutch.cgroups.controller import Controller
    from hutch.cgroups.v1.oom import OomNotifier

# Memory last: join_fds follows this order (see Manager.join_fds).
CONTROLLERS: tuple[Controller, ...] = (
    Cpuset(), Cpu(), CpuAcct(), Pids(), Freezer(), Devices(), Blkio(), Hugetlb(), NetCls(), NetPrio(), Rdma(),
    Memory(),
)


class V1Manager(Manager):
    def __init__(self, path: str, layout: CgroupLayout | None = None) -> None:
        self.path = normalize_path(path)
        self.layout = layout or detect()
        # Controller -> its directory, for the controllers this host mounts.
        self._dirs: dict[str, str] = {}
        for controller in CONTROLLERS:
            mountpoint = self.layout.mountpoint(controller.name)
            if mountpoint is not None:
                self._dirs[controller.name] = f"{mountpoint}/{self.path}"

    def directories(self) -> list[str]:
        # Co-mounted controllers (cpu,cpuacct) share a directory: list it once, at its last position.
        ordered: list[str] = []
        for directory in self._dirs.values():
            if directory in ordered:
                ordered.remove(directory)
            ordered.append(directory)
        return ordered

    def create(self) -> None:
        cpuset_dir = self._dirs.get("cpuset")
        for directory in self.directories():
            mountpoint = directory[: -len(self.path) - 1]
            self._make_dirs(mountpoint, initialise_cpuset=directory == cpuset_dir)

    def _make_dirs(self, mountpoint: str, initialise_cpuset: bool) -> None:
        current = mountpoint
        for part in self.path.split("/"):
            current = f"{current}/{part}"
            fs.make_dir(current)
            # Existing levels too: a run that died between mkdir and the copy left them empty.
            if initialise_cpuset:
                inherit_from_parent(current)

    def apply(self, res: Resources) -> None:
        """Set what res names; a controller res needs but the host lacks is an error before any write."""
        plan = [self._target(controller) for controller in CONTROLLERS if controller.requested(res)]
        if res.unified:
            self._prepare_unified(res.unified)
        for controller, directory in plan:
            controller.apply(directory, res)
        if res.unified:
            self._write_unified(res.unified)

    def _target(self, controller: Controller) -> tuple[Controller, str]:
        """The controller implementation to use and the directory it writes."""
        directory = self._dirs.get(controller.name)
        if directory is None:
            raise CgroupError(f"the {controller.name} controller is not mounted on this host")
        return controller, directory

    def _prepare_unified(self, values: dict[str, str]) -> None:
        raise CgroupError("unified resources (cgroup v2 files) cannot be set: this host has only cgroup v1")

    def _write_unified(self, values: dict[str, str]) -> None:
        raise NotImplementedError  # _prepare_unified refused already

    def stats(self, detailed: bool = False) -> Stats:
        out = new_stats(detailed)
        for controller in CONTROLLERS:
            directory = self._dirs.get(controller.name)
            if directory is not None:
                controller.stats(directory, out)
        return out

    def oom_kills(self) -> int:
        directory = self._dirs.get("memory")
        return oom_kills(directory) if directory is not None else 0

    def oom_notifier(self) -> OomNotifier:
        from hutch.cgroups.v1.oom import OomNotifier

        return OomNotifier(self._controller_dir("memory"))

    def freeze(self, timeout: float = freezer.PAUSE_SECONDS) -> None:
        freezer.pause(self._controller_dir("freezer"), timeout)

    def thaw(self) -> None:
        directory = self._dirs.get("freezer")
        if directory is not None:  # without a freezer nothing can be frozen
            freezer.thaw(directory)

    def is_frozen(self) -> bool:
        directory = self._dirs.get("freezer")
        return directory is not None and freezer.is_frozen(directory)

    def _controller_dir(self, name: str) -> str:
        directory = self._dirs.get(name)
        if directory is None:
            raise CgroupError(f"cgroup controller {name!r} is not available")
        return directory

    def kill(self) -> None:
        freezer_dir = self._dirs.get("freezer")
        if freezer_dir is None or not fs.exists(freezer_dir):
            kill_by_polling(self.subtree_pids)
            return
        # Frozen tasks can neither exit nor fork, so no pid we read can be recycled before the signal lands.
        # The v1 freezer is hierarchical: cgroups the container made below are frozen too.
        freezer.freeze(freezer_dir)
        try:
            signal_all(self.subtree_pids())
        finally:
            freezer.thaw(freezer_dir)
