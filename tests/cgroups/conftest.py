"""Fixtures for the cgroup tests: throw-away cgroups under "hutch/" and child processes placed in them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest

from hutch.cgroups import CgroupLayout, Layout, Manager, close_fds, detect_layout, new_manager

PARENT = "hutch"


@pytest.fixture(scope="session")
def layout() -> CgroupLayout:
    return detect_layout()


def cgroup_file(layout: CgroupLayout, path: str, controller: str, name: str) -> str:
    """Where a controller's file lives for the cgroup at path, in whichever layout the host runs."""
    root = layout.unified if layout.layout is Layout.V2 else layout.mountpoint(controller)
    assert root is not None, f"controller {controller} is not mounted"
    return f"{root}/{path.strip('/')}/{name}"


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def unique_path() -> str:
    return f"{PARENT}/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_manager() -> Iterator[Callable[..., Manager]]:
    """Create managers; every cgroup made is destroyed afterwards, even when the test failed."""
    made: list[Manager] = []

    def make(path: str | None = None, layout: CgroupLayout | None = None, create: bool = True) -> Manager:
        manager = new_manager(path or unique_path(), layout)
        made.append(manager)
        if create:
            manager.create()
        return manager

    yield make
    # Innermost first, so a nested test cgroup goes before its parent.
    for manager in sorted(made, key=lambda m: -m.path.count("/")):
        manager.destroy()
        leftover = [d for d in manager.directories() if os.path.exists(d)]
        assert not leftover, f"destroy() left {leftover}"


@pytest.fixture
def manager(make_manager: Callable[..., Manager]) -> Manager:
    return make_manager()


@pytest.fixture
def spawn() -> Iterator[Callable[[Manager, str], subprocess.Popen]]:
    """Start `python -c CODE` inside a cgroup, joined the way a container's init joins: just before execve."""
    started: list[subprocess.Popen] = []

    def start(manager: Manager, code: str) -> subprocess.Popen:
        fds = manager.join_fds()

        def join_cgroup() -> None:
            for fd in fds:
                os.write(fd, b"0")

        try:
            child = subprocess.Popen([sys.executable, "-c", code], preexec_fn=join_cgroup)
        finally:
            close_fds(fds)
        started.append(child)
        return child

    yield start
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait()
