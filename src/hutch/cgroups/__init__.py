"""Control groups: layout detection, one manager per layout, one class per controller."""

from __future__ import annotations

from hutch.cgroups.layout import CgroupLayout, Layout
from hutch.cgroups.layout import detect as detect_layout
from hutch.cgroups.manager import Manager, close_fds
from hutch.cgroups.resources import CgroupError, Resources, Stats

__all__ = [
    "CgroupError",
    "CgroupLayout",
    "Layout",
    "Manager",
    "Resources",
    "Stats",
    "close_fds",
    "detect_layout",
    "new_manager",
]


def new_manager(path: str, layout: CgroupLayout | None = None) -> Manager:
    """The manager for this host's layout (or the given one); only that layout's modules get imported."""
    layout = layout or detect_layout()
    if layout.layout == Layout.V2:
        from hutch.cgroups.v2.manager import V2Manager

        return V2Manager(path, layout)
    if layout.layout == Layout.HYBRID:
        from hutch.cgroups.hybrid import HybridManager

        return HybridManager(path, layout)
    from hutch.cgroups.v1.manager import V1Manager

    return V1Manager(path, layout)
