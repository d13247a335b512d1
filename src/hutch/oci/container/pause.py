"""`pause` and `resume`: freeze and thaw every process of the container's cgroup."""

from __future__ import annotations

from hutch.oci.container.container import CREATED, PAUSED, RUNNING, Container
from hutch.oci.errors import ContainerError


def pause(root: str, container_id: str) -> None:
    with Container.open(root, container_id) as container:
        if container.status() not in (RUNNING, CREATED):
            raise ContainerError("container not running")
        container.manager().freeze()


def resume(root: str, container_id: str) -> None:
    with Container.open(root, container_id) as container:
        if container.status() != PAUSED:
            raise ContainerError("container not paused")
        container.manager().thaw()
