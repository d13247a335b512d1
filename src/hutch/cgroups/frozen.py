"""Whether a container's cgroup is frozen, read without a manager: what `state`, `start` and `kill` ask."""

from __future__ import annotations

from hutch.cgroups.layout import Layout, detect


def is_frozen(path: str) -> bool:
    layout = detect()
    relative = "/".join(part for part in path.split("/") if part not in ("", "."))
    if layout.layout == Layout.V2:
        from hutch.cgroups.v2.freezer import is_frozen as v2_is_frozen

        return layout.unified is not None and v2_is_frozen(f"{layout.unified}/{relative}")
    mountpoint = layout.mountpoint("freezer")
    if mountpoint is None:
        return False
    from hutch.cgroups.v1.freezer import is_frozen as v1_is_frozen

    return v1_is_frozen(f"{mountpoint}/{relative}")
