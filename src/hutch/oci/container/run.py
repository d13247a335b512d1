"""`run`: create and start a container; in the foreground wait, forward signals, proxy the pty, delete."""

from __future__ import annotations

from hutch.linux import pidfd
from hutch.linux import syscalls as sc
from hutch.oci.container.create import CreateOptions, create, load_config
from hutch.oci.container.delete import delete
from hutch.oci.container.start import start
from hutch.oci.errors import ContainerError
from hutch.oci.process.monitor import Cleanup, Monitor, RawTerminal, SignalTrap

SIGKILL = 9


def run(opts: CreateOptions, detach: bool = False, keep: bool = False, subreaper: bool = True) -> int:
    """Returns the container's exit code (128+N for a signal) in the foreground, 0 once started detached."""
    raw, spec = load_config(opts.bundle)
    terminal_here = spec.process.terminal and not opts.console_socket and not detach
    opts = opts._replace(spec=spec, raw_config=raw, keep_pty=terminal_here)  # type: ignore[assignment]
    if detach:
        return _run_detached(opts)
    if subreaper:
        # The init is a grandchild: once the middle child exits, we must become its parent to wait for it.
        sc.set_child_subreaper()
    with Cleanup() as cleanup:
        trap = SignalTrap()
        cleanup.callback(trap.close)
        created = create(opts)
        if not keep:
            cleanup.callback(delete, opts.root, opts.id, True)
        cleanup.callback(created.close)
        monitor = Monitor(created.process, created.pty_master, trap, stdin_open=terminal_here)
        if created.pty_master is not None:
            monitor.copy_window_size()
            terminal = RawTerminal(True)
            terminal.enter()
            cleanup.callback(terminal.restore)
        try:
            start(opts.root, opts.id)
        except ContainerError:
            created.process.send_signal(SIGKILL)
            raise
        status = _wait(monitor, created.process)
        return pidfd.exit_code(status)[0]
    raise AssertionError("unreachable")


def _wait(monitor: Monitor, process: pidfd.Process) -> int:
    try:
        return monitor.wait()
    except ChildProcessError:
        # --no-subreaper: the init is not our child; all we can learn is that it ended.
        pidfd.wait_exit(process, None)
        return 0


def _run_detached(opts: CreateOptions) -> int:
    created = create(opts)
    try:
        start(opts.root, opts.id)
    except ContainerError:
        delete(opts.root, opts.id, force=True)
        raise
    finally:
        created.close()
    return 0
