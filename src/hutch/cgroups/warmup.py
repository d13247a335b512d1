"""Paying the cgroup migration lock's RCU grace period early, in a thread, while hutch prepares a container.

Every cgroup migration takes a global lock; when nobody took it in the last grace period, the first writer
waits for a full RCU grace period (10-25 ms on this class of machine), and writers inside the following
grace period pass at once. A no-op migration of hutch into its own cgroup, started first thing, pays that
wait while hutch imports its modules and builds the spec; the middle child keeps the window open with a
second no-op write (Manager.warmup_fd), so the init's late join into the container's cgroup is cheap.
"""

from __future__ import annotations

import _thread
import os

from hutch.cgroups.layout import CgroupLayout, detect

_done: _thread.LockType | None = None


def own_cgroup_procs(layout: CgroupLayout) -> str | None:
    """cgroup.procs of this process's cgroup in the unified hierarchy (else in the pids one)."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if layout.unified and controllers == "":
            return f"{layout.unified}{path.rstrip('/')}/cgroup.procs"
        if not layout.unified and "pids" in controllers.split(","):
            mount = layout.mountpoint("pids")
            return f"{mount}{path.rstrip('/')}/cgroup.procs" if mount else None
    return None


def _migrate_into_own_cgroup(done: _thread.LockType) -> None:
    try:
        path = own_cgroup_procs(detect())
        if path is not None:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
    except Exception:
        pass
    finally:
        done.release()


def start() -> None:
    global _done
    if _done is not None:
        return
    _done = _thread.allocate_lock()
    _done.acquire()
    _thread.start_new_thread(_migrate_into_own_cgroup, (_done,))


def wait() -> None:
    """Block until the warm-up write is over: no thread may run while the caller forks."""
    if _done is not None:
        _done.acquire()
        _done.release()
