"""The fork/init steps of `exec`: join a running container's namespaces, fork into its PID namespace, exec.

    runtime ── fork ─▶ middle child: non-dumpable, setns(pidfd of the container's init, every namespace but
                       cgroup) ─▶ imports sealed ─▶ pty, cwd, the cgroup namespace, rlimits, identity,
                       capabilities ─▶ becomes the exec shim (a sealed memfd, linux/execshim.py) ─▶ fork ─▶
                       process (in the container's PID namespace): session, terminal, joins the container's
                       cgroup ─▶ execve of the program

No Python runs inside the container's PID namespace: the middle child, which does the work, is outside it
(invisible to the container's processes), and the process it forks there is the shim from its first
instruction. Without a shim for the machine, the middle child forks in Python and the process does the
same steps itself.

The middle child reports the process's host PID and exits, so the process is reparented to the runtime (a
subreaper, when it waits) or to the runtime's own subreaper (podman's conmon, containerd's shim). It is never
dumpable before execve: a process of the container cannot ptrace it or open its /proc/PID/exe (the host's
Python interpreter) — the class of CVE-2019-5736.
"""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os

from hutch.linux import execshim
from hutch.linux import syscalls as sc
from hutch.oci.config.spec import Process, Seccomp
from hutch.oci.errors import EXIT_RUNTIME, step
from hutch.oci.process import steps, sync
from hutch.oci.process.filters import PreparedFilter
from hutch.oci.process.init import RESET_SIGNALS, report
from hutch.record import Factory, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


class ExecConfig(Record):
    process: Process
    pidfd: int  # the container's init
    ns_flags: int  # CLONE_NEW* of the namespaces to join (all of the container's own but cgroup)
    cgroupns_fd: int | None = None  # the init's cgroup namespace, entered after the cgroup join
    join_fds: list[int] = Factory(list)
    preserve_fds: int = 0
    debug: bool = False
    seccomp: Seccomp | None = None  # the container's filter applies to every process exec'd into it


def child_main(cfg: ExecConfig, chan: sync.Channel) -> NoReturn:
    """The middle child: enter the container's namespaces, fork the process, report its PID, exit."""
    try:
        keep = {0, 1, 2, chan.fileno(), cfg.pidfd, *cfg.join_fds, *range(3, 3 + cfg.preserve_fds)}
        if cfg.cgroupns_fd is not None:
            keep.add(cfg.cgroupns_fd)
        sc.close_all_except(keep)
        sc.set_dumpable(False)
        affinity = cfg.process.exec_cpu_affinity
        if affinity is not None:
            steps.set_cpu_affinity(affinity.initial, "initial")
        if cfg.debug:
            steps.preload_traceback()
        # Compiled before setns: libseccomp is loaded from the host's root.
        seccomp = PreparedFilter(cfg.seccomp) if cfg.seccomp is not None else None
        with step("join the container's namespaces"):
            sc.setns(cfg.pidfd, cfg.ns_flags)
        # The root is the container's now: nothing may be imported any more.
        steps.seal_imports()
        os.close(cfg.pidfd)
        if execshim.available():
            _prepare_and_spawn(cfg, chan, seccomp)
        pid = os.fork()
        if pid == 0:
            _process_main(cfg, chan, seccomp)
        chan.send(sync.PID, str(pid).encode())
        os._exit(0)
    except BaseException as exc:
        report(chan, exc, cfg.debug)


def _prepare_and_spawn(cfg: ExecConfig, chan: sync.Channel, seccomp: PreparedFilter | None) -> None:
    """Take the process's state in the middle child, then become the shim, which forks the process in the
    container's PID namespace, reports its PID, and joins the cgroup and execs in it. Only raises."""
    proc = cfg.process
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    with step("load the exec shim"):
        shim = execshim.sealed_fd()  # first: a low RLIMIT_NOFILE must not stop it
    tty = steps.open_terminal(chan, size=proc.console_size) if proc.terminal else None
    steps.change_directory(proc.cwd)
    path = steps.find_executable(proc.args[0], proc.env, proc.cwd)
    env = steps.environ(proc.env)
    if cfg.cgroupns_fd is not None:
        # Before the cgroup join, unlike a process that enters it itself: the join is the shim's, and a
        # cgroup.procs opened outside the namespace may be written from inside it.
        with step("join the container's cgroup namespace"):
            sc.setns(cfg.cgroupns_fd, sc.CLONE_NEWCGROUP)
    # Before the identity, which may take the capability to raise a limit. RLIMIT_NPROC then also applies
    # to the shim's fork, as to a fork by the program (root is exempt from it).
    steps.apply_rlimits(proc)
    steps.apply_scheduling(proc)
    join_fds = cfg.join_fds
    final = proc.exec_cpu_affinity.final if proc.exec_cpu_affinity is not None else None
    if final is not None:
        # Joining a cpuset resets the affinity: join here, then set the final one, which the shim inherits.
        steps.join_cgroup(join_fds)
        steps.set_cpu_affinity(final, "final")
        join_fds = []
    _take_identity(proc, cfg, chan, seccomp)
    execshim.execute(shim, path, proc.args, env, report_fd=chan.fileno(), fork=True, tty_fd=tty,
                     join_fds=join_fds)


def _take_identity(proc: Process, cfg: ExecConfig, chan: sync.Channel,
                   seccomp: PreparedFilter | None) -> None:
    """Identity, no_new_privs and the container's seccomp filter, in the init's order (init._finish)."""
    steps.close_fds_for_exec(cfg.preserve_fds)  # first, as the filter of an older profile may refuse it
    early = seccomp is not None and not proc.no_new_privileges
    if early:
        seccomp.load(chan)  # type: ignore[union-attr]
    steps.set_identity(proc)
    if proc.no_new_privileges:
        sc.set_no_new_privs()
    if seccomp is not None and not early:
        seccomp.load(chan)


def _process_main(cfg: ExecConfig, chan: sync.Channel, seccomp: PreparedFilter | None) -> NoReturn:
    try:
        proc = cfg.process
        for sig in RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        os.setsid()
        if proc.terminal:
            steps.take_terminal(steps.open_terminal(chan, size=proc.console_size))
        steps.change_directory(proc.cwd)
        steps.apply_rlimits(proc)
        path = steps.find_executable(proc.args[0], proc.env, proc.cwd)
        env = steps.environ(proc.env)
        steps.apply_scheduling(proc)
        # As late as possible: every page touched from here on is charged to the container.
        steps.join_cgroup(cfg.join_fds)
        if proc.exec_cpu_affinity is not None:
            steps.set_cpu_affinity(proc.exec_cpu_affinity.final, "final")
        if cfg.cgroupns_fd is not None:
            with step("join the container's cgroup namespace"):
                sc.setns(cfg.cgroupns_fd, sc.CLONE_NEWCGROUP)
        shim = None
        if execshim.available():
            with step("load the exec shim"):
                shim = execshim.sealed_fd()
        _take_identity(proc, cfg, chan, seccomp)
        if shim is not None:
            # The channel closes when the program runs; the shim reports a failed execve on it.
            execshim.execute(shim, path, proc.args, env, report_fd=chan.fileno())
        steps.execute(path, proc.args, env)
    except BaseException as exc:
        report(chan, exc, cfg.debug)
    os._exit(EXIT_RUNTIME)


