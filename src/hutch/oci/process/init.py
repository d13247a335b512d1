"""The fork/init steps of a container start: namespaces, the PID 1 fork, and the init's setup until exec.

    runtime ── fork ─▶ middle child: user namespace (id maps written by the runtime), other namespaces,
                       fork ─▶ init (PID 1): mounts, pivot_root, hostname, pty, rlimits
    `create` (hutch-runtime): init joins the cgroup, takes the process's identity and capabilities ─▶ READY;
        runtime ── DETACH ─▶ init becomes the exec shim, which waits on the start socket; the runtime sees
        the channel close on that execve and exits: `create` is done
        start   ── START (over the start socket) ─▶ shim: execve of the user's program
    `hutch run` (join_late, die_with_parent): READY; runtime ── DETACH ─▶ init arms its parent-death signal
        (ARMED round trip) and waits on the start socket itself; START ─▶ joins the cgroup, identity,
        capabilities ─▶ the exec shim ─▶ execve: the runtime's Python pages are never charged to the container

The exec shim (linux/execshim.py) is a tiny static program in a sealed memfd: no process of the container
runs the host's interpreter while it waits for start or when it calls execve (CVE-2019-5736). Every module
the init needs is imported before it changes its root: afterwards the import system is sealed
(steps.seal_imports), since anything imported later would be read from the container's filesystem.
"""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os

from hutch.linux import execshim, net, sched
from hutch.linux import syscalls as sc
from hutch.oci.config.spec import Spec
from hutch.oci.errors import EXIT_RUNTIME, ContainerError, describe, step
from hutch.oci.process import steps, sync
from hutch.oci.process.filters import PreparedFilter
from hutch.oci.rootfs import root
from hutch.record import Factory, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

# Python ignores these; an ignored disposition would survive execve into the container.
RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                 signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCHLD)


class InitConfig(Record):
    spec: Spec
    rootfs: str  # absolute host path of the root filesystem; "/" for the host's own root
    listen_fd: int  # the start socket, bound in the state directory and listening
    join_fds: list[int] = Factory(list)  # cgroup.procs of each hierarchy, memory last
    # False: join the cgroup at the end of create, so engines find the init in it (runc's behaviour).
    # True: join right before execve, so not even the init's last steps are charged to the container.
    join_late: bool = False
    warmup_fd: int | None = None  # see Manager.warmup_fd: the middle child writes the init's PID there
    # (hierarchy name under /sys/fs/cgroup, host directory) of each of the container's cgroups, for the
    # spec's cgroup mount
    cgroup_dirs: list[tuple[str, str]] = Factory(list)
    stdio: tuple[int, int, int] | None = None  # None: keep the runtime's own stdio
    preserve_fds: int = 0  # descriptors 3 .. 3+N-1 stay open in the container
    die_with_parent: bool = False  # SIGKILL the init when the runtime that created it dies (hutch run)
    no_pivot: bool = False
    # A session keyring of its own, as runc makes one ("_ses.<id>"); None for --no-new-keyring.
    keyring: str | None = None
    debug: bool = False


class _Talk:
    """Where errors go: the create channel until START, then the connection of the start command."""

    __slots__ = ("chan",)

    def __init__(self, chan: sync.Channel) -> None:
        self.chan = chan


def child_main(cfg: InitConfig, chan: sync.Channel) -> NoReturn:
    """Run in the first child: enter new namespaces, fork the container's PID 1, report its PID, exit."""
    try:
        # Nothing of the runtime's may reach the container: above all not the state directory's fd, whose
        # flock would otherwise live on in the init and block every later command on the container.
        sc.close_all_except(_needed_fds(cfg, chan))
        if cfg.debug:
            steps.preload_traceback()
        root.prepare_mounts(cfg.spec)  # idmapped mounts: only the host's privileges can make them
        _enter_namespaces(cfg, chan)
        pid = os.fork()
        if pid == 0:
            init_main(cfg, chan)
        chan.send(sync.PID, str(pid).encode())
        if cfg.warmup_fd is not None:
            try:
                os.write(cfg.warmup_fd, str(pid).encode())
            except OSError:
                pass  # only an optimisation
        os._exit(0)
    except BaseException as exc:
        report(chan, exc, cfg.debug)


def _needed_fds(cfg: InitConfig, chan: sync.Channel) -> set[int]:
    keep = {0, 1, 2, chan.fileno(), cfg.listen_fd, *cfg.join_fds, *range(3, 3 + cfg.preserve_fds)}
    if cfg.warmup_fd is not None:
        keep.add(cfg.warmup_fd)
    if cfg.stdio is not None:
        keep.update(cfg.stdio)
    return keep


def init_main(cfg: InitConfig, chan: sync.Channel) -> NoReturn:
    """Run as PID 1 of the container: build its world, wait for start, exec."""
    talk = _Talk(chan)
    try:
        ready = _setup(cfg, chan)
        if _shim_waits(cfg):
            _join_cgroup(cfg)
            shim = _shim_fd()
            _finish(cfg, ready, chan)
            chan.send(sync.READY)
            _expect_detach(cfg, chan)
            # The channel is close-on-exec: the runtime reads its end once the shim runs, or the error.
            execshim.execute(shim, ready.path, cfg.spec.process.args, ready.env, listen_fd=cfg.listen_fd)
        if not cfg.join_late:
            _join_cgroup(cfg)
        chan.send(sync.READY)
        _expect_detach(cfg, chan)
        chan.close()
        talk.chan = _wait_for_start(cfg)
        if cfg.join_late:
            _join_cgroup(cfg)
        shim = _shim_fd() if execshim.available() else None
        _finish(cfg, ready, talk.chan, start_hooks=bool(cfg.spec.hooks.start_container))
        _exec(cfg, ready, shim, talk.chan)
    except BaseException as exc:
        report(talk.chan, exc, cfg.debug)
    os._exit(EXIT_RUNTIME)


class _Ready(Record):
    """What _setup leaves for the last steps: nothing of it needs an import or a read from the host."""

    path: str  # the program, resolved in the container's PATH
    env: dict[str, str]
    hook_state: bytes = b""  # the state document the create hooks had (empty without hooks)
    seccomp: PreparedFilter | None = None


def _shim_waits(cfg: InitConfig) -> bool:
    """Whether the exec shim waits for start: with hutch run, the init waits itself, as it must join the
    cgroup and take its identity only after start, and keep the parent-death signal that an execve that
    raises capabilities would clear; with startContainer hooks, it waits to run them after start."""
    return execshim.available() and not (cfg.join_late or cfg.die_with_parent or
                                         cfg.spec.hooks.start_container)


def _shim_fd() -> int:
    with step("load the exec shim"):
        return execshim.sealed_fd()


def report(chan: sync.Channel, exc: BaseException, debug: bool) -> NoReturn:
    """Send the error to the runtime as one line with its exit code, then exit with that code."""
    if isinstance(exc, ContainerError):
        code, message = exc.exit_code, str(exc)
    else:
        code, message = EXIT_RUNTIME, f"container init failed: {describe(exc)}"
    if debug:
        steps.print_traceback(exc)
    chan.send_error(code, message)
    os._exit(code)


def _enter_namespaces(cfg: InitConfig, chan: sync.Channel) -> None:
    sc.set_dumpable(False)
    linux = cfg.spec.linux
    user = linux.namespace("user")
    if user is not None:
        if user.path:
            _setns(user.path, sc.CLONE_NEWUSER, "user")
        else:
            with step("create a user namespace"):
                sc.unshare(sc.CLONE_NEWUSER)
            chan.send(sync.USERNS)
            chan.expect(sync.MAPPED)
        with step("become root in the user namespace"):
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
    flags = 0
    for ns in linux.namespaces:
        if ns.type in ("user", "cgroup"):
            continue  # user is done above; cgroup is entered right after the cgroup join
        if ns.path:
            _setns(ns.path, sc.NAMESPACE_FLAGS[ns.type], ns.type)
        else:
            flags |= sc.NAMESPACE_FLAGS[ns.type]
    if flags:
        with step("create namespaces"):
            sc.unshare(flags)
    if linux.time_offsets:
        # Only before any process is in the new time namespace: the init forked next is the first.
        with step("set the time namespace's clock offsets"):
            sched.write_time_offsets({clock: (o.secs, o.nanosecs) for clock, o in linux.time_offsets.items()})


def _setns(path: str, flag: int, kind: str) -> None:
    with step(f"join the {kind} namespace {path}"):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(fd, flag)
        finally:
            os.close(fd)


def _setup(cfg: InitConfig, chan: sync.Channel) -> _Ready:
    """Everything that can be done before start."""
    spec = cfg.spec
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    os.umask(0)
    # A session of its own, as runc gives it: a ^C typed at the caller's terminal reaches the caller (which
    # forwards it once), not the container directly as well.
    os.setsid()
    if cfg.keyring is not None:
        _new_session_keyring(cfg.keyring)
    if cfg.stdio is not None:
        _install_stdio(cfg.stdio)
    linux = spec.linux
    hooks = _CreateHooks(chan) if _has_create_hooks(spec) else None
    # Compiled now: libseccomp is loaded from the host's root, which the pivot leaves behind.
    seccomp = PreparedFilter(linux.seccomp) if linux.seccomp is not None else None
    mount_ns = linux.namespace("mount")
    in_userns = linux.namespace("user") is not None
    before_pivot = None if hooks is None else lambda: hooks.run(spec)
    rooted = True
    if mount_ns is not None and not mount_ns.path:
        root.setup(spec, cfg.rootfs, in_userns=in_userns, cgroup_dirs=cfg.cgroup_dirs, no_pivot=cfg.no_pivot,
                   before_pivot=before_pivot)
    elif cfg.rootfs != "/":
        root.setup_without_namespace(spec, cfg.rootfs, in_userns=in_userns, cgroup_dirs=cfg.cgroup_dirs,
                                     before_pivot=before_pivot)
    else:
        rooted = False
        if hooks is not None:
            hooks.run(spec)
    # From here on the root is the container's: nothing may be imported any more.
    steps.seal_imports()
    if spec.hostname and linux.namespace("uts") is not None:
        with step(f"set the hostname to {spec.hostname}"):
            sc.sethostname(spec.hostname)
    if spec.domainname and linux.namespace("uts") is not None:
        with step(f"set the domain name to {spec.domainname}"):
            sc.setdomainname(spec.domainname)
    if linux.personality is not None:
        with step(f"set the personality {linux.personality.domain}"):
            sched.set_personality(linux.personality.domain)
    net_ns = linux.namespace("network")
    if net_ns is not None and not net_ns.path:
        with step("bring the loopback interface up"):
            net.link_up("lo")
    for key, value in linux.sysctl.items():
        with step(f"set sysctl {key}={value}"), open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    if rooted:
        root.protect_paths(spec)
    if spec.process.oom_score_adj is not None:
        with step("set oom_score_adj"), open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(spec.process.oom_score_adj))
    if spec.process.terminal:
        steps.take_terminal(steps.open_terminal(chan, send_name=True, size=spec.process.console_size))
    os.umask(0o022)
    steps.change_directory(spec.process.cwd)
    steps.apply_rlimits(spec.process)
    steps.apply_scheduling(spec.process)
    proc = spec.process
    return _Ready(steps.find_executable(proc.args[0], proc.env, proc.cwd), steps.environ(proc.env),
                  b"" if hooks is None else hooks.state, seccomp)


def _has_create_hooks(spec: Spec) -> bool:
    h = spec.hooks
    return bool(h.prestart or h.create_runtime or h.create_container or h.start_container)


class _CreateHooks:
    """The runtime's prestart and createRuntime hooks, then the createContainer hooks here, before pivot_root
    (the hook paths resolve in the runtime's root, the hooks run in the container's namespaces)."""

    def __init__(self, chan: sync.Channel) -> None:
        from hutch.oci.process import hooks  # now, while imports still come from the host

        self.hooks = hooks
        self.chan = chan
        self.state = b""

    def run(self, spec: Spec) -> None:
        self.chan.send(sync.HOOKS)
        self.state = self.chan.expect(sync.HOOKED)
        self.hooks.run_hooks("createContainer", spec.hooks.create_container, self.state)


def _run_start_hooks(cfg: InitConfig, state: bytes) -> None:
    """startContainer hooks: after start, before the program's execve, resolved in the container's root."""
    from hutch.oci.process import hooks  # imported by _CreateHooks before the root changed

    hooks.run_hooks("startContainer", cfg.spec.hooks.start_container,
                    state.replace(b'"status":"creating"', b'"status":"created"', 1))


def _new_session_keyring(name: str) -> None:
    try:
        sc.join_session_keyring(name)
    except OSError as exc:
        # Kernels without keyrings (ENOSYS) and user namespaces that may not create one (EACCES, EDQUOT) go
        # on with the caller's keyring, as runc does.
        if exc.errno not in (38, 13, 122):
            raise ContainerError(f"cannot join a new session keyring: {describe(exc)}") from None


def _install_stdio(stdio: tuple[int, int, int]) -> None:
    for target, fd in enumerate(stdio):
        if fd != target:
            os.dup2(fd, target)
    for fd in set(stdio):
        if fd > 2:
            os.close(fd)




def _join_cgroup(cfg: InitConfig) -> None:
    # From here on every page the process touches is charged to the container: do as little as possible.
    steps.join_cgroup(cfg.join_fds)
    cgroup_ns = cfg.spec.linux.namespace("cgroup")
    if cgroup_ns is not None:
        if cgroup_ns.path:
            _setns(cgroup_ns.path, sc.CLONE_NEWCGROUP, "cgroup")
        else:
            with step("create a cgroup namespace"):
                sc.unshare(sc.CLONE_NEWCGROUP)


def _expect_detach(cfg: InitConfig, chan: sync.Channel) -> None:
    try:
        chan.expect(sync.DETACH)
        if cfg.die_with_parent:
            # The runtime is our parent by now (a subreaper, once the middle child exited). The round trip
            # after the prctl proves it was still alive when the death signal was armed.
            sc.set_pdeathsig(signal.SIGKILL)
            chan.send(sync.ARMED)
            chan.expect(sync.ARMED)
    except (sync.ChannelClosed, OSError):
        os._exit(EXIT_RUNTIME)  # the runtime died before the container was created: nothing may run


def _wait_for_start(cfg: InitConfig) -> sync.Channel:
    """Wait on the start socket for START; return that connection."""
    listener = sync.socket_from_fd(cfg.listen_fd)
    while True:
        conn = sync.accept(listener)
        try:
            conn.expect(sync.START)
            break
        except (sync.ChannelClosed, sync.RemoteError, OSError):
            conn.close()  # a connection that was not a start: keep waiting
    listener.close()
    return conn


def _finish(cfg: InitConfig, ready: _Ready, chan: sync.Channel, start_hooks: bool = False) -> None:
    """The process's identity, capabilities and no_new_privs, the startContainer hooks, then the seccomp
    filter, last: with no_new_privs it needs no capability and filters nothing of ours but the execve; without
    it, it is loaded while the init still holds CAP_SYS_ADMIN, as runc does."""
    proc = cfg.spec.process
    # First, as the filter of an older profile may refuse close_range.
    steps.close_fds_for_exec(cfg.preserve_fds)
    early_filter = ready.seccomp is not None and not proc.no_new_privileges
    if early_filter:
        ready.seccomp.load(chan)  # type: ignore[union-attr]
    steps.set_identity(proc)
    if proc.no_new_privileges:
        sc.set_no_new_privs()
    if start_hooks:
        _run_start_hooks(cfg, ready.hook_state)
    if ready.seccomp is not None and not early_filter:
        ready.seccomp.load(chan)


def _exec(cfg: InitConfig, ready: _Ready, shim: int | None, conn: sync.Channel) -> None:
    args = cfg.spec.process.args
    if shim is not None:
        execshim.execute(shim, ready.path, args, ready.env, report_fd=conn.fileno())
    steps.execute(ready.path, args, ready.env)
