"""Signals sent to hutch reach the container's PID 1."""

from __future__ import annotations

import select
import signal

import pytest
from hutchtest import TIME_SCALE

SCRIPT = 'trap "echo got-{sig}" {sig}; trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done'


def _readline(pipe, timeout: float = 10.0) -> bytes:
    timeout *= TIME_SCALE
    ready, _, _ = select.select([pipe], [], [], timeout)
    assert ready, f"no output within {timeout}s"
    return pipe.readline()


@pytest.mark.parametrize("sig", ["USR1", "USR2", "HUP", "INT", "QUIT"])
def test_signal_is_forwarded_then_sigterm_ends_with_the_trap_exit_code(hutch_bg, busybox_rootfs, sig):
    script = SCRIPT.format(sig=sig)
    with hutch_bg("run", "--rootfs", str(busybox_rootfs), "--", "sh", "-c", script) as proc:
        assert _readline(proc.stdout) == b"ready\n"
        proc.send_signal(getattr(signal, f"SIG{sig}"))
        assert _readline(proc.stdout) == f"got-{sig}\n".encode()
        assert proc.poll() is None, "hutch exited on a forwarded signal"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10 * TIME_SCALE) == 7
