"""`update`: change a live container's cgroup limits and remember them in its state."""

from __future__ import annotations

from hutch.oci.config.spec import Resources, Spec, SpecError
from hutch.oci.container.container import STOPPED, Container
from hutch.oci.errors import ContainerError

# What `update` can change today; anything else in the document is refused rather than silently dropped.
_SUPPORTED = {"memory": {"limit", "reservation", "swap"},
              "cpu": {"shares", "quota", "period", "cpus", "mems"},
              "pids": {"limit"}, "devices": None}


def update(root: str, container_id: str, changes: dict) -> None:
    """Apply a LinuxResources document (only the fields it names) to the container's cgroup and state."""
    _check_supported(changes)
    try:
        res = Resources.from_dict(changes)
    except SpecError as exc:
        raise ContainerError(str(exc)) from None
    with Container.open(root, container_id) as container:
        state = container.require_state()
        if container.status() == STOPPED:
            raise ContainerError("container not running")
        spec = Spec.from_dict(state.config)
        from hutch.oci.config.resources import update_resources

        container.manager().apply(update_resources(res, spec.linux.devices))
        linux = state.config.setdefault("linux", {})
        merged = linux.setdefault("resources", {})
        for key, value in changes.items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
        container.dir.save(state)


def _check_supported(changes: dict) -> None:
    if not isinstance(changes, dict):
        raise ContainerError("resources: expected a JSON object")
    for key, value in changes.items():
        if key not in _SUPPORTED:
            raise ContainerError(f"update: linux.resources.{key} is not supported by hutch-runtime yet")
        fields = _SUPPORTED[key]
        if fields is not None and isinstance(value, dict):
            for field, item in value.items():
                if field not in fields and item not in (None, 0, ""):
                    raise ContainerError(f"update: linux.resources.{key}.{field} is not supported yet")
