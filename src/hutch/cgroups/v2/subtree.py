"""Enabling cgroup v2 controllers down a path through each level's cgroup.subtree_control."""

from __future__ import annotations

from hutch.cgroups import fs


def enable(directory: str, names: list[str]) -> None:
    """Let directory's children use the named controllers; one write for the missing ones, none if all are."""
    subtree_file = f"{directory}/cgroup.subtree_control"
    enabled = fs.read(subtree_file).split()
    missing = [name for name in names if name not in enabled]
    if missing:
        fs.write(subtree_file, " ".join(f"+{name}" for name in missing))


def enable_down_to(root: str, path: str, names: list[str]) -> None:
    """Enable the controllers from root down to the parent of root/path, which must all exist."""
    current = root
    # Each level may only enable what its parent enabled, so go from the root down.
    for part in path.split("/"):
        enable(current, names)
        current = f"{current}/{part}"
