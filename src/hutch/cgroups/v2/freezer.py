"""The v2 freezer (cgroup.freeze, Linux 5.2+): freeze for `pause`, or to kill where cgroup.kill is missing."""

from __future__ import annotations

import time

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError

# As in the v1 freezer: kill() goes on after this, `pause` thaws and fails after that.
KILL_FREEZE_SECONDS = 1.0
PAUSE_SECONDS = 5.0


def freeze(directory: str, timeout: float = KILL_FREEZE_SECONDS) -> bool:
    """Freeze and wait for "frozen 1" in cgroup.events; False if it does not come before the deadline."""
    fs.write(f"{directory}/cgroup.freeze", "1")
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while not _events_say_frozen(directory):
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.01)
    return True


def _events_say_frozen(directory: str) -> bool:
    return fs.read_keyed(f"{directory}/cgroup.events").get("frozen") == "1"


def pause(directory: str, timeout: float = PAUSE_SECONDS) -> None:
    """Freeze for `pause`; if that cannot finish within timeout, thaw and raise."""
    if not fs.exists(f"{directory}/cgroup.freeze"):
        raise CgroupError("cgroup freezer is not available (cgroup.freeze needs Linux 5.2)")
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
    fs.write(f"{directory}/cgroup.freeze", "0")


def is_frozen(directory: str) -> bool:
    """Whether this cgroup itself was frozen and is; frozen only through an ancestor does not count."""
    own = (fs.read_or_none(f"{directory}/cgroup.freeze") or "").strip()
    return own == "1" and _events_say_frozen(directory)
