"""The v1 freezer controller: freeze a cgroup for `pause`, or to hold its task list still while killing it."""

from __future__ import annotations

import time

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats

# kill() goes on after this even if the cgroup is not frozen yet: a stuck task must not stop a teardown.
KILL_FREEZE_SECONDS = 1.0
# How long `pause` waits before it gives up, thaws and fails.
PAUSE_SECONDS = 5.0
# After this many FREEZING reads, thaw for a moment (below).
_RETRIES_BEFORE_THAW = 50


class Freezer:
    name = "freezer"

    def requested(self, res: Resources) -> bool:
        return False

    def apply(self, directory: str, res: Resources) -> None:
        pass

    def stats(self, directory: str, out: Stats) -> None:
        pass


def freeze(directory: str, timeout: float = KILL_FREEZE_SECONDS) -> bool:
    """Freeze and wait; False when the cgroup is still FREEZING at the deadline (e.g. a task in D state)."""
    state_file = f"{directory}/freezer.state"
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        # Re-writing FROZEN catches tasks that were forking or joining when the previous write landed.
        fs.write(state_file, "FROZEN")
        if fs.read(state_file).strip() == "FROZEN":
            return True
        if time.monotonic() > deadline:
            return False
        attempt += 1
        if attempt % _RETRIES_BEFORE_THAW == 0:
            # runc's finding: v1 may never finish freezing while new tasks keep appearing, and a short thaw
            # lets them settle so the next attempt succeeds.
            thaw(directory)
            time.sleep(0.01)
        else:
            time.sleep(0.001)


def pause(directory: str, timeout: float = PAUSE_SECONDS) -> None:
    """Freeze for `pause`; if that cannot finish within timeout, thaw (never leave it FREEZING) and raise."""
    if not fs.exists(f"{directory}/freezer.state"):
        raise CgroupError("cgroup controller 'freezer' is not available")
    try:
        frozen = freeze(directory, timeout)
    except CgroupError:
        _thaw_after_failure(directory)
        raise
    if not frozen:
        _thaw_after_failure(directory)
        raise CgroupError(f"cannot freeze {directory}: a task did not stop within {timeout:g} s")


def _thaw_after_failure(directory: str) -> None:
    try:
        thaw(directory)
    except CgroupError:
        pass  # the error being raised says more than this one


def thaw(directory: str) -> None:
    fs.write(f"{directory}/freezer.state", "THAWED")


def is_frozen(directory: str) -> bool:
    """Whether this cgroup itself is frozen; FROZEN only through a frozen ancestor does not count (runc)."""
    if (fs.read_or_none(f"{directory}/freezer.state") or "").strip() != "FROZEN":
        return False
    own = fs.read_or_none(f"{directory}/freezer.self_freezing")
    return own is None or own.strip() == "1"
