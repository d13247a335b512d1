"""A container as the lifecycle commands see it: its state, its status, its init and its cgroup.

The status is derived from facts each time, never trusted from the file: a dead creator means `stopped`, a PID
whose start time differs is someone else's process, a frozen cgroup is `paused`, and the init's start socket
exists exactly while it waits for `start`.
"""

from __future__ import annotations

import errno
import fcntl
import os

from hutch.linux import pidfd, proc
from hutch.oci.container.state import SOCKET_FILE, NotFound, State, StateDir
from hutch.oci.errors import ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups import Manager

CREATING, CREATED, RUNNING, PAUSED, STOPPED = "creating", "created", "running", "paused", "stopped"
RUNTIME_SPEC_VERSION = "1.2.0"


class Container:
    """An open container directory (locked unless opened for reading) and its loaded state."""

    def __init__(self, state_dir: StateDir, state: State | None) -> None:
        self.dir = state_dir
        self.state = state
        self._manager: Manager | None = None

    @classmethod
    def open(cls, root: str, container_id: str, lock: bool = True) -> Container:
        """Open for a command that acts (exclusive lock), or only reads (lock=False: state, list, ps)."""
        state_dir = StateDir.open(root, container_id) if lock else _open_unlocked(root, container_id)
        try:
            return cls(state_dir, state_dir.load())
        except BaseException:
            state_dir.close()
            raise

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.dir.close()

    @property
    def id(self) -> str:
        return self.dir.id

    # -- status ----------------------------------------------------------------------------------------

    def status(self) -> str:
        state = self.state
        if state is None or state.phase == CREATING:
            return CREATING if self._creator_alive() else STOPPED
        if not proc.is_running(state.pid, state.pid_start):
            return STOPPED
        if self._frozen():
            return PAUSED
        if os.path.lexists(f"{self.dir.path}/{SOCKET_FILE}"):
            return CREATED
        return RUNNING

    def _creator_alive(self) -> bool:
        """While create runs it holds the directory's lock; a free lock means it died."""
        if self.dir.locked:
            return False  # we got the lock, so no create holds it
        fd = os.open(self.dir.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return True
            raise
        finally:
            os.close(fd)
        return False

    def _frozen(self) -> bool:
        from hutch.cgroups.frozen import is_frozen

        try:
            return is_frozen(self.require_state().cgroup_path)
        except (OSError, ContainerError):
            return False

    # -- handles ---------------------------------------------------------------------------------------

    def require_state(self) -> State:
        if self.state is None:
            raise ContainerError(f"container {self.id} was never fully created: delete it with --force")
        return self.state

    def init(self) -> pidfd.Process | None:
        """A pidfd on the init while it is this container's (never a process that reused its PID)."""
        state = self.state
        if state is None or state.pid <= 0:
            return None
        return pidfd.open_verified(state.pid, state.pid_start)

    def manager(self) -> Manager:
        if self._manager is None:
            from hutch.cgroups import new_manager

            self._manager = new_manager(self.require_state().cgroup_path)
        return self._manager

    def oci_state(self, status: str | None = None, owner: str = "") -> dict:
        """The runtime-spec state document, with runc's extra rootfs, created and owner fields."""
        state = self.require_state()
        status = status or self.status()
        doc: dict[str, object] = {
            "ociVersion": RUNTIME_SPEC_VERSION,
            "id": state.id,
            "pid": state.pid if status in (CREATED, RUNNING, PAUSED) else 0,
            "status": status,
            "bundle": state.bundle,
            "rootfs": state.rootfs,
            "created": state.created,
        }
        if state.annotations:
            doc["annotations"] = state.annotations
        doc["owner"] = owner
        return doc


def _open_unlocked(root: str, container_id: str) -> StateDir:
    from hutch.oci.container.state import validate_id

    validate_id(container_id)
    try:
        fd = os.open(f"{root}/{container_id}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound() from None
    return StateDir(root, container_id, fd, locked=False)
