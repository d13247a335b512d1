"""`update`: change a live container's cgroup limits and remember them in its state."""

from __future__ import annotations

from hutch.oci.config.spec import Resources, Spec, SpecError
from hutch.oci.container.container import STOPPED, Container
from hutch.oci.errors import ContainerError


def update(root: str, container_id: str, changes: dict) -> None:
    """Apply a LinuxResources document (only the fields it names) to the container's cgroup and state."""
    if not isinstance(changes, dict):
        raise ContainerError("resources: expected a JSON object")
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
