"""OOM notification on the real kernel: an OOM kill in the cgroup wakes the notifier; nothing else does."""

from __future__ import annotations

import os
import select
import signal
import subprocess
from collections.abc import Callable

import pytest
from hutchtest import TIME_SCALE

from hutch.cgroups import CgroupError, CgroupLayout, Layout, Manager, Resources

MiB = 1 << 20
Spawn = Callable[[Manager, str], subprocess.Popen]

# Multiplying bytes memsets the buffer, so every page is really touched (bytearray(n) would not be).
ALLOCATE_100_MIB = "b = b'x' * (100 << 20)"
ALLOCATE_5_MIB_AND_SLEEP = "import time; b = b'x' * (5 << 20); time.sleep(120)"


def readable(fd: int, seconds: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(seconds * 1000))


def limit_memory(manager: Manager) -> None:
    limit = 20 * MiB
    manager.apply(Resources(memory_limit=limit, memory_swap=limit))


def test_an_oom_kill_wakes_the_notifier_within_a_second(manager: Manager, spawn: Spawn) -> None:
    limit_memory(manager)
    notifier = manager.oom_notifier()
    try:
        assert notifier.read() == 0
        child = spawn(manager, ALLOCATE_100_MIB)
        assert child.wait(timeout=60 * TIME_SCALE) == -signal.SIGKILL
        # The kill is over when the child is reaped: the notification is already there or comes right away.
        assert readable(notifier.fileno(), 1.0 * TIME_SCALE)
        assert notifier.read() >= 1
        assert notifier.read() == 0  # counted once
        assert not readable(notifier.fileno(), 0)
        assert manager.oom_kills() >= 1
        # A second OOM is a second notification.
        assert spawn(manager, ALLOCATE_100_MIB).wait(timeout=60 * TIME_SCALE) == -signal.SIGKILL
        assert readable(notifier.fileno(), 1.0 * TIME_SCALE)
        assert notifier.read() >= 1
    finally:
        notifier.close()


def test_nothing_is_reported_without_an_oom(manager: Manager, spawn: Spawn) -> None:
    limit_memory(manager)
    notifier = manager.oom_notifier()
    try:
        spawn(manager, ALLOCATE_5_MIB_AND_SLEEP)
        assert not readable(notifier.fileno(), 0.5 * TIME_SCALE)
        assert notifier.read() == 0
        assert manager.oom_kills() == 0
    finally:
        notifier.close()


def test_an_oom_before_the_notifier_existed_is_not_reported(manager: Manager, spawn: Spawn) -> None:
    limit_memory(manager)
    assert spawn(manager, ALLOCATE_100_MIB).wait(timeout=60 * TIME_SCALE) == -signal.SIGKILL
    notifier = manager.oom_notifier()
    try:
        assert not readable(notifier.fileno(), 0.2 * TIME_SCALE)
        assert notifier.read() == 0
    finally:
        notifier.close()


def test_removing_the_cgroup_is_no_oom(make_manager: Callable[..., Manager]) -> None:
    manager = make_manager()
    notifier = manager.oom_notifier()
    try:
        manager.destroy()
        # v1 signals the eventfd when the cgroup goes; that must not read as an OOM.
        assert notifier.read() == 0
        assert notifier.read() == 0
    finally:
        notifier.close()


def test_close_is_idempotent_and_frees_the_descriptor(manager: Manager) -> None:
    notifier = manager.oom_notifier()
    fd = notifier.fileno()
    notifier.close()
    notifier.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_without_a_memory_controller_there_is_no_notifier(
    make_manager: Callable[..., Manager], layout: CgroupLayout
) -> None:
    if layout.layout == Layout.V2:
        outer = make_manager()
        inner = make_manager(f"{outer.path}/inner")
        with open(f"{outer.directories()[0]}/cgroup.subtree_control", "w") as f:
            f.write("-memory")
        manager = inner
    else:
        without = {name: mp for name, mp in layout.v1.items() if name != "memory"}
        manager = make_manager(layout=layout._replace(v1=without))
    with pytest.raises(CgroupError) as caught:
        manager.oom_notifier()
    assert str(caught.value) == "cgroup controller 'memory' is not available"
