"""pidfd-based process handles, so no signal or wait ever reaches a recycled PID."""

from __future__ import annotations

# _signal is signal's C core: signal.py adds enums that cost milliseconds on every start.
import _signal as signal
import os


class Process:
    """A process held by a pidfd: signal and wait go to exactly this process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd = os.pidfd_open(pid)
        os.set_inheritable(self.fd, False)

    def send_signal(self, sig: int) -> bool:
        """Signal the process; False if it has already exited."""
        try:
            signal.pidfd_send_signal(self.fd, sig)
        except ProcessLookupError:
            return False
        return True

    def wait(self, block: bool = True) -> int | None:
        """Reap the process (it must be our child) and return its raw wait status, or None if running."""
        flags = os.WEXITED | (0 if block else os.WNOHANG)
        while True:
            try:
                result = os.waitid(os.P_PIDFD, self.fd, flags)
            except InterruptedError:
                continue
            if result is None:
                return None
            if result.si_code == os.CLD_EXITED:
                return result.si_status << 8
            return result.si_status & 0x7F

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def exit_code(status: int) -> tuple[int, int | None]:
    """Map a wait status to (exit code, signal) with the shell's 128+signal convention."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.WEXITSTATUS(status), None


def open_verified(pid: int, start_time: int | None) -> Process | None:
    """A handle on the process `pid` that started at `start_time`; None when it is gone or the PID was reused.

    The pidfd is opened first and the start time checked after: if it still matches, the pidfd holds that very
    process, and nothing sent through it can reach a process that recycled the PID later.
    """
    from hutch.linux import proc

    if pid <= 0:
        return None
    try:
        handle = Process(pid)
    except (ProcessLookupError, OSError):
        return None
    if not proc.is_running(pid, start_time):
        handle.close()
        return None
    return handle


def wait_exit(handle: Process, timeout: float | None) -> bool:
    """Wait until the process (a child or not) exits; False on timeout (a pidfd polls readable at exit)."""
    import select

    poller = select.poll()
    poller.register(handle.fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else int(timeout * 1000)))
