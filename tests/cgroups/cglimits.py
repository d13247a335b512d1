"""Helpers for the tests of the less common limits: where a file lives, block devices, the throw-away VM."""

from __future__ import annotations

import os
import subprocess

from hutch.cgroups import CgroupLayout, Layout, Manager

MiB = 1 << 20


def limit_file(layout: CgroupLayout, manager: Manager, controller: str, name: str) -> str:
    """A controller's file for the manager's cgroup; on a hybrid host a controller that no v1 hierarchy has
    (hugetlb here) lives in the cgroup2 tree."""
    root = layout.unified if layout.layout == Layout.V2 else layout.mountpoint(controller)
    if root is None:
        root = layout.unified
    assert root is not None, f"controller {controller} is nowhere"
    return f"{root}/{manager.path}/{name}"


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def lines(path: str) -> list[str]:
    return read(path).splitlines()


def in_throwaway_vm() -> bool:
    """True inside ../shared/tools/v2vm, whose changes vanish with it.

    Only there do tests load kernel modules, change an I/O scheduler or add network and RDMA devices.
    """
    return os.uname().nodename == "v2vm" and os.path.isdir("/run/v2vm")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def whole_disk(prefixes: tuple[str, ...] = ("loop", "ram")) -> tuple[str, int, int] | None:
    """A whole block device (name, major, minor) to put I/O rules on: throttles and weights refuse partitions.

    Rules in a test cgroup only affect the processes in it, so any disk will do; unused ones are preferred.
    """
    if in_throwaway_vm() and not any(name.startswith("ram") for name in os.listdir("/sys/block")):
        run("modprobe", "brd")
    names = sorted(os.listdir("/sys/block"))
    for name in [n for n in names if n.startswith(prefixes)] + names:
        try:
            major, minor = read(f"/sys/block/{name}/dev").split(":")
        except OSError:
            continue
        return name, int(major), int(minor)
    return None
