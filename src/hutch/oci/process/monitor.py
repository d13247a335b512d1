"""Watching a container process in the foreground (run, exec, hutch run): signals, pty, timeout."""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os
import select
import time

from hutch.linux import pidfd, pty

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
_CHUNK = 65536


class SignalTrap:
    """Catches the forwarded signals (and SIGWINCH) into a pipe until the container can receive them."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_wakeup = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        self._old = {sig: signal.signal(sig, _ignore) for sig in (*FORWARDED, signal.SIGWINCH)}

    def pending(self) -> list[int]:
        try:
            return list(os.read(self.read_fd, 256))
        except BlockingIOError:
            return []

    def close(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self.read_fd)
        os.close(self.write_fd)


def _ignore(_signum: int, _frame: object) -> None:
    """The wakeup fd does the work; the handler only keeps the default action away."""


class Monitor:
    def __init__(self, process: pidfd.Process, pty_master: int | None, trap: SignalTrap,
                 kill: Callable[[], None] | None = None, timeout: float | None = None,
                 stdin_open: bool = False, stop_signal: int | None = None) -> None:
        self.process = process
        # SIGTERM to a foreground run asks the container to stop: with the image's StopSignal, as docker stop.
        self.stop_signal = stop_signal
        self.pty_master = pty_master
        self.trap = trap
        self.kill = kill
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.stdin_open = stdin_open and pty_master is not None
        self.timed_out = False

    def copy_window_size(self) -> None:
        master = self.pty_master
        if master is None:
            return
        for fd in (0, 1, 2):
            if os.isatty(fd):
                try:
                    pty.set_winsize(master, pty.get_winsize(fd))
                except OSError:
                    pass
                return

    def wait(self) -> int:
        """Run until the container's PID 1 exits; return its wait status."""
        poller = select.poll()
        proc = self.process
        master = self.pty_master
        poller.register(proc.fd, select.POLLIN)
        poller.register(self.trap.read_fd, select.POLLIN)
        if master is not None:
            poller.register(master, select.POLLIN)
        if self.stdin_open:
            poller.register(0, select.POLLIN)
        while True:
            for fd, _events in poller.poll(self._poll_timeout()):
                if fd == proc.fd:
                    self._drain_pty()
                    status = proc.wait()
                    assert status is not None
                    return status
                if fd == self.trap.read_fd:
                    self._forward_signals()
                elif fd == master:
                    if not self._pump(master, 1):
                        poller.unregister(master)
                elif fd == 0 and master is not None and not self._pump(0, master):
                    poller.unregister(0)
            self._check_deadline()

    def _poll_timeout(self) -> int | None:
        if self.deadline is None:
            return None
        return max(0, int((self.deadline - time.monotonic()) * 1000) + 1)

    def _check_deadline(self) -> None:
        if self.deadline is not None and not self.timed_out and time.monotonic() >= self.deadline:
            self.timed_out = True
            if self.kill is not None:
                self.kill()

    def _forward_signals(self) -> None:
        for sig in self.trap.pending():
            if sig == signal.SIGWINCH:
                self.copy_window_size()
            elif sig in FORWARDED:
                self.process.send_signal(self.stop_signal if sig == signal.SIGTERM and self.stop_signal
                                         else sig)

    def _pump(self, src: int, dst: int) -> bool:
        """Copy what is readable from src to dst; False once src is finished (or, draining, empty)."""
        try:
            data = os.read(src, _CHUNK)
        except BlockingIOError:
            return False
        except OSError:
            return False  # EIO: every slave end of the pty is closed
        if not data:
            return False
        try:
            _write_all(dst, data)
        except OSError:
            return False
        return True

    def _drain_pty(self) -> None:
        """Output written just before exit is still in the pty: copy it before reporting the exit."""
        master = self.pty_master
        if master is None:
            return
        os.set_blocking(master, False)
        while self._pump(master, 1):
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[written:]


class Cleanup:
    """Undo steps in reverse order, each even if another fails: contextlib.ExitStack without its import."""

    def __init__(self) -> None:
        self._steps: list[tuple[object, tuple[object, ...]]] = []

    def callback(self, fn: object, *args: object) -> None:
        self._steps.append((fn, args))

    def __enter__(self) -> Cleanup:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, _tb: object) -> bool:
        first: BaseException | None = None
        while self._steps:
            fn, args = self._steps.pop()
            try:
                fn(*args)  # type: ignore[operator]
            except BaseException as error:
                first = first or error
        if first is not None and exc is None:
            raise first
        return False


class RawTerminal:
    """Put the caller's terminal in raw mode for the pty session; restored on every exit path."""

    def __init__(self, interactive: bool) -> None:
        self.fd = 0
        self.saved: list | None = None
        self.interactive = interactive

    def enter(self) -> None:
        if self.interactive and os.isatty(self.fd):
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)

    def restore(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

