"""`-t -i`: an interactive shell on a pty from the container's own devpts, driven through a pty from here."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time

from hutchtest import HUTCH, TIME_SCALE


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _read_until(master: int, needle: bytes, proc: subprocess.Popen, timeout: float = 15 * TIME_SCALE):
    """Read from the pty master until `needle` appears or hutch exits; return everything read."""
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                out += os.read(master, 4096)
            except OSError:  # EIO: no slave open any more
                break
        elif proc.poll() is not None:
            break
    return out


@contextlib.contextmanager
def _session(*args: str):
    master, slave = os.openpty()
    _set_size(slave, 30, 100)
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([*HUTCH, *args], stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    try:
        yield proc, master, slave
        assert termios.tcgetattr(slave) == before, "hutch did not restore the caller's terminal"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30 * TIME_SCALE)
        os.close(master)
        os.close(slave)


def _lines(data: bytes) -> list[str]:
    return [line.strip() for line in data.decode(errors="replace").replace("\r", "\n").split("\n")]


def test_interactive_shell_on_the_containers_pty(busybox_rootfs):
    with _session("run", "-t", "-i", "--rootfs", str(busybox_rootfs), "--", "sh") as (proc, master, _):
        _read_until(master, b"#", proc, timeout=10 * TIME_SCALE)  # the prompt
        os.write(master, b"tty; echo $((6*7)); exit 3\n")
        out = _read_until(master, b"\x00never", proc, timeout=15 * TIME_SCALE)
        assert proc.wait(timeout=15 * TIME_SCALE) == 3, out
        lines = _lines(out)
        assert "/dev/pts/0" in lines, out
        assert "42" in lines, out


def test_window_size_is_passed_and_follows_sigwinch(busybox_rootfs):
    with _session("run", "-t", "-i", "--rootfs", str(busybox_rootfs), "--", "sh") as (proc, master, slave):
        _read_until(master, b"#", proc, timeout=10 * TIME_SCALE)
        os.write(master, b"stty size; echo first-$((1+1))\n")
        out = _read_until(master, b"first-2", proc)
        assert "30 100" in _lines(out), out
        _set_size(slave, 40, 120)
        proc.send_signal(signal.SIGWINCH)
        time.sleep(0.3 * TIME_SCALE)
        os.write(master, b"stty size; exit 0\n")
        out = _read_until(master, b"\x00never", proc)
        assert proc.wait(timeout=15 * TIME_SCALE) == 0, out
        assert "40 120" in _lines(out), out
