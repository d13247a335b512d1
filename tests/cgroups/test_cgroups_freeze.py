"""Freezing and thawing real processes (`pause`/`resume`): progress stops, resumes; a stuck freeze fails."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cghelpers import cgroup_file, read
from hutchtest import TIME_SCALE

from hutch.cgroups import CgroupError, CgroupLayout, Layout, Manager

Spawn = Callable[[Manager, str], subprocess.Popen]

# A page fault inside a system call on a userfaultfd-registered page, with nobody serving the fault: the task
# sleeps in the kernel where the freezer cannot stop it, so the cgroup stays FREEZING (v1) or never reports
# "frozen 1" (v2). SIGKILL still ends it. Writes `ready` once it is about to block.
UNFREEZABLE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t] + [ctypes.c_int] * 3 + [ctypes.c_long]
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
uffd = libc.syscall(323, os.O_CLOEXEC)  # userfaultfd
assert uffd >= 0, os.strerror(ctypes.get_errno())
api = (ctypes.c_uint64 * 3)(0xAA, 0, 0)
assert libc.ioctl(uffd, 0xC018AA3F, api) == 0  # UFFDIO_API
page = libc.mmap(None, 4096, 3, 0x22, -1, 0)  # PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS
register = (ctypes.c_uint64 * 4)(page, 4096, 1, 0)  # UFFDIO_REGISTER_MODE_MISSING
assert libc.ioctl(uffd, 0xC020AA00, register) == 0  # UFFDIO_REGISTER
r, w = os.pipe()
os.write(w, b"x")
open({ready!r}, "w").close()
libc.read(r, page, 1)  # the kernel's copy into the page faults, and waits for us forever
"""


def counter(path: Path) -> str:
    """Code for a process that keeps writing a rising number to path, so a test can see whether it runs."""
    return f"""
import os, time
fd = os.open({str(path)!r}, os.O_WRONLY | os.O_CREAT, 0o600)
n = 0
while True:
    n += 1
    os.pwrite(fd, str(n).encode().ljust(20), 0)
    time.sleep(0.002)
"""


def count(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def advances(path: Path, within: float = 10.0) -> bool:
    start = count(path)
    deadline = time.monotonic() + within * TIME_SCALE
    while time.monotonic() < deadline:
        if count(path) > start:
            return True
        time.sleep(0.01)
    return False


def stays_still(path: Path) -> bool:
    before = count(path)
    time.sleep(0.3 * TIME_SCALE)
    return count(path) == before


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout * TIME_SCALE
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def test_freeze_stops_every_process_and_thaw_resumes_them(
    manager: Manager, spawn: Spawn, tmp_path: Path
) -> None:
    files = [tmp_path / "a", tmp_path / "b"]
    for file in files:
        spawn(manager, counter(file))
    assert all(advances(file) for file in files)
    assert not manager.is_frozen()
    try:
        manager.freeze()
        assert manager.is_frozen()
        assert all(stays_still(file) for file in files)
        manager.freeze()  # again: still frozen, no error
        assert manager.is_frozen()
    finally:
        manager.thaw()
    assert not manager.is_frozen()
    assert all(advances(file) for file in files)
    manager.thaw()  # thawing a thawed cgroup is fine


def test_freeze_reaches_cgroups_below_which_are_not_frozen_themselves(
    make_manager: Callable[..., Manager], spawn: Spawn, tmp_path: Path
) -> None:
    outer = make_manager()
    inner = make_manager(f"{outer.path}/inner")
    file = tmp_path / "inner"
    spawn(inner, counter(file))
    assert advances(file)
    try:
        outer.freeze()
        assert stays_still(file)
        # Frozen through its parent only: resuming is the parent's business (runc reports it "running").
        assert outer.is_frozen() and not inner.is_frozen()
    finally:
        outer.thaw()
    assert advances(file)


def test_a_task_that_cannot_be_frozen_fails_the_freeze_and_leaves_the_cgroup_thawed(
    manager: Manager, spawn: Spawn, tmp_path: Path, layout: CgroupLayout
) -> None:
    ready = tmp_path / "ready"
    stuck = spawn(manager, UNFREEZABLE.format(ready=str(ready)))
    wait_for(ready)
    time.sleep(0.1 * TIME_SCALE)  # from writing the file to sleeping in the fault
    file = tmp_path / "runner"
    spawn(manager, counter(file))
    assert advances(file)
    started = time.monotonic()
    with pytest.raises(CgroupError) as caught:
        manager.freeze(timeout=0.5)
    assert time.monotonic() - started < 0.5 + 5 * TIME_SCALE
    directory = os.path.dirname(cgroup_file(layout, manager.path, "freezer", "cgroup.procs"))
    assert str(caught.value) == f"cannot freeze {directory}: a task did not stop within 0.5 s"
    assert not manager.is_frozen()
    if layout.layout == Layout.V2:
        assert read(cgroup_file(layout, manager.path, "freezer", "cgroup.freeze")) == "0"
    else:
        assert read(cgroup_file(layout, manager.path, "freezer", "freezer.state")) == "THAWED"
    assert advances(file)
    assert stuck.poll() is None


def test_kill_ends_a_frozen_cgroup(manager: Manager, spawn: Spawn, tmp_path: Path) -> None:
    children = [spawn(manager, counter(tmp_path / str(i))) for i in range(3)]
    assert all(advances(tmp_path / str(i)) for i in range(3))
    manager.freeze()
    try:
        manager.kill()
        for child in children:
            assert child.wait(timeout=10 * TIME_SCALE) == -signal.SIGKILL
    finally:
        manager.thaw()


def test_freeze_without_a_freezer_is_a_one_line_error(
    make_manager: Callable[..., Manager], layout: CgroupLayout
) -> None:
    if layout.layout == Layout.V2:
        pytest.skip("cgroup.freeze is part of every v2 cgroup on Linux 5.2+")
    without = {name: mp for name, mp in layout.v1.items() if name != "freezer"}
    manager = make_manager(layout=layout._replace(v1=without))
    with pytest.raises(CgroupError) as caught:
        manager.freeze()
    assert str(caught.value) == "cgroup controller 'freezer' is not available"
    manager.thaw()  # nothing was frozen: nothing to do
    assert not manager.is_frozen()


def test_is_frozen_of_a_cgroup_that_does_not_exist(make_manager: Callable[..., Manager]) -> None:
    manager = make_manager(create=False)
    assert not manager.is_frozen()
    assert not any(os.path.exists(d) for d in manager.directories())
