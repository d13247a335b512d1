"""Fixtures for the interop tests: podman 4.3 and containerd 1.6 driving the OCI runtime under test.

The runtime under test is chosen in one place, `runtime_binary`: $HUTCH_INTEROP_RUNTIME if set (e.g.
/usr/sbin/runc, to check the harness itself), else the venv's `hutch-runtime` console script, else the tests
skip. With $HUTCH_INTEROP_LOG=/path/to/log, the engines run a logging wrapper in front of it instead (see
runtime_logger.py): every call's argv, cwd, descriptors and environment are appended to that file.

Fixtures: `podman_engine` and `containerd` (session-scoped: storage, image import and daemon start-up happen
once), `podman` and `ctr` (per test). The image is localhost/hutch-busybox:latest, made from the busybox
rootfs of tests/fixtures/hutchtest.py (`podman import` of a layer tar; `ctr images import` of an OCI archive
written here). Each test gets its own cgroup parent (/hutch/podman-<random> or /hutch/ctr-<random>), asserts
at its end that its containers left no process, mount, cgroup or state behind, and its teardown forces away
whatever remains (and errors if it had to). The session's teardown stops containerd and its shims and
removes every directory the engines used.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from containerd_engine import ContainerdEngine, CtrTest
from hutchtest import CgroupFs
from interophelpers import logging_runtime, write_layer_tar, write_oci_archive
from podman_engine import PodmanEngine, PodmanTest

RUNTIME_ENV = "HUTCH_INTEROP_RUNTIME"
LOG_ENV = "HUTCH_INTEROP_LOG"


def pytest_configure(config: pytest.Config) -> None:
    # `-m "not interop"` leaves these out (e.g. in the emulated v2 VM, where they take minutes)
    config.addinivalue_line("markers", "interop: drives podman or containerd (tests/interop)")


@pytest.fixture(scope="session")
def runtime_binary() -> Path:
    """The OCI runtime under test: $HUTCH_INTEROP_RUNTIME, else the venv's hutch-runtime, else skip."""
    chosen = os.environ.get(RUNTIME_ENV)
    if chosen:
        path = Path(chosen)
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.fail(f"{RUNTIME_ENV}={chosen} is not an executable file")
        return path.resolve()
    path = Path(sys.executable).parent / "hutch-runtime"
    if not path.exists():
        pytest.skip(f"no runtime to test: {path} does not exist and {RUNTIME_ENV} is not set")
    return path


@pytest.fixture(scope="session")
def engine_runtime(runtime_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the engines run: the runtime, or a logging wrapper of the same name ($HUTCH_INTEROP_LOG)."""
    log = os.environ.get(LOG_ENV)
    if not log:
        return runtime_binary
    return logging_runtime(runtime_binary, Path(log).resolve(), tmp_path_factory.mktemp("runtime-logger"))


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (make test installs it)")


@pytest.fixture(scope="session")
def image_layer(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's busybox rootfs (hutchtest.build_busybox_rootfs) as an uncompressed image layer."""
    return write_layer_tar(busybox_rootfs, tmp_path_factory.mktemp("image") / "layer.tar")


@pytest.fixture(scope="session")
def podman_engine(
    runtime_binary: Path, engine_runtime: Path, image_layer: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PodmanEngine]:
    require("podman")
    require("conmon")
    base = tmp_path_factory.mktemp("podman")
    engine = None
    try:
        engine = PodmanEngine(base, engine_runtime, runtime_binary, image_layer)
        yield engine
    finally:
        problems = engine.teardown() if engine else []
        shutil.rmtree(base, ignore_errors=True)
    assert not problems, f"podman teardown had to force: {problems}"


@pytest.fixture
def podman(podman_engine: PodmanEngine, cgroups: CgroupFs, tmp_path: Path) -> Iterator[PodmanTest]:
    """podman with this test's cgroup parent; `podman.assert_no_leftovers()` ends each test."""
    test = PodmanTest(podman_engine, cgroups, tmp_path)
    yield test
    problems = test.cleanup()
    if problems:
        pytest.fail("podman test left behind: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def containerd(
    runtime_binary: Path, engine_runtime: Path, image_layer: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ContainerdEngine]:
    require("containerd")
    require("ctr")
    require("containerd-shim-runc-v2")
    base = tmp_path_factory.mktemp("containerd")
    archive = write_oci_archive(image_layer, tmp_path_factory.mktemp("oci") / "busybox-oci.tar")
    engine = ContainerdEngine(base, engine_runtime, runtime_binary, archive)
    try:
        yield engine
    finally:
        problems = engine.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert not problems, f"containerd teardown had to force: {problems}"


@pytest.fixture
def ctr(containerd: ContainerdEngine, cgroups: CgroupFs) -> Iterator[CtrTest]:
    """ctr against the session's containerd, with this test's cgroup parent; see assert_no_leftovers()."""
    test = CtrTest(containerd, cgroups)
    yield test
    problems = test.cleanup()
    if problems:
        pytest.fail("ctr test left behind: " + "; ".join(problems), pytrace=False)
