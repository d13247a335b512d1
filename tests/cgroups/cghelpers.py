"""Helpers for the cgroup tests: where a controller's file lives, reading it, naming test cgroups."""

from __future__ import annotations

import uuid

from hutch.cgroups import CgroupLayout, Layout

PARENT = "hutch"


def cgroup_file(layout: CgroupLayout, path: str, controller: str, name: str) -> str:
    """Where a controller's file lives for the cgroup at path, in whichever layout the host runs."""
    root = layout.unified if layout.layout == Layout.V2 else layout.mountpoint(controller)
    assert root is not None, f"controller {controller} is not mounted"
    return f"{root}/{path.strip('/')}/{name}"


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def unique_path() -> str:
    return f"{PARENT}/test-{uuid.uuid4().hex[:12]}"
