"""A container's state directory under the runtime root: claimed atomically, locked, written atomically.

    <root>/<id>/            mode 0700; its creation (mkdir) claims the ID
    <root>/<id>/state.json  the State record, replaced by rename so a reader never sees half of it
    <root>/<id>/init.sock   while the container is `created`: the init waits there for `start`

Every command on one container holds an flock on the directory, so concurrent calls are serialised; a reader
that waited for the lock re-checks that the directory still exists (a `delete` may have removed it meanwhile).
"""

from __future__ import annotations

import errno
import fcntl
import os

from hutch import jsonlite
from hutch.files import write_atomic
from hutch.oci.errors import ContainerError
from hutch.record import Factory, Record

DEFAULT_ROOT = "/run/hutch"
STATE_FILE = "state.json"
SOCKET_FILE = "init.sock"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
_MAX_ID = 1024


class NotFound(ContainerError):
    def __init__(self) -> None:
        super().__init__("container does not exist")


class State(Record):
    """What a container's later commands need; written by create, updated by start and update."""

    id: str
    bundle: str
    rootfs: str
    created: str  # RFC 3339 with nanoseconds, as runc writes it
    oci_version: str = ""
    owner: str = ""
    annotations: dict = Factory(dict)
    # "creating" until the init waits for start, then "created" for good: whether it started is told by its
    # start socket. A "creating" state whose lock is free belongs to a create that died: nothing of it runs.
    phase: str = "creating"
    pid: int = 0  # the init's PID in the host's PID namespace
    pid_start: int | None = None  # its start time (/proc/PID/stat), which tells it from a reused PID
    cgroup_path: str = ""
    config: dict = Factory(dict)  # the bundle's config.json as given, resources as last updated

    def to_json(self) -> str:
        return jsonlite.dumps(self._asdict())

    @classmethod
    def from_json(cls, text: bytes) -> State:
        raw = jsonlite.loads(text)
        return cls(**{key: raw[key] for key in cls._fields if key in raw})

    def hook_state(self, status: str, pid: int) -> bytes:
        """The runtime-spec state document a hook reads on its stdin."""
        doc: dict[str, object] = {"ociVersion": self.oci_version, "id": self.id, "status": status,
                                  "pid": pid, "bundle": self.bundle}
        if self.annotations:
            doc["annotations"] = self.annotations
        return jsonlite.dumps(doc).encode()

    def hooks(self, kind: str) -> list:
        """The config's hooks of one kind (as named in config.json), parsed."""
        raw = (self.config.get("hooks") or {}).get(kind) or []
        if not raw:
            return []
        from hutch.oci.config.spec import Hook

        return [Hook.parse(item, f"hooks.{kind}[{i}]") for i, item in enumerate(raw)]


def validate_id(container_id: str) -> None:
    if (not container_id or container_id in (".", "..") or len(container_id) > _MAX_ID
            or not set(container_id) <= _ID_CHARS):
        raise ContainerError(f"invalid container id format: {container_id}")


class StateDir:
    """An open, locked container directory. Use as a context manager; the lock goes with close()."""

    def __init__(self, root: str, container_id: str, fd: int, locked: bool = True) -> None:
        self.root = root
        self.id = container_id
        self.path = f"{root}/{container_id}"
        self.fd = fd
        self.locked = locked

    # -- opening ---------------------------------------------------------------------------------------

    @classmethod
    def claim(cls, root: str, container_id: str) -> StateDir:
        """Create and lock the directory of a new container; the ID is taken once mkdir succeeds."""
        validate_id(container_id)
        _ensure_root(root)
        path = f"{root}/{container_id}"
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            raise ContainerError("container with given ID already exists") from None
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return cls(root, container_id, fd)

    @classmethod
    def open(cls, root: str, container_id: str, shared: bool = False) -> StateDir:
        """Lock an existing container's directory (NotFound if there is none)."""
        validate_id(container_id)
        path = f"{root}/{container_id}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound() from None
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink == 0:  # removed by the delete we waited for
            os.close(fd)
            raise NotFound()
        return cls(root, container_id, fd)

    def __enter__(self) -> StateDir:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # releases the flock
            self.fd = -1

    # -- contents --------------------------------------------------------------------------------------

    def file(self, name: str) -> str:
        """A path inside the directory that stays short (a Unix socket path must fit in 108 bytes)."""
        return f"/proc/self/fd/{self.fd}/{name}"

    def load(self) -> State | None:
        """The state, or None when create died before writing any."""
        try:
            fd = os.open(STATE_FILE, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(fd)
        try:
            return State.from_json(b"".join(chunks))
        except (ValueError, TypeError, KeyError) as exc:
            raise ContainerError(f"corrupt state file {self.path}/{STATE_FILE}: {exc}") from None

    def save(self, state: State, durable: bool = True) -> None:
        """Replace the state atomically; `durable` also fsyncs it (skipped for a step soon superseded)."""
        write_atomic(STATE_FILE, state.to_json().encode(), dir_fd=self.fd, durable=durable)

    def remove(self) -> None:
        """Delete the directory and what is in it; the caller still holds the (now orphaned) lock."""
        for name in os.listdir(self.fd):
            try:
                os.unlink(name, dir_fd=self.fd)
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass


def _ensure_root(root: str) -> None:
    try:
        os.makedirs(root, 0o700, exist_ok=True)
    except OSError as exc:
        raise ContainerError(f"cannot create the state root {root}: {exc.strerror}") from None


def list_ids(root: str) -> list[str]:
    """The IDs of every container under root (the directories; each may be mid-create or mid-delete)."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise ContainerError(f"state root {root} is not a directory") from None
        raise
    return sorted(name for name in names if not name.startswith(".") and os.path.isdir(f"{root}/{name}"))
