"""A foreground container: spec, cgroup, create, start, monitor, report and clean up."""

from __future__ import annotations

import os
import time

from hutch.engine.monitor import Monitor, SignalTrap
from hutch.engine.options import RunOptions, build_spec
from hutch.engine.report import Report
from hutch.linux import pidfd
from hutch.oci.errors import ContainerError
from hutch.oci.init import InitConfig
from hutch.oci.spec import Spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups import Resources

EXIT_OOM = 137
SIGKILL = 9  # a literal: the signal module's enums are a start-up cost


def cgroup_resources(spec: Spec) -> Resources:
    """The spec's linux.resources in the cgroups layer's terms."""
    from hutch.cgroups import Resources

    res = spec.linux.resources
    return Resources(
        memory_limit=res.memory.limit, memory_reservation=res.memory.reservation,
        memory_swap=res.memory.swap, pids_limit=res.pids_limit, cpu_shares=res.cpu.shares,
        cpu_quota=res.cpu.quota, cpu_period=res.cpu.period, cpuset_cpus=res.cpu.cpus,
        cpuset_mems=res.cpu.mems,
    )


def run(opts: RunOptions) -> Report:
    """Run a container to its end. Raises ContainerError (or CgroupError) for failures before it runs."""
    from hutch.cgroups import new_manager, warmup
    from hutch.oci.create import create
    from hutch.oci.start import start

    spec, rootfs = build_spec(opts)
    manager = new_manager(spec.linux.cgroups_path or "")
    if manager.subtree_pids():
        # A leftover empty cgroup of a crashed run is reused; one with processes belongs to a live container.
        raise ContainerError(f"the container name {opts.name} is already in use")
    with Cleanup() as cleanup:
        manager.create()
        cleanup.callback(manager.destroy)
        manager.apply(cgroup_resources(spec))
        join_fds = manager.join_fds()
        cleanup.callback(_close_all, join_fds)
        warmup_fd = manager.warmup_fd()
        if warmup_fd is not None:
            cleanup.callback(os.close, warmup_fd)
        stdio = _stdio(opts, cleanup)
        trap = SignalTrap()
        cleanup.callback(trap.close)
        began = time.monotonic()
        warmup.wait()
        cfg = InitConfig(spec, rootfs, join_fds=join_fds, warmup_fd=warmup_fd, stdio=stdio,
                         die_with_parent=True, debug=opts.debug)
        created = create(cfg)
        cleanup.callback(created.close)
        _close_all(join_fds)
        join_fds.clear()

        def kill() -> None:
            created.process.send_signal(SIGKILL)
            manager.kill()

        monitor = Monitor(created, trap, kill, opts.timeout, stdin_open=opts.interactive)
        if created.pty_master is not None:
            monitor.copy_window_size()
            terminal = _RawTerminal(opts.interactive)
            terminal.enter()
            cleanup.callback(terminal.restore)
        try:
            start(created)
        except BaseException:
            manager.kill()
            raise
        status = monitor.wait()
        wall = time.monotonic() - began
        stats = manager.stats()
        code, sig = pidfd.exit_code(status)
        oom_killed = stats.oom_kills > 0
        return Report(
            # An OOM kill anywhere in the container means it did not finish its work: say so with 137,
            # even when PID 1 survived the kill and exited on its own (as stress's parent does).
            exit_code=EXIT_OOM if oom_killed else code, process_exit_code=code, signal=sig,
            oom_killed=oom_killed, timed_out=monitor.timed_out,
            memory_peak_bytes=stats.memory_peak, memory_limit_bytes=spec.linux.resources.memory.limit,
            cpu_user_seconds=stats.cpu_user_seconds, cpu_system_seconds=stats.cpu_system_seconds,
            wall_seconds=round(wall, 6),
        )
    raise AssertionError("unreachable")


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _stdio(opts: RunOptions, cleanup: Cleanup) -> tuple[int, int, int] | None:
    if opts.tty:
        return None
    if opts.interactive:
        return (0, 1, 2)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    cleanup.callback(os.close, devnull)
    return (devnull, 1, 2)


class Cleanup:
    """Undo steps in reverse order, each even if another fails: contextlib.ExitStack without its import."""

    def __init__(self) -> None:
        self._steps: list[tuple[object, tuple[object, ...]]] = []

    def callback(self, fn: object, *args: object) -> None:
        self._steps.append((fn, args))

    def __enter__(self) -> Cleanup:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, _tb: object) -> bool:
        first: BaseException | None = None
        while self._steps:
            fn, args = self._steps.pop()
            try:
                fn(*args)  # type: ignore[operator]
            except BaseException as error:
                first = first or error
        if first is not None and exc is None:
            raise first
        return False


class _RawTerminal:
    """Put the caller's terminal in raw mode for the pty session; restored on every exit path."""

    def __init__(self, interactive: bool) -> None:
        self.fd = 0
        self.saved: list | None = None
        self.interactive = interactive

    def enter(self) -> None:
        if self.interactive and os.isatty(self.fd):
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)

    def restore(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

