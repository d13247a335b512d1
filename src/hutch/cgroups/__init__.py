"""Control groups: layout detection, one manager per layout, one class per controller."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.layout import CgroupLayout, Layout
    from hutch.cgroups.layout import detect as detect_layout
    from hutch.cgroups.manager import Manager, close_fds
    from hutch.cgroups.resources import CgroupError, Resources, Stats

# name -> (submodule, attribute), imported on first use: a light submodule (layout, frozen, warmup) must not
# load the managers and their controllers with the package (`state` and `kill` pay for every module).
_LAZY = {
    "CgroupLayout": ("layout", "CgroupLayout"), "Layout": ("layout", "Layout"),
    "detect_layout": ("layout", "detect"), "Manager": ("manager", "Manager"),
    "close_fds": ("manager", "close_fds"), "CgroupError": ("resources", "CgroupError"),
    "Resources": ("resources", "Resources"), "Stats": ("resources", "Stats"),
}


def __getattr__(name: str) -> object:
    entry = _LAZY.get(name)
    if entry is None:
        raise AttributeError(f"module 'hutch.cgroups' has no attribute {name!r}")
    module = __import__(f"hutch.cgroups.{entry[0]}", fromlist=[entry[1]])
    value = getattr(module, entry[1])
    globals()[name] = value
    return value

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
    from hutch.cgroups.layout import Layout
    from hutch.cgroups.layout import detect as detect_layout

    layout = layout or detect_layout()
    if layout.layout == Layout.V2:
        from hutch.cgroups.v2.manager import V2Manager

        return V2Manager(path, layout)
    if layout.layout == Layout.HYBRID:
        from hutch.cgroups.hybrid import HybridManager

        return HybridManager(path, layout)
    from hutch.cgroups.v1.manager import V1Manager

    return V1Manager(path, layout)
