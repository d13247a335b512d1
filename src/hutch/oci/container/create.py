"""`create`: claim the container's state, make its cgroup, fork its init and leave it waiting for `start`.

On return the init is fully set up (mounts, pivot_root, pty, and — unless `join_late` — its cgroup), its PID
is in the state and the pid file, and it waits on the start socket; the calling process may exit. Any failure
removes what was made. A create killed outright leaves a state directory that `delete --force` removes: the
state names the cgroup before the cgroup exists and the init's PID as soon as it is known.
"""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os
import time

from hutch.files import write_atomic
from hutch.linux import pidfd, proc
from hutch.oci.config.spec import IdMapping, Spec, SpecError
from hutch.oci.container.state import SOCKET_FILE, State, StateDir, validate_id
from hutch.oci.errors import ContainerError, describe
from hutch.oci.process import sync
from hutch.oci.process.init import InitConfig, child_main
from hutch.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from hutch.cgroups import Manager

DEFAULT_CGROUP_PARENT = "hutch"


class CreateOptions(Record):
    id: str
    bundle: str  # absolute
    root: str
    pid_file: str | None = None
    console_socket: str | None = None
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0
    debug: bool = False
    # For callers in this process (hutch run, hutch-runtime run) rather than an engine:
    spec: Spec | None = None  # instead of reading bundle/config.json
    raw_config: dict | None = None
    rootfs: str | None = None  # absolute; "/" is the host's own root (hutch run's host mode)
    keep_pty: bool = False  # hand the pty master to the caller instead of a console socket
    join_late: bool = False
    stdio: tuple[int, int, int] | None = None
    die_with_parent: bool = False
    warn: Callable[[str], None] | None = None  # where to say what the config asks for that is not enforced


class Created(Record):
    """A created container, as seen by the process that created it."""

    state: State
    process: pidfd.Process  # the init, held by a pidfd
    manager: Manager
    pty_master: int | None = None

    @property
    def pid(self) -> int:
        return self.state.pid

    def close(self) -> None:
        self.process.close()
        if self.pty_master is not None:
            os.close(self.pty_master)
            self.pty_master = None


def load_config(bundle: str) -> tuple[dict, Spec]:
    from hutch import jsonlite

    path = f"{bundle}/config.json"
    try:
        with open(path, "rb") as f:
            raw = jsonlite.loads(f.read())
    except OSError as exc:
        raise ContainerError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ContainerError(f"{path}: {exc}") from None
    try:
        return raw, Spec.from_dict(raw)
    except SpecError as exc:
        raise ContainerError(f"config.json: {exc}") from None


def cgroup_path(cgroups_path: str | None, container_id: str) -> str:
    """The container's cgroup, relative to each hierarchy's root, from the spec's linux.cgroupsPath."""
    if not cgroups_path:
        return f"{DEFAULT_CGROUP_PARENT}/{container_id}"
    if not cgroups_path.startswith("/") and cgroups_path.count(":") == 2:
        raise ContainerError(
            f"cgroupsPath {cgroups_path!r} is systemd's slice:prefix:name form; hutch-runtime manages "
            "cgroupfs directly (no systemd runs here): use a path such as /machine/ID")
    if cgroups_path.startswith("/"):
        return cgroups_path
    return f"{DEFAULT_CGROUP_PARENT}/{cgroups_path}"


def now_rfc3339() -> str:
    """The current time as Go's RFC3339Nano in UTC, which runc writes into its state."""
    ns = time.time_ns()
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{fraction:09d}".rstrip("0").rstrip(".") + "Z"


def create(opts: CreateOptions) -> Created:
    validate_id(opts.id)
    if opts.spec is None:
        raw, spec = load_config(opts.bundle)
    else:
        raw, spec = opts.raw_config or opts.spec.to_dict(), opts.spec
    _check_supported(spec, opts.warn)
    rootfs = opts.rootfs or _rootfs_path(opts.bundle, spec.root.path)
    if spec.process.terminal and not opts.console_socket and not opts.keep_pty:
        raise ContainerError("cannot allocate tty if runc will detach without setting console socket")
    if not spec.process.terminal and opts.console_socket:
        raise ContainerError("cannot use console socket if runc will not detach or allocate tty")
    check_preserved_fds(opts.preserve_fds)
    path = cgroup_path(spec.linux.cgroups_path, opts.id)
    with StateDir.claim(opts.root, opts.id) as state_dir:
        state = State(
            id=opts.id, bundle=opts.bundle, rootfs=rootfs, created=now_rfc3339(),
            oci_version=spec.oci_version, annotations=dict(spec.annotations), cgroup_path=path, config=raw,
        )
        state_dir.save(state)
        try:
            return _create_in(state_dir, state, spec, rootfs, opts)
        except BaseException:
            state_dir.remove()
            raise


def _check_supported(spec: Spec, warn: Callable[[str], None] | None) -> None:
    """Refuse what this host or hutch cannot honour rather than run a container without it."""
    from hutch.oci.config.validate import check_host

    try:
        check_host(spec)
    except SpecError as exc:
        raise ContainerError(f"config.json: {exc}") from None


def _rootfs_path(bundle: str, root: str) -> str:
    path = root if root.startswith("/") else f"{bundle}/{root}"
    return os.path.normpath(path)


def check_preserved_fds(count: int) -> None:
    """--preserve-fds N passes on 3 .. N+2: each must be the caller's, open before the runtime opens anything,
    or a descriptor of the runtime's own at that number would reach the container."""
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise ContainerError(f"--preserve-fds {count}: file descriptor {fd} is not open") from None


def _create_in(state_dir: StateDir, state: State, spec: Spec, rootfs: str, opts: CreateOptions) -> Created:
    from hutch.cgroups import close_fds, new_manager
    from hutch.oci.config.resources import cgroup_resources

    manager = new_manager(state.cgroup_path)
    if manager.subtree_pids():
        raise ContainerError(f"cgroup {state.cgroup_path} is in use by another container")
    fds: list[int] = []
    init: pidfd.Process | None = None
    try:
        manager.create()
        manager.apply(cgroup_resources(spec.linux.resources, spec.linux.devices))
        listener = sync.listen(state_dir.file(SOCKET_FILE))
        fds.append(listener.detach())
        join_fds = manager.join_fds()
        fds += join_fds
        warmup_fd = manager.warmup_fd()
        if warmup_fd is not None:
            fds.append(warmup_fd)
        cfg = InitConfig(
            spec, rootfs, listen_fd=fds[0], join_fds=join_fds, join_late=opts.join_late, warmup_fd=warmup_fd,
            cgroup_dirs=_cgroup_mount_dirs(manager), stdio=opts.stdio, preserve_fds=opts.preserve_fds,
            die_with_parent=opts.die_with_parent, no_pivot=opts.no_pivot,
            keyring=None if opts.no_new_keyring else f"_ses.{opts.id}", debug=opts.debug,
        )

        def record_pid(pid: int) -> None:
            # For `delete --force` after a killed create; "created" follows within milliseconds, durably.
            state.pid, state.pid_start = pid, proc.start_time(pid)
            state_dir.save(state, durable=False)

        def run_create_hooks(pid: int) -> bytes:
            from hutch.oci.process.hooks import run_hooks

            doc = state.hook_state("creating", pid)
            for kind in ("prestart", "createRuntime"):
                run_hooks(kind, spec.hooks.of(kind), doc)
            return doc

        def forward_listener(listener: int, pid: int) -> None:
            from hutch import jsonlite
            from hutch.oci.process.filters import forward_listener

            assert spec.linux.seccomp is not None
            state_doc = jsonlite.loads(state.hook_state("creating", pid))
            forward_listener(spec.linux.seccomp, listener, pid, state_doc)

        chan, init, master = _spawn(cfg, record_pid, _Callbacks(run_create_hooks, forward_listener))
        close_fds(fds)
        fds.clear()
        try:
            _move_net_devices(spec, init.pid)
            if master is not None and not opts.keep_pty:
                from hutch.oci.container.console import send_pty

                send_pty(opts.console_socket or "", master)
                os.close(master)
                master = None
            chan.send(sync.DETACH)
            if opts.die_with_parent:
                chan.expect(sync.ARMED)
                chan.send(sync.ARMED)
            _wait_detached(chan)
            state.phase = "created"
            state_dir.save(state)
            if opts.pid_file:
                write_atomic(os.path.abspath(opts.pid_file), str(state.pid).encode(), mode=0o644)
        finally:
            chan.close()
        return Created(state, init, manager, master)
    except BaseException:
        close_fds(fds)
        if init is not None:
            _kill_init(init)
        manager.destroy()
        raise


def _move_net_devices(spec: Spec, pid: int) -> None:
    """linux.netDevices: each host interface into the container's network namespace, renamed as asked."""
    if not spec.linux.net_devices:
        return
    from hutch.linux import netlink

    for name, device in spec.linux.net_devices.items():
        try:
            netlink.move_link(name, pid, device.name)
        except OSError as exc:
            raise ContainerError(f"linux.netDevices.{name}: cannot move it into the container: "
                                 f"{describe(exc)}") from None


def _wait_detached(chan: sync.Channel) -> None:
    """The init closes the channel once it waits for start: as the exec shim (the channel closes on that
    execve) or itself (hutch run). Before that it may still fail, e.g. when the shim cannot be executed."""
    while True:
        try:
            kind, payload, _fds = chan.recv()
        except sync.ChannelClosed:
            return
        error = sync.RemoteError.from_message(kind, payload)
        if error is not None:
            raise ContainerError(str(error), error.exit_code)


def _cgroup_mount_dirs(manager: Manager) -> list[tuple[str, str]]:
    """Each of the container's cgroup directories with its hierarchy's name under /sys/fs/cgroup."""
    out = []
    for directory in manager.directories():
        mountpoint = directory[: -len(manager.path) - 1]
        out.append((mountpoint.removeprefix("/sys/fs/cgroup").strip("/"), directory))
    return out


def _kill_init(init: pidfd.Process) -> None:
    init.send_signal(signal.SIGKILL)
    try:
        init.wait()  # ours when the caller is a subreaper
    except ChildProcessError:
        pidfd.wait_exit(init, 5.0)
    init.close()


class _Callbacks(Record):
    """What the handshake does for the init: run the create hooks, pass a seccomp listener on."""

    run_hooks: Callable[[int], bytes]
    forward_listener: Callable[[int, int], None]


def _spawn(cfg: InitConfig, record_pid: object,
           callbacks: _Callbacks) -> tuple[sync.Channel, pidfd.Process, int | None]:
    """Fork the middle child and hold the handshake until the init is READY."""
    ours, theirs = sync.Channel.pair()
    try:
        child = os.fork()
    except BaseException:
        ours.close()
        theirs.close()
        raise
    if child == 0:
        ours.close()
        child_main(cfg, theirs)
    theirs.close()
    try:
        init, master = _handshake(cfg, ours, child, record_pid, callbacks)
    except BaseException:
        ours.close()
        raise
    return ours, init, master


def _handshake(cfg: InitConfig, chan: sync.Channel, child: int, record_pid: object,
               callbacks: _Callbacks) -> tuple[pidfd.Process, int | None]:
    # The middle child's PID message and the init's messages race on one channel: accept either order.
    init: pidfd.Process | None = None
    master: int | None = None
    child_reaped = ready = hooks_asked = False
    listeners: list[int] = []
    try:
        while init is None or not ready:
            try:
                kind, payload, fds = chan.recv(want_fds=True)
            except sync.ChannelClosed:
                raise ContainerError("the container's init exited during setup") from None
            if kind == sync.PTY and fds and master is None:
                master = fds.pop(0)
            if kind == sync.SECCOMP and fds and cfg.spec.linux.seccomp is not None:
                listeners.append(fds.pop(0))
            sync.close_all(fds)
            if kind == sync.USERNS:
                _write_id_maps(child, cfg.spec.linux.uid_mappings, cfg.spec.linux.gid_mappings)
                chan.send(sync.MAPPED)
            elif kind == sync.PID:
                init = pidfd.Process(int(payload))
                record_pid(init.pid)  # type: ignore[operator]
                _reap(child)
                child_reaped = True
            elif kind == sync.READY:
                ready = True
            elif kind == sync.HOOKS:
                hooks_asked = True
            elif kind == sync.ERROR:
                raise sync.RemoteError.parse(payload)
            if init is None:
                continue  # the init may ask before the middle child names it
            if hooks_asked:
                hooks_asked = False
                chan.send(sync.HOOKED, callbacks.run_hooks(init.pid))
            while listeners:
                listener = listeners.pop()
                try:
                    callbacks.forward_listener(listener, init.pid)
                finally:
                    os.close(listener)
        return init, master
    except sync.RemoteError as exc:
        sync.close_all(listeners)
        _cleanup(init, master, child, child_reaped)
        raise ContainerError(str(exc), exc.exit_code) from None
    except BaseException:
        sync.close_all(listeners)
        _cleanup(init, master, child, child_reaped)
        raise


def _cleanup(init: pidfd.Process | None, master: int | None, child: int, child_reaped: bool) -> None:
    if init is not None:
        _kill_init(init)
    if not child_reaped:
        try:
            os.kill(child, signal.SIGKILL)  # our own direct child, not yet reaped: its PID cannot be reused
        except ProcessLookupError:
            pass
        _reap(child)
    if master is not None:
        os.close(master)


def _reap(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0


def _write_id_maps(pid: int, uids: list[IdMapping], gids: list[IdMapping]) -> None:
    for name, maps in (("uid_map", uids), ("gid_map", gids)):
        if not maps:
            raise ContainerError(f"a user namespace needs {name.replace('_', ' ')} entries")
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as exc:
            raise ContainerError(f"cannot write {name} {text.strip()!r}: {exc.strerror}") from None

