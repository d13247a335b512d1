"""A foreground container: spec, then the runtime's own create, start and delete, with a monitor and a report.

`hutch run` is a user of the same lifecycle code as `hutch-runtime`: the container's state lives under the
runtime root (/run/hutch/<name>), so its name is claimed atomically and `hutch-runtime state|ps|events`
see it.
"""

from __future__ import annotations

import os
import time

from hutch.engine.options import RunOptions, build_spec
from hutch.engine.report import Report
from hutch.linux import pidfd
from hutch.linux import syscalls as sc
from hutch.oci.container.state import DEFAULT_ROOT
from hutch.oci.errors import ContainerError
from hutch.oci.process.monitor import Cleanup, Monitor, RawTerminal, SignalTrap

EXIT_OOM = 137
SIGKILL = 9  # a literal: the signal module's enums are a start-up cost


def run(opts: RunOptions, root: str = DEFAULT_ROOT) -> Report:
    """Run a container to its end. Raises ContainerError (or CgroupError) for failures before it runs."""
    image = _image_root(opts)
    try:
        return _run(opts, root)
    finally:
        if image is not None:
            from hutch.engine import image_root

            image_root.remove(image)


def _image_root(opts: RunOptions):
    """With an image: mount its layers and take its config, under the flags' overrides; else None."""
    if opts.image is None:
        return None
    from hutch.engine import image_root
    from hutch.engine.options import container_name

    image = image_root.prepare(opts.store_root, opts.image, container_name(opts))
    config = image.config
    opts.args = image_root.command(config, opts.entrypoint, opts.args)
    opts.env = [*(config.get("Env") or []), *opts.env]  # -e wins: later values of a key replace earlier
    opts.workdir = opts.workdir or config.get("WorkingDir") or None
    opts.user = opts.user or config.get("User") or None
    opts.stop_signal = config.get("StopSignal") or None
    opts.rootfs = image.merged
    return image


def _run(opts: RunOptions, root: str) -> Report:
    from hutch.cgroups import warmup
    from hutch.oci.container.create import CreateOptions, create
    from hutch.oci.container.delete import delete
    from hutch.oci.container.start import start

    spec, rootfs = build_spec(opts)
    name = opts.name or ""
    # The container's init is a grandchild: once the middle child exits, we must become its parent to wait.
    sc.set_child_subreaper()
    with Cleanup() as cleanup:
        stdio = _stdio(opts, cleanup)
        trap = SignalTrap()
        cleanup.callback(trap.close)
        began = time.monotonic()
        warmup.wait()
        create_opts = CreateOptions(
            id=name, bundle=rootfs, root=root, spec=spec, rootfs=rootfs, keep_pty=True, join_late=True,
            stdio=stdio, die_with_parent=True, debug=opts.debug,
        )
        created = _create_claiming_name(create, create_opts, root)
        cleanup.callback(delete, root, name, True)
        cleanup.callback(created.close)
        manager = created.manager

        def kill() -> None:
            created.process.send_signal(SIGKILL)
            manager.kill()

        monitor = Monitor(created.process, created.pty_master, trap, kill, opts.timeout,
                          stdin_open=opts.interactive, stop_signal=_stop_signal(opts))
        if created.pty_master is not None:
            monitor.copy_window_size()
            terminal = RawTerminal(opts.interactive)
            terminal.enter()
            cleanup.callback(terminal.restore)
        try:
            start(root, name)
        except BaseException:
            kill()
            _reap(created.process)
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


def _stop_signal(opts: RunOptions) -> int | None:
    if not opts.stop_signal:
        return None
    from hutch.oci.container.kill import parse_signal

    try:
        return parse_signal(opts.stop_signal)
    except ContainerError:
        raise ContainerError(f"the image's StopSignal {opts.stop_signal!r} is not a signal") from None


def _create_claiming_name(create, create_opts, root: str):
    """Create the container; a stopped leftover of a killed `hutch run` of the same name is removed first."""
    try:
        return create(create_opts)
    except ContainerError as exc:
        if "already exists" not in str(exc):
            raise
        if not _remove_stopped(root, create_opts.id):
            raise ContainerError(f"the container name {create_opts.id} is already in use") from None
    return create(create_opts)


def _remove_stopped(root: str, name: str) -> bool:
    from hutch.oci.container.container import STOPPED, Container
    from hutch.oci.container.delete import destroy
    from hutch.oci.container.state import NotFound

    try:
        with Container.open(root, name) as container:
            if container.status() != STOPPED:
                return False
            destroy(container)
    except NotFound:
        pass
    return True


def _reap(process: pidfd.Process) -> None:
    try:
        process.wait()
    except ChildProcessError:
        pass


def _stdio(opts: RunOptions, cleanup: Cleanup) -> tuple[int, int, int] | None:
    if opts.tty:
        return None
    if opts.interactive:
        return (0, 1, 2)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    cleanup.callback(os.close, devnull)
    return (devnull, 1, 2)
