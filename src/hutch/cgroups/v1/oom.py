"""OOM notification on v1: an eventfd the kernel signals on each OOM in the cgroup (memory.oom_control)."""

from __future__ import annotations

import os

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError


class OomNotifier:
    """fileno() turns readable when the cgroup has had an OOM; read() says how many since the last read."""

    def __init__(self, directory: str) -> None:
        self._control = f"{directory}/cgroup.event_control"
        oom_control = f"{directory}/memory.oom_control"
        self._fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            target = os.open(oom_control, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            os.close(self._fd)
            raise CgroupError(f"cannot open {oom_control}: {exc.strerror}", exc.errno) from None
        try:
            # "<eventfd> <file>": the kernel keeps its own reference to the cgroup, not to our descriptor of
            # memory.oom_control, so that one can go at once. Closing the eventfd unregisters.
            fs.write(self._control, f"{self._fd} {target}")
        except CgroupError:
            os.close(self._fd)
            raise
        finally:
            os.close(target)

    def fileno(self) -> int:
        return self._fd

    def read(self) -> int:
        """OOM events since the last read (0 if none); never blocks."""
        try:
            count = os.eventfd_read(self._fd)
        except BlockingIOError:
            return 0
        # Removing the cgroup signals the eventfd once more: that is no OOM (runc checks the same way).
        return count if os.path.exists(self._control) else 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
