"""The fork/init steps of a container start: namespaces, the PID 1 fork, and the init's setup until exec."""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os
import sys

from hutch.linux import net, pty
from hutch.linux import syscalls as sc
from hutch.oci import process, rootfs, sync
from hutch.oci.errors import EXIT_RUNTIME, ContainerError, describe, step
from hutch.oci.spec import Spec
from hutch.record import Factory, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

# Python ignores these; an ignored disposition would survive execve into the container.
_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                  signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCHLD)


class InitConfig(Record):
    spec: Spec
    rootfs: str  # absolute host path of the root filesystem; "/" for the host's own root
    join_fds: list[int] = Factory(list)  # cgroup.procs of each hierarchy, memory last
    warmup_fd: int | None = None  # see Manager.warmup_fd: the middle child writes the init's PID there
    stdio: tuple[int, int, int] | None = None
    die_with_parent: bool = True
    debug: bool = False


def child_main(cfg: InitConfig, chan: sync.Channel) -> NoReturn:
    """Run in the first child: enter new namespaces, fork the container's PID 1, report its PID, exit."""
    try:
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
        _report(chan, exc, cfg.debug)


def init_main(cfg: InitConfig, chan: sync.Channel) -> NoReturn:
    """Run as PID 1 of the container: build its world, wait for start, join the cgroup late, exec."""
    try:
        path, env = _setup(cfg, chan)
        _wait_for_start(cfg, chan)
        _finish_and_exec(cfg, path, env)
    except BaseException as exc:
        _report(chan, exc, cfg.debug)
    os._exit(EXIT_RUNTIME)


def _report(chan: sync.Channel, exc: BaseException, debug: bool) -> NoReturn:
    if isinstance(exc, ContainerError):
        code, message = exc.exit_code, str(exc)
    else:
        code, message = EXIT_RUNTIME, f"container init failed: {describe(exc)}"
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
        sys.stderr.flush()
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
            continue  # user is done above; cgroup is unshared after the late cgroup join
        if ns.path:
            _setns(ns.path, sc.NAMESPACE_FLAGS[ns.type], ns.type)
        else:
            flags |= sc.NAMESPACE_FLAGS[ns.type]
    if flags:
        with step("create namespaces"):
            sc.unshare(flags)


def _setns(path: str, flag: int, kind: str) -> None:
    with step(f"join the {kind} namespace {path}"):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(fd, flag)
        finally:
            os.close(fd)


def _setup(cfg: InitConfig, chan: sync.Channel) -> tuple[str, dict[str, str]]:
    """Everything that can be done before start; returns the resolved executable and environment."""
    spec = cfg.spec
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    os.umask(0)
    # A session of its own, as runc gives it: a ^C typed at hutch's terminal reaches hutch (which forwards
    # it once), not the container directly as well.
    os.setsid()
    if cfg.stdio is not None:
        _install_stdio(cfg.stdio)
    linux = spec.linux
    mount_ns = linux.namespace("mount")
    if mount_ns is not None and not mount_ns.path:
        rootfs.setup(spec, cfg.rootfs, in_userns=linux.namespace("user") is not None)
    if spec.hostname and linux.namespace("uts") is not None:
        with step(f"set the hostname to {spec.hostname}"):
            sc.sethostname(spec.hostname)
    net_ns = linux.namespace("network")
    if net_ns is not None and not net_ns.path:
        with step("bring the loopback interface up"):
            net.link_up("lo")
    for key, value in linux.sysctl.items():
        with step(f"set sysctl {key}={value}"), open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    if spec.process.oom_score_adj is not None:
        with step("set oom_score_adj"), open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(spec.process.oom_score_adj))
    if spec.process.terminal:
        _setup_terminal(chan)
    os.umask(0o022)
    with step(f"change to the working directory {spec.process.cwd}"):
        try:
            os.chdir(spec.process.cwd)
        except FileNotFoundError:
            os.makedirs(spec.process.cwd, 0o755)  # as docker does for a missing WORKDIR
            os.chdir(spec.process.cwd)
    process.apply_rlimits(spec.process)
    proc = spec.process
    return process.find_executable(proc.args[0], proc.env, proc.cwd), process.environ(proc.env)


def _install_stdio(stdio: tuple[int, int, int]) -> None:
    for target, fd in enumerate(stdio):
        if fd != target:
            os.dup2(fd, target)
    for fd in set(stdio):
        if fd > 2:
            os.close(fd)


def _setup_terminal(chan: sync.Channel) -> None:
    """Allocate the pty from the container's own devpts and hand the master to the runtime."""
    with step("allocate a pseudo-terminal"):
        master, slave = pty.open_pair("/dev/ptmx")
        chan.send(sync.PTY, fds=[master])
        os.close(master)
        pty.make_controlling(slave)
        for target in (0, 1, 2):
            os.dup2(slave, target)
        if slave > 2:
            os.close(slave)


def _wait_for_start(cfg: InitConfig, chan: sync.Channel) -> None:
    chan.send(sync.READY)
    try:
        chan.expect(sync.START)
    except sync.ChannelClosed:
        os._exit(EXIT_RUNTIME)  # the runtime went away before starting us
    if cfg.die_with_parent:
        sc.set_pdeathsig(signal.SIGKILL)


def _finish_and_exec(cfg: InitConfig, path: str, env: dict[str, str]) -> None:
    proc = cfg.spec.process
    # From here on every page the process touches is charged to the container: do as little as possible.
    process.join_cgroup(cfg.join_fds)
    if cfg.spec.linux.namespace("cgroup") is not None:
        with step("create a cgroup namespace"):
            sc.unshare(sc.CLONE_NEWCGROUP)
    process.set_identity(proc)
    if proc.no_new_privileges:
        sc.set_no_new_privs()
    sc.close_range(3, flags=sc.CLOSE_RANGE_CLOEXEC)
    process.execute(path, proc.args, env)
