"""The v1 freezer controller: freeze a cgroup so its task list is stable while it is being killed."""

from __future__ import annotations

import time

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats

_FREEZE_TIMEOUT_SECONDS = 1.0


class Freezer:
    name = "freezer"

    def requested(self, res: Resources) -> bool:
        return False

    def apply(self, directory: str, res: Resources) -> None:
        pass

    def stats(self, directory: str, out: Stats) -> None:
        pass


def freeze(directory: str) -> bool:
    """Freeze and wait; False when the cgroup is still FREEZING at the deadline (e.g. a task in D state)."""
    state_file = f"{directory}/freezer.state"
    fs.write(state_file, "FROZEN")
    deadline = time.monotonic() + _FREEZE_TIMEOUT_SECONDS
    while fs.read(state_file).strip() != "FROZEN":
        if time.monotonic() > deadline:
            return False
        # Re-writing FROZEN nudges tasks that were forking when the first write landed.
        time.sleep(0.001)
        fs.write(state_file, "FROZEN")
    return True


def thaw(directory: str) -> None:
    fs.write(f"{directory}/freezer.state", "THAWED")
