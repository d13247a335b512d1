"""`exec`: run another process in a created or running container, detached or waited for.

The container's lock is held only while the process is being set up; a long-running exec does not block
`state` or `kill`.
"""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os

from hutch.files import write_atomic
from hutch.linux import pidfd
from hutch.linux import syscalls as sc
from hutch.oci.config.spec import Process, Spec
from hutch.oci.container.container import CREATED, PAUSED, RUNNING, Container
from hutch.oci.errors import ContainerError
from hutch.oci.process import sync
from hutch.oci.process.exec_init import ExecConfig, child_main
from hutch.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class ExecOptions(Record):
    id: str
    root: str
    process: Process | None = None  # the whole process (from --process); None: the container's own, changed
    args: list[str] | None = None
    cwd: str | None = None
    env: list[str] | None = None
    tty: bool | None = None
    user: str | None = None  # UID[:GID]
    additional_gids: list[int] | None = None
    caps: list[str] | None = None
    no_new_privs: bool = False
    detach: bool = False
    pid_file: str | None = None
    console_socket: str | None = None
    preserve_fds: int = 0
    ignore_paused: bool = False
    debug: bool = False


def execute(opts: ExecOptions) -> int:
    """Start the process; return 0 once it runs (detached) or its exit code (128+N for a signal)."""
    from hutch.oci.container.create import check_preserved_fds

    check_preserved_fds(opts.preserve_fds)  # first: nothing of ours may be open at those numbers yet
    if opts.detach:
        _start(opts).close()
        return 0
    from hutch.oci.process.monitor import SignalTrap

    sc.set_child_subreaper()  # the process is a grandchild: become its parent to wait for it
    trap = SignalTrap()  # before the process exists, so no signal meant for it kills us instead
    try:
        return _wait(_start(opts), trap)
    finally:
        trap.close()


class Started(Record):
    process: pidfd.Process
    pty_master: int | None = None

    def close(self) -> None:
        self.process.close()
        if self.pty_master is not None:
            os.close(self.pty_master)
            self.pty_master = None


def _start(opts: ExecOptions) -> Started:
    with Container.open(opts.root, opts.id) as container:
        status = container.status()
        if status == PAUSED and not opts.ignore_paused:
            raise ContainerError("cannot exec in a paused container (use --ignore-paused to override)")
        if status not in (CREATED, RUNNING, PAUSED):
            raise ContainerError(f"cannot exec in a {status} container")
        state = container.require_state()
        spec = Spec.from_dict(state.config)
        proc = build_process(spec, opts)
        state_doc = state.hook_state(RUNNING, state.pid) if spec.linux.seccomp is not None else b""
        if proc.terminal and opts.detach and not opts.console_socket:
            raise ContainerError("cannot allocate tty if runc will detach without setting console socket")
        init = container.init()
        if init is None:
            raise ContainerError("cannot exec in a stopped container")
        try:
            join_fds = container.manager().join_fds()
        except BaseException:
            init.close()
            raise
    # The lock goes here, not after the process started: a `resume` must be able to thaw the cgroup that an
    # --ignore-paused exec waits in, and a long setup must not block `state` or `kill`.
    try:
        return _spawn(spec, proc, init, join_fds, opts, state_doc)
    finally:
        init.close()


def build_process(spec: Spec, opts: ExecOptions) -> Process:
    """The process to run: --process as given (runc ignores the other flags then), or the container's own
    process with the command line's changes."""
    if opts.process is not None:
        return opts.process
    if not opts.args:
        raise ContainerError("exec needs a command to run (or --process FILE)")
    base = spec.process
    proc: Process = base._replace(args=list(opts.args), env=list(base.env),  # type: ignore[assignment]
                                  user=base.user._replace(additional_gids=list(base.user.additional_gids)),
                                  terminal=bool(opts.tty))
    if base.capabilities is not None:
        proc.capabilities = base.capabilities._replace(
            **{field: list(getattr(base.capabilities, field)) for field in base.capabilities._fields})
    if opts.cwd is not None:
        proc.cwd = opts.cwd
    if opts.env:
        proc.env = _merge_env(proc.env, opts.env)
    if opts.user:
        uid, _, gid = opts.user.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise ContainerError(f"invalid --user {opts.user!r}: use UID[:GID]")
        proc.user.uid, proc.user.gid = int(uid), int(gid) if gid else 0
    if opts.additional_gids:
        proc.user.additional_gids = list(opts.additional_gids)
    if opts.caps and proc.capabilities is not None:
        for cap in opts.caps:
            name = cap.upper() if cap.upper().startswith("CAP_") else "CAP_" + cap.upper()
            for field in ("bounding", "effective", "permitted", "ambient"):
                values = getattr(proc.capabilities, field)
                if name not in values:
                    values.append(name)
            if name not in proc.capabilities.inheritable:
                proc.capabilities.inheritable.append(name)
    if opts.no_new_privs:
        proc.no_new_privileges = True
    return proc


def _merge_env(env: list[str], extra: list[str]) -> list[str]:
    keys = {item.partition("=")[0] for item in extra}
    return [item for item in env if item.partition("=")[0] not in keys] + list(extra)


def _namespace_flags(spec: Spec) -> int:
    flags = 0
    for ns in spec.linux.namespaces:
        if ns.type != "cgroup":
            flags |= sc.NAMESPACE_FLAGS[ns.type]
    return flags


def _spawn(spec: Spec, proc: Process, init: pidfd.Process, join_fds: list[int], opts: ExecOptions,
           state_doc: bytes) -> Started:
    from hutch.cgroups import close_fds

    fds = list(join_fds)
    cgroupns_fd = None
    if spec.linux.namespace("cgroup") is not None:
        cgroupns_fd = os.open(f"/proc/{init.pid}/ns/cgroup", os.O_RDONLY | os.O_CLOEXEC)
        fds.append(cgroupns_fd)
    cfg = ExecConfig(proc, init.fd, _namespace_flags(spec), cgroupns_fd, join_fds, opts.preserve_fds,
                     opts.debug, seccomp=spec.linux.seccomp)
    ours, theirs = sync.Channel.pair()
    try:
        child = os.fork()
    except BaseException:
        ours.close()
        theirs.close()
        close_fds(fds)
        raise
    if child == 0:
        ours.close()
        child_main(cfg, theirs)
    theirs.close()
    close_fds(fds)
    try:
        started = _handshake(ours, child, lambda fd: _forward_listener(spec, fd, init.pid, state_doc))
    finally:
        ours.close()
    try:
        if started.pty_master is not None and opts.console_socket:
            from hutch.oci.container.console import send_pty

            send_pty(opts.console_socket, started.pty_master)
            os.close(started.pty_master)
            started.pty_master = None
        if opts.pid_file:
            write_atomic(os.path.abspath(opts.pid_file), str(started.process.pid).encode(), mode=0o644)
    except BaseException:
        started.process.send_signal(signal.SIGKILL)
        started.close()
        raise
    return started


def _forward_listener(spec: Spec, listener: int, pid: int, state_doc: bytes) -> None:
    from hutch import jsonlite
    from hutch.oci.process.filters import forward_listener

    if spec.linux.seccomp is not None:
        forward_listener(spec.linux.seccomp, listener, pid, jsonlite.loads(state_doc))


def _handshake(chan: sync.Channel, child: int, forward: Callable[[int], None]) -> Started:
    """PID (from the middle child), then PTY if asked, and a seccomp listener if the filter notifies; the
    channel closes when the process has exec'd."""
    process: pidfd.Process | None = None
    master: int | None = None
    try:
        while True:
            try:
                kind, payload, fds = chan.recv(want_fds=True)
            except sync.ChannelClosed:
                break
            if kind == sync.PTY and fds and master is None:
                master = fds.pop(0)
            if kind == sync.SECCOMP and fds:
                listener = fds.pop(0)
                try:
                    forward(listener)
                finally:
                    os.close(listener)
            sync.close_all(fds)
            if kind == sync.PID:
                process = pidfd.Process(int(payload))
                _reap(child)
                child = 0
            elif (error := sync.RemoteError.from_message(kind, payload)) is not None:
                raise ContainerError(str(error), error.exit_code)
        if process is None:
            raise ContainerError("the exec'd process's helper exited during setup")
        return Started(process, master)
    except BaseException:
        if process is not None:
            process.send_signal(signal.SIGKILL)
            _reap_quietly(process)
            process.close()
        if master is not None:
            os.close(master)
        if child:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(child)
        raise


def _reap(pid: int) -> None:
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except InterruptedError:
            continue
        except ChildProcessError:
            return


def _reap_quietly(process: pidfd.Process) -> None:
    try:
        process.wait()
    except ChildProcessError:
        pidfd.wait_exit(process, 5.0)


def _wait(started: Started, trap: object) -> int:
    from hutch.oci.process.monitor import Cleanup, Monitor, RawTerminal

    with Cleanup() as cleanup:
        cleanup.callback(started.close)
        has_pty = started.pty_master is not None
        monitor = Monitor(started.process, started.pty_master, trap, stdin_open=has_pty)
        if started.pty_master is not None:
            monitor.copy_window_size()
            terminal = RawTerminal(True)
            terminal.enter()
            cleanup.callback(terminal.restore)
        status = monitor.wait()
        return pidfd.exit_code(status)[0]
    raise AssertionError("unreachable")
