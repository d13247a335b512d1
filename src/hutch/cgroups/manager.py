"""The Manager interface shared by the v1, v2 and hybrid managers, and the logic they have in common."""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os
import time

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from hutch.cgroups.layout import CgroupLayout
    from hutch.cgroups.v1.oom import OomNotifier

_EMPTY_TIMEOUT_SECONDS = 2.0
_KILL_ROUNDS = 20


def normalize_path(path: str) -> str:
    """The cgroup path relative to each hierarchy's root, without leading or trailing slashes."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise CgroupError(f"cgroup path {path!r} must not contain '..'")
    if not parts:
        raise CgroupError(f"cgroup path {path!r} names the root cgroup, which hutch never manages")
    return "/".join(parts)


def close_fds(fds: Iterable[int]) -> None:
    """Close what join_fds returned, once the child has used (or inherited) them."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def new_stats(detailed: bool) -> Stats:
    """An empty Stats for controllers to fill; detailed asks them for everything runc reports too."""
    if not detailed:
        return Stats()
    from hutch.cgroups.detail import StatsDetail

    return Stats(detail=StatsDetail())


def signal_all(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_by_polling(read_pids: Callable[[], list[int]]) -> None:
    """Without a freezer a task can fork while we kill; repeat until a read shows no unseen pid."""
    killed: set[int] = set()
    for _ in range(_KILL_ROUNDS):
        fresh = [pid for pid in read_pids() if pid not in killed]
        if not fresh:
            return
        signal_all(fresh)
        killed.update(fresh)


def _pids_of(cgroups: list[str]) -> list[int]:
    found: set[int] = set()
    for cgroup in cgroups:
        found.update(fs.read_pids(f"{cgroup}/cgroup.procs"))
    return sorted(found)


class Manager:
    """One cgroup, at the same path in every hierarchy the layout uses.

    Subclasses (V1Manager, HybridManager, V2Manager) supply what differs per layout; joining, listing
    and destroying look the same everywhere and live here. A plain base class rather than a Protocol
    keeps `typing` off the container start path.
    """

    path: str
    layout: CgroupLayout

    def directories(self) -> list[str]:
        """Absolute cgroup directories, one per hierarchy, with the memory hierarchy last."""
        raise NotImplementedError

    def create(self) -> None:
        """Make the directories and missing parents, ready for limits and processes; idempotent."""
        raise NotImplementedError

    def apply(self, res: Resources) -> None:
        raise NotImplementedError

    def stats(self, detailed: bool = False) -> Stats:
        """Usage counters; with detailed, also Stats.detail: everything runc's `events` reports."""
        raise NotImplementedError

    def oom_kills(self) -> int:
        raise NotImplementedError

    def oom_notifier(self) -> OomNotifier:
        """An object with fileno() (readable after an OOM), read() (OOM events since the last read, never
        blocking) and close(). CgroupError when the memory controller is missing."""
        raise NotImplementedError

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every process in the cgroup and below and wait until they are; if that does not finish
        within timeout, thaw again and raise CgroupError (also without a freezer)."""
        raise NotImplementedError

    def thaw(self) -> None:
        """Undo freeze(); nothing to do without a freezer."""
        raise NotImplementedError

    def is_frozen(self) -> bool:
        """Whether freeze() froze this cgroup (frozen only through an ancestor does not count)."""
        raise NotImplementedError

    def kill(self) -> None:
        """SIGKILL every process in the cgroup and below, without waiting for them to exit."""
        raise NotImplementedError

    def add_process(self, pid: int) -> None:
        for directory in self.directories():
            fs.write(f"{directory}/cgroup.procs", pid)

    def join_fds(self) -> list[int]:
        """cgroup.procs of every hierarchy opened for writing, memory last; the caller closes them.

        A child writes b"0" to each right before execve, so the runtime's own memory is never
        charged to the container: writing the memory hierarchy last keeps that window smallest.
        """
        fds: list[int] = []
        for directory in self.directories():
            path = f"{directory}/cgroup.procs"
            try:
                fds.append(os.open(path, os.O_WRONLY | os.O_CLOEXEC))
            except OSError as exc:
                close_fds(fds)
                raise CgroupError(f"cannot open {path}: {exc.strerror}", exc.errno) from None
        return fds

    def warmup_fd(self) -> int | None:
        """cgroup.procs of the caller's own cgroup, for a no-op migration that pays a kernel wait early.

        Every cgroup migration takes a global lock whose first writer waits for an RCU grace period (10-25 ms
        on this class of machine); writers within a grace period after that pass at once. Writing a process
        into the cgroup it already sits in changes nothing but pays that wait: done by the middle child while
        the init sets up mounts, it makes the init's late join cheap. None when there is no such file.
        """
        from hutch.cgroups.warmup import own_cgroup_procs

        found = own_cgroup_procs(self.layout)
        if found is None:
            return None
        try:
            return os.open(found, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return None

    def pids(self) -> list[int]:
        found: set[int] = set()
        for directory in self.directories():
            found.update(fs.read_pids(f"{directory}/cgroup.procs"))
        return sorted(found)

    def subtree_pids(self) -> list[int]:
        """Processes in the cgroup and in any cgroup the container created below it."""
        return _pids_of([cgroup for directory in self.directories() for cgroup in fs.subtree(directory)])

    def destroy(self) -> None:
        """Kill what runs in the cgroup, remove its directories and any cgroups below; the parents stay."""
        cgroups = [cgroup for directory in self.directories() for cgroup in fs.subtree(directory)]
        if not cgroups:
            return
        if _pids_of(cgroups):  # usually empty: the container's PID namespace died with its PID 1
            self.kill()
            self._wait_until_empty()
            # The container may have made more cgroups before it died: walk again.
            cgroups = [cgroup for directory in self.directories() for cgroup in fs.subtree(directory)]
        for cgroup in cgroups:  # deepest first within each hierarchy
            fs.remove_dir(cgroup)

    def _wait_until_empty(self) -> None:
        deadline = time.monotonic() + _EMPTY_TIMEOUT_SECONDS
        delay = 0.001
        seen: set[int] = set()
        while pids := self.subtree_pids():
            if time.monotonic() > deadline:
                return  # rmdir will then report EBUSY with the path
            # Only unseen pids: one that forked mid-kill in a hierarchy without freezer. Re-signalling
            # a pid already killed could hit an unrelated process that recycled it.
            fresh = [pid for pid in pids if pid not in seen]
            if fresh and seen:
                signal_all(fresh)
            seen.update(pids)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
