"""OOM notification on v2: inotify on memory.events, counting increases of its oom_kill counter."""

from __future__ import annotations

import os

from hutch.cgroups.resources import CgroupError
from hutch.cgroups.v2.memory import oom_kills
from hutch.linux import inotify


class OomNotifier:
    """fileno() turns readable when memory.events changes; read() says how many OOM kills came since.

    oom_kill rather than oom: it is the counter runc's `events` watches and the one hutch's report uses,
    and it counts processes the OOM killer actually killed; "oom" also counts limit hits that ended
    without a kill (memory freed meanwhile, or a victim that was exiting anyway). memory.events is
    hierarchical, so kills in cgroups the container made below count too.
    """

    def __init__(self, directory: str) -> None:
        self._directory = directory
        events = f"{directory}/memory.events"
        self._fd = inotify.init()
        try:
            inotify.add_watch(self._fd, events, inotify.IN_MODIFY)
        except OSError as exc:
            os.close(self._fd)
            raise CgroupError(f"cannot watch {events}: {exc.strerror}", exc.errno) from None
        # Read after the watch exists, so a kill between the two is counted, not lost.
        self._seen = oom_kills(directory)

    def fileno(self) -> int:
        return self._fd

    def read(self) -> int:
        """OOM kills since the last read (0 if none); never blocks."""
        inotify.read_events(self._fd)  # only a wake-up: the counter says what happened
        current = oom_kills(self._directory)  # 0 once the cgroup is gone
        new = max(0, current - self._seen)
        self._seen = max(current, self._seen)
        return new

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
