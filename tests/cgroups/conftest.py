"""Fixtures for the cgroup tests: throw-away cgroups under "hutch/" and child processes placed in them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from cghelpers import unique_path

from hutch.cgroups import CgroupLayout, Manager, close_fds, detect_layout, new_manager


@pytest.fixture(scope="session")
def layout() -> CgroupLayout:
    return detect_layout()


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
