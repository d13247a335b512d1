"""Fixtures for the hutch-runtime tests: a state root per test, and bundles around the busybox rootfs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtimetest import Bundle, Runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """hutch-runtime with its own --root; the test fails if it leaves a container there."""
    rt = Runtime(tmp_path / "state")
    yield rt
    left = rt.cleanup()
    assert not left, f"the test left containers behind: {left}"


@pytest.fixture
def bundle(tmp_path: Path, busybox_rootfs: Path, static_hello: Path) -> Bundle:
    """A bundle on the shared busybox rootfs (do not write to it) whose process is `sleep 600`."""
    return Bundle(tmp_path / "bundle", busybox_rootfs)


@pytest.fixture
def writable_bundle(tmp_path: Path, rootfs: Path, static_hello: Path) -> Bundle:
    """A bundle on a private copy of the rootfs that the container may write to."""
    import shutil

    shutil.copy2(static_hello, rootfs / "hello")
    return Bundle(tmp_path / "bundle", rootfs)


@pytest.fixture
def cid() -> str:
    """A container ID no other test uses."""
    return "rt" + uuid.uuid4().hex[:10]
