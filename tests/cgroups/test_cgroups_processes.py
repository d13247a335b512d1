"""Real processes in real cgroups: OOM kills, CPU and pids accounting, kill() and destroy()."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from hutch.cgroups import CgroupLayout, Layout, Manager, Resources
from hutch.cgroups.manager import kill_by_polling

MiB = 1 << 20
Spawn = Callable[[Manager, str], subprocess.Popen]

SLEEP = "import time; time.sleep(120)"
# Multiplying bytes memsets the buffer, so every page is really touched (bytearray(n) would not be).
ALLOCATE_100_MIB = "import time; b = b'x' * (100 << 20); time.sleep(5)"
# Reading the CPU clock is a system call: check it rarely, so the time is spent in user mode.
BUSY_FOR_HALF_A_SECOND = """
import time
end = time.process_time() + 0.5
while time.process_time() < end:
    sum(range(100_000))
"""
# A shell whose children fork again: kill() must reach processes the test never saw.
FORKING_TREE = "import os, time\nfor _ in range(3):\n    os.fork()\ntime.sleep(120)"


def wait_until(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_exceeding_the_memory_limit_is_an_oom_kill(manager: Manager, spawn: Spawn) -> None:
    limit = 20 * MiB
    manager.apply(Resources(memory_limit=limit, memory_swap=limit))
    child = spawn(manager, ALLOCATE_100_MIB)
    assert child.wait(timeout=60) == -signal.SIGKILL
    assert manager.oom_kills() >= 1
    stats = manager.stats()
    assert stats.oom_kills == manager.oom_kills()
    assert stats.memory_limit == limit
    if stats.memory_peak is not None:  # memory.peak needs Linux 5.19 on v2
        assert 0.8 * limit <= stats.memory_peak <= limit


def test_cpu_time_is_accounted(manager: Manager, spawn: Spawn) -> None:
    child = spawn(manager, BUSY_FOR_HALF_A_SECOND)
    assert child.wait(timeout=60) == 0
    stats = manager.stats()
    assert stats.cpu_user_seconds is not None and stats.cpu_system_seconds is not None
    assert stats.cpu_user_seconds >= 0.25
    assert stats.cpu_user_seconds + stats.cpu_system_seconds >= 0.5


def test_pids_are_listed_and_counted(manager: Manager, spawn: Spawn) -> None:
    children = [spawn(manager, SLEEP) for _ in range(3)]
    assert manager.pids() == sorted(child.pid for child in children)
    assert manager.stats().pids_current == 3


def test_add_process_moves_a_running_process(manager: Manager, spawn: Spawn) -> None:
    with subprocess.Popen(["sleep", "120"]) as child:
        try:
            manager.add_process(child.pid)
            assert manager.pids() == [child.pid]
            for directory in manager.directories():
                with open(f"{directory}/cgroup.procs") as f:
                    assert f.read().split() == [str(child.pid)]
        finally:
            child.kill()


def test_pids_limit_stops_forks(manager: Manager, spawn: Spawn) -> None:
    manager.apply(Resources(pids_limit=1))
    code = "import os\ntry:\n    os.fork()\nexcept BlockingIOError:\n    raise SystemExit(42)"
    assert spawn(manager, code).wait(timeout=60) == 42


def test_kill_reaches_every_process(manager: Manager, spawn: Spawn) -> None:
    children = [spawn(manager, SLEEP) for _ in range(2)]
    tree = spawn(manager, FORKING_TREE)
    wait_until(lambda: len(manager.pids()) == 2 + 8)
    manager.kill()
    for child in [*children, tree]:
        assert child.wait(timeout=10) == -signal.SIGKILL
    # Grandchildren are reaped by init, a moment later.
    wait_until(lambda: manager.pids() == [])


def test_kill_without_a_freezer_polls(manager: Manager, spawn: Spawn) -> None:
    tree = spawn(manager, FORKING_TREE)
    wait_until(lambda: len(manager.pids()) == 8)
    kill_by_polling(manager.pids)
    assert tree.wait(timeout=10) == -signal.SIGKILL
    wait_until(lambda: manager.pids() == [])


def test_v2_kill_through_the_freezer(manager: Manager, spawn: Spawn, layout: CgroupLayout) -> None:
    """The path for kernels before cgroup.kill (5.14), exercised on a kernel that has both."""
    if layout.layout is not Layout.V2:
        pytest.skip("cgroup.freeze is v2 only; v1 kill() always uses the freezer")
    if not os.path.exists(f"{manager.directories()[0]}/cgroup.freeze"):
        pytest.skip("kernel before 5.2 has no cgroup v2 freezer")
    tree = spawn(manager, FORKING_TREE)
    wait_until(lambda: len(manager.pids()) == 8)
    manager.kill_frozen()  # type: ignore[attr-defined]
    assert tree.wait(timeout=10) == -signal.SIGKILL
    wait_until(lambda: manager.pids() == [])
    with open(f"{manager.directories()[0]}/cgroup.freeze") as f:
        assert f.read().strip() == "0"


def test_destroy_kills_running_processes_and_removes_the_directories(
    make_manager: Callable[..., Manager], spawn: Spawn
) -> None:
    manager = make_manager()
    sleeper = spawn(manager, SLEEP)
    tree = spawn(manager, FORKING_TREE)
    wait_until(lambda: len(manager.pids()) == 9)
    manager.destroy()
    assert not any(os.path.exists(d) for d in manager.directories())
    assert sleeper.wait(timeout=10) == -signal.SIGKILL
    assert tree.wait(timeout=10) == -signal.SIGKILL
    manager.destroy()  # idempotent


def test_destroy_removes_cgroups_the_container_made_below(
    make_manager: Callable[..., Manager], spawn: Spawn, layout: CgroupLayout
) -> None:
    outer = make_manager()
    inner = make_manager(f"{outer.path}/inner")
    children = [spawn(inner, SLEEP)]
    # v2's "no internal processes" rule: with controllers enabled for inner, outer itself can hold none.
    if layout.layout is not Layout.V2:
        children.append(spawn(outer, SLEEP))
        assert outer.pids() == [children[1].pid]
    assert outer.subtree_pids() == sorted(child.pid for child in children)
    outer.destroy()
    assert not any(os.path.exists(d) for d in outer.directories())
    assert all(child.wait(timeout=10) == -signal.SIGKILL for child in children)
