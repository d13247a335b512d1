"""Shared fixtures for hutch's tests.

Everything here is real: a busybox root filesystem built from the Debian busybox-static package, a static
program compiled with gcc, the hutch command line run as a subprocess, and cgroups read straight from the
kernel's filesystems. Nothing is installed here; `make test` installs the packages.

The autouse `noleftovers` fixture compares, before and after every test, the cgroups under `hutch/` in every
hierarchy, the mounts that mention the test's temporary paths or "hutch", and the test process's descendants.
Anything new is removed (processes killed by PID, mounts detached, cgroups removed) and the test errors with a
message naming it. Tests take a lock (flock on /run/hutch-tests.lock) one at a time, so two pytest sessions on
the same machine never mistake each other's containers for leftovers.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))

from hutchtest import (  # noqa: E402
    MNT_DETACH,
    CgroupFs,
    build_busybox_rootfs,
    cmdline,
    hutch_background,
    kill_and_reap,
    leftovers,
    libc,
    remove_cgroup,
    run_hutch,
    snapshot,
)

LOCK_FILE = Path("/run/hutch-tests.lock")


@pytest.fixture(scope="session")
def cgroups() -> CgroupFs:
    return CgroupFs()


@pytest.fixture(scope="session")
def _tmp_markers(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return [str(tmp_path_factory.getbasetemp())]


@pytest.fixture(autouse=True)
def no_leftovers(cgroups: CgroupFs, _tmp_markers: list[str]) -> Iterator[None]:
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = snapshot(cgroups, _tmp_markers)
        yield
        # Give the kernel a moment: a PID namespace is torn down asynchronously after its init exits.
        deadline = time.monotonic() + 1.0
        while True:
            cg_new, mounts_new, procs_new = leftovers(before, snapshot(cgroups, _tmp_markers))
            if not (cg_new or mounts_new or procs_new) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not (cg_new or mounts_new or procs_new):
            return
        report = []
        if procs_new:
            report.append("processes: " + ", ".join(f"{p} ({cmdline(p)})" for p in sorted(procs_new)))
        if mounts_new:
            report.append("mounts: " + ", ".join(sorted(mounts_new.values())))
        if cg_new:
            report.append("cgroups: " + ", ".join(_describe_cgroup(p) for p in sorted(cg_new)))
        # Clean up: our descendants, then whatever runs in the leaked cgroups, then mounts, then cgroups.
        kill_and_reap(procs_new)
        for mp in sorted(mounts_new.values(), key=len, reverse=True):
            if libc.umount2(os.fsencode(mp), MNT_DETACH) != 0:
                report.append(f"(could not detach {mp}: {os.strerror(ctypes.get_errno())})")
        for path in sorted(cg_new, key=lambda p: -len(p.parts)):
            remove_cgroup(path)
        pytest.fail("test left behind " + "; ".join(report), pytrace=False)


def _describe_cgroup(path: Path) -> str:
    try:
        pids = (path / "cgroup.procs").read_text().split()
    except OSError:
        pids = []
    return f"{path} (processes: {', '.join(f'{p} {cmdline(int(p))}' for p in pids)})" if pids else str(path)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared busybox rootfs. Do not write to it; use `rootfs` for a private copy."""
    return build_busybox_rootfs(tmp_path_factory.mktemp("busybox-rootfs"))


@pytest.fixture(scope="session")
def static_hello(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path) -> Path:
    """A static program that prints "hello"; also installed in busybox_rootfs as /hello."""
    out = tmp_path_factory.mktemp("hello") / "hello"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(FIXTURES / "hello.c")], check=True)
    shutil.copy2(out, busybox_rootfs / "hello")
    return out


@pytest.fixture
def rootfs(busybox_rootfs: Path, tmp_path: Path) -> Path:
    """A private copy of the busybox rootfs that a test may change."""
    dest = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, dest, symlinks=True)
    return dest


@pytest.fixture
def hutch() -> Callable[..., subprocess.CompletedProcess]:
    return run_hutch


@pytest.fixture
def hutch_bg():
    return hutch_background


@pytest.fixture
def name() -> str:
    """A container name that no other test uses."""
    return "t" + uuid.uuid4().hex[:11]
