"""hutch-runtime exec and the console socket: processes in a running container, with and without a pty."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time
from pathlib import Path

from hutchtest import TIME_SCALE, CgroupFs
from runtimetest import Bundle, Runtime, cgroup_of, parent_of, pid_alive


def _running(runtime: Runtime, bundle: Bundle, cid: str, **process: object) -> int:
    bundle.write(**process)
    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    return runtime.state(cid)["pid"]


def test_exec_runs_in_every_namespace_and_the_cgroup_and_returns_the_exit_code(
        runtime: Runtime, bundle: Bundle, cid: str) -> None:
    init = _running(runtime, bundle, cid)
    try:
        script = ("for ns in mnt pid net uts ipc; do readlink /proc/self/ns/$ns; done; hostname; "
                  "cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 3")
        result = runtime("exec", cid, "sh", "-c", script)
        assert result.returncode == 3, result.stderr
        lines = result.stdout.splitlines()
        for line, ns in zip(lines[:5], ("mnt", "pid", "net", "uts", "ipc"), strict=True):
            assert line == os.readlink(f"/proc/{init}/ns/{ns}")
        assert lines[5] == "hutch"  # the spec's hostname
        assert lines[6].strip() == "sleep 600"  # PID 1 of the namespace it joined
    finally:
        runtime("delete", "-f", cid)


def test_exec_process_joins_the_containers_cgroup(runtime: Runtime, bundle: Bundle, cid: str,
                                                  tmp_path: Path) -> None:
    _running(runtime, bundle, cid)
    try:
        pid_file = tmp_path / "exec.pid"
        runtime("exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "600", check=True)
        pid = int(pid_file.read_text())
        assert pid_alive(pid) and parent_of(pid) == os.getpid()  # reparented to the caller's subreaper
        assert cgroup_of(pid, "memory") == f"/hutch/{cid}" and cgroup_of(pid, "pids") == f"/hutch/{cid}"
    finally:
        runtime("delete", "-f", cid)
    assert not pid_alive(pid)


def test_exec_with_a_process_file_and_flags(runtime: Runtime, bundle: Bundle, cid: str,
                                            tmp_path: Path) -> None:
    _running(runtime, bundle, cid)
    try:
        flagged = runtime("exec", "--user", "65534:65534", "--cwd", "/tmp", "--env", "FOO=bar", "-g", "5",
                          cid, "sh", "-c", "id -u; id -g; id -G; pwd; echo $FOO; "
                          "grep CapEff /proc/self/status")
        assert flagged.returncode == 0, flagged.stderr
        uid, gid, groups, cwd, foo, capeff = flagged.stdout.splitlines()
        assert (uid, gid, cwd, foo) == ("65534", "65534", "/tmp", "bar")
        assert "5" in groups.split()
        assert capeff.split()[1] == "0000000000000000"  # a non-root user keeps no effective capability
        process = {"args": ["sh", "-c", "echo $X; pwd; id -u"], "cwd": "/proc",
                   "env": ["X=from-file", "PATH=/bin"],
                   "user": {"uid": 1, "gid": 1}, "terminal": False}
        (tmp_path / "process.json").write_text(json.dumps(process))
        from_file = runtime("exec", "--process", str(tmp_path / "process.json"), cid)
        assert from_file.returncode == 0, from_file.stderr
        assert from_file.stdout.splitlines() == ["from-file", "/proc", "1"]
    finally:
        runtime("delete", "-f", cid)


def test_exec_errors_are_runcs(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    _running(runtime, bundle, cid)
    try:
        missing = runtime("exec", cid, "/no/such/program")
        assert missing.returncode == 255
        assert "exec failed" in missing.stderr and "no such file" in missing.stderr
        runtime("pause", cid, check=True)
        paused = runtime("exec", cid, "true")
        assert paused.returncode == 255 and "paused" in paused.stderr
        # --ignore-paused goes ahead: the process joins the frozen cgroup, and runs once it is resumed.
        with subprocess.Popen(runtime.argv("exec", "--ignore-paused", cid, "sh", "-c", "exit 6"),
                              stdin=subprocess.DEVNULL) as proc:
            time.sleep(0.5)
            assert proc.poll() is None
            runtime("resume", cid, check=True)
            assert proc.wait(timeout=10 * TIME_SCALE) == 6
    finally:
        runtime("delete", "-f", cid)
    stopped = runtime("exec", cid, "true")
    assert stopped.returncode == 255 and "does not exist" in stopped.stderr


def test_exec_forwards_signals_to_the_process(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    _running(runtime, bundle, cid)
    try:
        with subprocess.Popen(runtime.argv("exec", cid, "sh", "-c", "trap 'exit 9' TERM; echo ready; "
                                           "while :; do sleep 0.05; done"),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True) as proc:
            assert proc.stdout.readline() == "ready\n"
            proc.terminate()
            assert proc.wait(timeout=10 * TIME_SCALE) == 9
    finally:
        runtime("delete", "-f", cid)


class ConsoleSocket:
    """The receiving end of --console-socket, as conmon and containerd's shim hold it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.sock.settimeout(20 * TIME_SCALE)

    def receive(self) -> int:
        conn, _ = self.sock.accept()
        with conn:
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 4)
        assert len(fds) == 1
        return fds[0]

    def close(self) -> None:
        self.sock.close()


def _read_until(fd: int, wanted: bytes, timeout: float = 10) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while wanted not in data:
        if not select.select([fd], [], [], max(0, deadline - time.monotonic()))[0]:
            raise AssertionError(f"timed out waiting for {wanted!r}, got {data!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_console_socket_receives_the_pty_master_of_create(runtime: Runtime, bundle: Bundle, cid: str,
                                                         tmp_path: Path) -> None:
    bundle.write(terminal=True, args=["sh", "-c", "tty; stty size; read line; echo got $line"])
    console = ConsoleSocket(tmp_path / "console.sock")
    try:
        refused = runtime("create", "-b", str(bundle.path), cid)
        assert refused.returncode == 1 and "console socket" in refused.stderr
        created = subprocess.Popen(runtime.argv("create", "--console-socket", str(console.path), "-b",
                                                str(bundle.path), cid), stdin=subprocess.DEVNULL)
        master = console.receive()
        assert created.wait(timeout=20 * TIME_SCALE) == 0
        try:
            import fcntl
            import struct
            import termios

            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
            runtime("start", cid, check=True)
            out = _read_until(master, b"33 101")
            assert b"/dev/pts/0" in out
            os.write(master, b"hello\n")
            assert b"got hello" in _read_until(master, b"got hello")
        finally:
            os.close(master)
        runtime.wait_status(cid, "stopped")
        runtime("delete", cid, check=True)
    finally:
        console.close()
        runtime("delete", "-f", cid)


def test_exec_with_a_tty_through_the_console_socket_and_detached(runtime: Runtime, bundle: Bundle, cid: str,
                                                                tmp_path: Path) -> None:
    _running(runtime, bundle, cid)
    console = ConsoleSocket(tmp_path / "console.sock")
    try:
        refused = runtime("exec", "-t", "-d", cid, "tty")
        assert refused.returncode == 255 and "console socket" in refused.stderr
        proc = subprocess.Popen(runtime.argv("exec", "-t", "-d", "--console-socket", str(console.path),
                                             cid, "sh", "-c", "tty; sleep 1"), stdin=subprocess.DEVNULL)
        master = console.receive()
        try:
            assert proc.wait(timeout=20 * TIME_SCALE) == 0
            assert b"/dev/pts/" in _read_until(master, b"/dev/pts/")
        finally:
            os.close(master)
    finally:
        console.close()
        runtime("delete", "-f", cid)


def test_exec_with_a_tty_in_the_foreground_proxies_the_callers_terminal(runtime: Runtime, bundle: Bundle,
                                                                        cid: str) -> None:
    _running(runtime, bundle, cid)
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(runtime.argv("exec", "-t", cid, "sh", "-c", "tty; read x; echo x=$x; exit 4"),
                                stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        slave = -1
        assert b"/dev/pts/" in _read_until(master, b"/dev/pts/")
        os.write(master, b"abc\r")
        assert b"x=abc" in _read_until(master, b"x=abc")
        assert proc.wait(timeout=20 * TIME_SCALE) == 4
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
        runtime("delete", "-f", cid)


def test_exec_in_a_memory_limited_container_is_charged_little(runtime: Runtime, bundle: Bundle, cid: str,
                                                             cgroups: CgroupFs) -> None:
    """The exec'd process joins the cgroup right before execve: 1 MiB is enough for a small static program."""
    bundle.set("linux.resources.memory", {"limit": 1 << 20, "swap": 1 << 20})
    _running(runtime, bundle, cid)
    try:
        for _ in range(3):
            result = runtime("exec", cid, "/hello")
            assert result.returncode == 0 and result.stdout == "hello\n", result.stderr
        assert cgroups.procs(cid) == [runtime.state(cid)["pid"]]
    finally:
        runtime("delete", "-f", cid)
