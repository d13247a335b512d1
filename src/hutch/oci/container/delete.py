"""`delete`: remove a stopped (or, with --force, a live) container's processes, cgroup and state directory."""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal

from hutch.linux import pidfd
from hutch.oci.container.container import CREATED, STOPPED, Container
from hutch.oci.errors import ContainerError

_EXIT_WAIT_SECONDS = 5.0


def delete(root: str, container_id: str, force: bool = False) -> None:
    with Container.open(root, container_id) as container:
        status = container.status()
        if status not in (STOPPED, CREATED) and not force:
            raise ContainerError(f"cannot delete container {container_id} that is not stopped: {status}")
        destroy(container)


def destroy(container: Container) -> None:
    """Kill the init and everything in the cgroup, remove the cgroup and the state directory."""
    if container.state is not None:
        init = container.init()
        if init is not None:
            init.send_signal(signal.SIGKILL)  # the init may not have joined its cgroup yet (a killed create)
        if container.state.cgroup_path:
            manager = container.manager()
            if manager.is_frozen():
                manager.thaw()
            manager.destroy()
        if init is not None:
            pidfd.wait_exit(init, _EXIT_WAIT_SECONDS)
            init.close()
    container.dir.remove()
