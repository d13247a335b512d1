"""`kill`: a signal to the container's init (through a pidfd), or with --all to all of its cgroup."""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os

from hutch.oci.container.container import CREATING, PAUSED, STOPPED, Container
from hutch.oci.errors import ContainerError


def parse_signal(text: str) -> int:
    """'KILL', 'SIGKILL', 'kill', '9', 'RTMIN+2' -> the signal number; ContainerError for anything else."""
    if text.isdigit():
        number = int(text)
        if 0 <= number < signal.NSIG:  # 0 only asks whether the init is alive, as kill(2) does
            return number
        raise ContainerError(f'invalid signal "{text}"')
    name = text.upper().removeprefix("SIG")
    base, plus, offset = name.partition("+")
    if base == "RTMIN" and (not plus or offset.isdigit()):
        number = signal.SIGRTMIN + (int(offset) if plus else 0)
    elif name.startswith("RTMAX") and (name == "RTMAX" or (name[5:6] == "-" and name[6:].isdigit())):
        number = signal.SIGRTMAX - (int(name[6:]) if name != "RTMAX" else 0)
    else:
        number = getattr(signal, "SIG" + name, None) if name.isalnum() else None
        if not isinstance(number, int):
            raise ContainerError(f'unknown signal "{text}"')
    if not 0 < number <= signal.SIGRTMAX:
        raise ContainerError(f'unknown signal "{text}"')
    return number


def kill(root: str, container_id: str, sig: int, all_processes: bool = False) -> None:
    with Container.open(root, container_id) as container:
        status = container.status()
        if status in (STOPPED, CREATING):
            raise ContainerError("container not running")
        if all_processes:
            signal_all(container, sig)
        else:
            init = container.init()
            if init is None or not init.send_signal(sig):
                raise ContainerError("container not running")
            init.close()
        if status == PAUSED and sig == signal.SIGKILL:
            container.manager().thaw()  # a frozen process cannot act on SIGKILL until thawed (cgroup v1)


def signal_all(container: Container, sig: int) -> None:
    """Signal every process of the container's cgroup, frozen meanwhile so none can fork or recycle a PID."""
    manager = container.manager()
    if sig == signal.SIGKILL:
        manager.kill()
        return
    was_frozen = manager.is_frozen()
    if not was_frozen:
        manager.freeze()
    try:
        for pid in manager.subtree_pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    finally:
        if not was_frozen:
            manager.thaw()
