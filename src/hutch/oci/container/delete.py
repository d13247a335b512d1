"""`delete`: remove a stopped (or, with --force, a live) container's processes, cgroup and state directory."""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal

from hutch.linux import pidfd
from hutch.oci.container.container import CREATED, STOPPED, Container
from hutch.oci.errors import ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_EXIT_WAIT_SECONDS = 5.0


def delete(root: str, container_id: str, force: bool = False,
           warn: Callable[[str], None] | None = None) -> None:
    with Container.open(root, container_id) as container:
        status = container.status()
        if status not in (STOPPED, CREATED) and not force:
            raise ContainerError(f"cannot delete container {container_id} that is not stopped: {status}")
        state = container.state
        destroy(container)
        if state is not None and state.phase != "creating":
            poststop = state.hooks("poststop")
            if poststop:
                from hutch.oci.process.hooks import run_hooks_logged

                run_hooks_logged("poststop", poststop, state.hook_state(STOPPED, 0), warn)


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
        if not _own_mount_namespace(container.state.config):
            from hutch.oci.rootfs.root import detach_container_mounts

            detach_container_mounts(container.state.rootfs)
    container.dir.remove()


def _own_mount_namespace(config: dict) -> bool:
    """Whether the container had a new mount namespace: otherwise its mounts are in a shared one."""
    namespaces = (config.get("linux") or {}).get("namespaces") or []
    return any(ns.get("type") == "mount" and not ns.get("path") for ns in namespaces if isinstance(ns, dict))
