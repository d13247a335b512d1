"""OCI linux.resources.unified: raw cgroup v2 files, checked to be plain files of an enabled controller."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError


def controller_of(key: str) -> str:
    """The controller a key belongs to ("memory" for "memory.high"), once it is known to be a file name."""
    controller, dot, rest = key.partition(".")
    if "/" in key or "\0" in key or not (controller and dot and rest):
        raise CgroupError(f"unified resource {key!r} must be a file name of the form CONTROLLER.PARAMETER")
    return controller


def first_unavailable(values: dict[str, str], enabled: list[str]) -> tuple[str, str] | None:
    """The first key (with its controller) that is neither a cgroup core file nor of an enabled controller."""
    for key in values:
        controller = controller_of(key)
        if controller != "cgroup" and controller not in enabled:
            return key, controller
    return None


def write(directory: str, values: dict[str, str]) -> None:
    for key, value in values.items():
        path = f"{directory}/{key}"
        if not fs.exists(path):
            raise CgroupError(f"unified resource {key!r} cannot be set: {path} does not exist")
        if not value.isascii():
            raise CgroupError(f"unified resource {key!r} cannot be set: its value is not ASCII")
        fs.write(path, value)
