"""`create`: fork the container's init with everything set up, stopped just before exec."""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os

from hutch.linux import pidfd
from hutch.linux import syscalls as sc
from hutch.oci import sync
from hutch.oci.errors import ContainerError
from hutch.oci.init import InitConfig, child_main
from hutch.oci.spec import IdMapping
from hutch.record import Record


class Created(Record):
    """A container whose init waits on the channel for `start`."""

    pid: int
    process: pidfd.Process
    channel: sync.Channel
    pty_master: int | None = None

    def close(self) -> None:
        self.channel.close()
        self.process.close()
        if self.pty_master is not None:
            os.close(self.pty_master)
            self.pty_master = None


def create(cfg: InitConfig) -> Created:
    # The init is a grandchild: once the middle child exits, we must become its parent to wait on it.
    sc.set_child_subreaper()
    ours, theirs = sync.Channel.pair()
    child = os.fork()
    if child == 0:
        ours.close()
        child_main(cfg, theirs)
    theirs.close()
    try:
        return _handshake(cfg, ours, child)
    except BaseException:
        ours.close()
        raise


def _handshake(cfg: InitConfig, chan: sync.Channel, child: int) -> Created:
    # The middle child's PID message and the init's messages race on one channel: accept either order.
    init: pidfd.Process | None = None
    master: int | None = None
    child_reaped = ready = False
    try:
        while init is None or not ready:
            try:
                kind, payload, fds = chan.recv()
            except sync.ChannelClosed:
                raise ContainerError("the container's init exited during setup") from None
            if kind == sync.USERNS:
                _write_id_maps(child, cfg.spec.linux.uid_mappings, cfg.spec.linux.gid_mappings)
                chan.send(sync.MAPPED)
            elif kind == sync.PID:
                init = pidfd.Process(int(payload))
                _reap(child)
                child_reaped = True
            elif kind == sync.PTY and fds:
                master = fds[0]
            elif kind == sync.READY:
                ready = True
            elif kind == sync.ERROR:
                raise sync.RemoteError.parse(payload)
        return Created(init.pid, init, chan, master)
    except sync.RemoteError as exc:
        _cleanup(init, master, child, child_reaped)
        raise ContainerError(str(exc), exc.exit_code) from None
    except BaseException:
        _cleanup(init, master, child, child_reaped)
        raise


def _cleanup(init: pidfd.Process | None, master: int | None, child: int, child_reaped: bool) -> None:
    if init is not None:
        init.send_signal(signal.SIGKILL)
        init.wait()
        init.close()
    if not child_reaped:
        try:
            os.kill(child, signal.SIGKILL)  # our own direct child, not yet reaped: its PID cannot be reused
        except ProcessLookupError:
            pass
        _reap(child)
    if master is not None:
        os.close(master)


def _reap(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0


def _write_id_maps(pid: int, uids: list[IdMapping], gids: list[IdMapping]) -> None:
    for name, maps in (("uid_map", uids), ("gid_map", gids)):
        if not maps:
            raise ContainerError(f"a user namespace needs {name.replace('_', ' ')} entries")
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as exc:
            raise ContainerError(f"cannot write {name} {text.strip()!r}: {exc.strerror}") from None
