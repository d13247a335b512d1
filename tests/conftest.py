"""Shared fixtures for hutch's tests.

Everything here is real: a busybox root filesystem built from the Debian busybox-static package, a static
program compiled with gcc, the hutch command line run as a subprocess, and cgroups read straight from the
kernel's filesystems. Nothing is installed here; `make test` installs the packages.

The autouse `no_leftovers` fixture compares, before and after every test, every process, mount and cgroup of
the host and the test process's open descriptors (see its docstring; the detector is fixtures/leakcheck.py).
The test errors with a message naming whatever is new; what the test demonstrably made is removed. Tests take
a lock (flock on /run/hutch-tests.lock) one at a time, so two pytest sessions on the same machine never
mistake each other's containers for leftovers.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))

import leakcheck  # noqa: E402
from hutchtest import TIME_SCALE, CgroupFs, build_busybox_rootfs, hutch_background, run_hutch  # noqa: E402
from runtimetest import Bundle  # noqa: E402

LOCK_FILE = Path("/run/hutch-tests.lock")


@pytest.fixture(scope="session")
def cgroups() -> CgroupFs:
    return CgroupFs()


@pytest.fixture(scope="session")
def _leak_scope(tmp_path_factory: pytest.TempPathFactory) -> leakcheck.Scope:
    return leakcheck.Scope.from_env([str(tmp_path_factory.getbasetemp())])


# A container's PID namespace, cgroups and mounts go asynchronously after hutch returns: this long at most.
SETTLE_SECONDS = 1.0


@pytest.fixture(autouse=True)
def no_leftovers(cgroups: CgroupFs, _leak_scope: leakcheck.Scope) -> Iterator[None]:
    """Fail a test that leaves anything behind on the host.

    Before and after the test it records every process of the host (by PID and start time, so a recycled PID
    is a new process; kernel threads are ignored), every mount of this mount namespace (by mount ID), every
    cgroup directory of every hierarchy (v1 and cgroup2; hutch/ itself, which hutch makes on first use and
    keeps, does not count), and this process's descriptors with their targets. Whatever is new and does not
    go away by itself within SETTLE_SECONDS (times HUTCH_TEST_TIME_SCALE) fails the test, with what it takes
    to find the cause: a process's command line, parent and cgroup, a mount's fs type, source and root, a
    cgroup's processes, an fd's target.

    The clean-up touches only what the test demonstrably made. It kills pytest's descendants, through pidfds
    checked against their start times; detaches, innermost first, new mounts under the test's tmp dir or
    mentioning hutch and the mounts below them; removes new cgroups under hutch/ or named for hutch in which
    nothing but pytest's descendants runs; releases leaked fds by putting /dev/null in their place (their
    owner may still close the number). Anything else new is reported and left alone: it may be someone
    else's. Even a process in a leaked hutch/ cgroup is killed only if it descends from pytest: with the
    subreaper (below) every process a test starts does, and on a shared machine one that did not turned out
    to be another developer's container.

    pytest is made a child subreaper (PR_SET_CHILD_SUBREAPER). A process that a test daemonises (fork, setsid,
    fork) is then re-parented to pytest instead of PID 1: it stays a descendant, so it is known to be the
    test's and can be killed, and orphans that exit are reaped here (the new ones, at the end of each test)
    instead of by an init that may not reap promptly. Without it such a process could only be reported.

    HUTCH_TEST_SHARED_HOST=1 is for a shared development machine, where other people's processes, mounts and
    cgroups come and go during a test. It narrows the comparison to what the test can have caused: pytest's
    descendants, and processes re-parented to PID 1 that still sit in pytest's own cgroups; mounts under the
    test's tmp dir or mentioning hutch; new cgroups that hold pytest's descendants, or that are empty and
    mention hutch (these are reported but not removed: they may be someone else's, just made). Descriptors
    are compared in full either way. The default, used by CI, is the strict host-wide check.
    """
    leakcheck.set_subreaper()  # again for each test: a test may have switched it off
    roots = [str(h.mountpoint) for h in cgroups.hierarchies]
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = leakcheck.take(roots)
        yield
        left = leakcheck.settle(before, _leak_scope, SETTLE_SECONDS * TIME_SCALE)
        if left:
            leakcheck.clean_up(before, left, _leak_scope)
            pytest.fail(left.describe(), pytrace=False)


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


# The attacker (tests/fixtures/attacker.c) in a rootfs and a bundle, for the attack tests of every layer.


@pytest.fixture(scope="session")
def attacker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from attacktest import compile_static

    return compile_static("attacker.c", tmp_path_factory.mktemp("attacker") / "attacker")


@pytest.fixture
def armed_rootfs(rootfs: Path, attacker: Path) -> Path:
    """A private busybox rootfs with the attacker at /attacker."""
    shutil.copy2(attacker, rootfs / "attacker")
    return rootfs


@pytest.fixture
def armed_bundle(tmp_path: Path, armed_rootfs: Path) -> Bundle:
    """A bundle on the armed rootfs whose process has docker's default capabilities."""
    from attacktest import docker_capabilities

    bundle = Bundle(tmp_path / "bundle", armed_rootfs)
    bundle.config["process"]["capabilities"] = docker_capabilities()
    return bundle
