"""The exec shim: a sealed memfd that waits for "start", execs the program and reports a failed execve."""

from __future__ import annotations

import base64
import errno
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hutch.linux import execshim
from hutch.linux.execshim_blob import PROGRAMS

pytestmark = pytest.mark.skipif(not execshim.available(), reason="no exec shim built for this machine")
SHIM_DIR = Path(execshim.__file__).parent / "shim"


def _spawn(program: list[str], listen: object = "-", report: object = "-", fork: str = "-", tty: object = "-",
           join: str = "-", env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = (),
           raw: list[str] | None = None) -> subprocess.Popen:
    """Run the shim from its memfd as hutch does: argv[0] is a name, then LISTEN_FD REPORT_FD FORK TTY_FD
    JOIN_FDS PATH ARG0... (`raw`: exactly these arguments)."""
    args = raw if raw is not None else [str(listen), str(report), fork, str(tty), join, *program]
    fd = execshim.sealed_fd()
    try:
        return subprocess.Popen([execshim.SHIM_NAME, *args], executable=f"/proc/self/fd/{fd}", env=env or {},
                                pass_fds=(fd, *pass_fds), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        os.close(fd)


def test_the_memfd_is_sealed_against_every_change():
    fd = execshim.sealed_fd()
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        for seal in (fcntl.F_SEAL_SEAL, fcntl.F_SEAL_WRITE, fcntl.F_SEAL_GROW, fcntl.F_SEAL_SHRINK):
            assert seals & seal
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"x", 0)
        writer = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)  # reopened by path, as through /proc/PID/exe
        try:
            with pytest.raises(PermissionError):
                os.write(writer, b"x")
        finally:
            os.close(writer)
        assert os.fstat(fd).st_size == len(base64.b64decode(PROGRAMS[os.uname().machine]))
    finally:
        os.close(fd)


def test_it_execs_the_program_with_its_arguments_and_environment():
    proc = _spawn(["/bin/sh", "sh", "-c", 'echo "$0 $1 $GREETING"', "one", "two"], env={"GREETING": "hi"})
    out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out, err) == (0, b"one two hi\n", b"")


@pytest.mark.parametrize(("name", "number", "code"), [("nonexistent", errno.ENOENT, 127),
                                                      ("not-executable", errno.EACCES, 126)])
def test_a_failed_execve_is_reported_on_the_report_fd(tmp_path, name, number, code):
    (tmp_path / "not-executable").write_text("data\n")
    (tmp_path / "not-executable").chmod(0o644)
    path = str(tmp_path / name)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        proc = _spawn([path, "prog"], report=theirs.fileno(), pass_fds=(theirs.fileno(),))
        theirs.close()
        assert proc.wait(timeout=10) == code
        assert ours.recv(4096) == f"execerr {number} prog".encode()


def test_the_report_fd_closes_when_the_program_runs():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        proc = _spawn(["/bin/sleep", "sleep", "30"], report=theirs.fileno(), pass_fds=(theirs.fileno(),))
        theirs.close()
        try:
            ours.settimeout(10)
            assert ours.recv(4096) == b""  # end of file: the program runs, without the descriptor
            assert proc.poll() is None
            assert os.readlink(f"/proc/{proc.pid}/exe") == "/usr/bin/sleep"
        finally:
            proc.kill()
            proc.wait()


def test_it_waits_for_start_and_ignores_other_connections(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    path = str(tmp_path / "init.sock")
    listener.bind(path)
    listener.listen(4)
    with listener:
        proc = _spawn(["/bin/echo", "echo", "started"], listen=listener.fileno(),
                      pass_fds=(listener.fileno(),))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as other:
            other.connect(path)
            other.send(b"stop")
            other.settimeout(10)
            assert other.recv(16) == b""  # closed by the shim, which keeps waiting
        time.sleep(0.1)
        assert proc.poll() is None
        assert os.readlink(f"/proc/{proc.pid}/exe").startswith("/memfd:hutch-init")
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as start:
            start.connect(path)
            start.send(b"start")
            start.settimeout(10)
            assert start.recv(16) == b""
        out, _ = proc.communicate(timeout=10)
        assert (proc.returncode, out) == (0, b"started\n")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_too_few_arguments_exit_125():
    proc = _spawn([], raw=["/proc/self/exe", "/evil"])  # what "#!/proc/self/exe" in a script makes of it
    proc.communicate(timeout=10)
    assert proc.returncode == 125


def test_fork_reports_the_child_then_lets_it_join_and_exec_in_a_new_session(tmp_path):
    joined = [os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600) for name in "ab"]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    script = 'echo "$$ $(cut -d" " -f6 /proc/$$/stat)"'  # the PID and its session
    with ours, theirs:
        proc = _spawn(["/bin/sh", "sh", "-c", script], report=theirs.fileno(), fork="fork",
                      join=",".join(map(str, joined)), pass_fds=(theirs.fileno(), *joined))
        theirs.close()
        for fd in joined:
            os.close(fd)
        ours.settimeout(10)
        kind, _, pid = ours.recv(64).partition(b" ")
        assert kind == b"pid"
        assert proc.wait(timeout=10) == 0  # the parent exits once it has reported
        assert ours.recv(64) == b""  # and the child closed the channel on execve
    out, _ = proc.communicate(timeout=10)
    child, session = out.split()
    assert child == pid and session == pid, "the forked child leads a session of its own"
    assert [(tmp_path / name).read_text() for name in "ab"] == ["0", "0"]


def test_a_failed_join_is_reported_and_nothing_runs(tmp_path):
    (tmp_path / "cgroup.procs").write_text("")
    read_only = os.open(tmp_path / "cgroup.procs", os.O_RDONLY | os.O_CLOEXEC)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        proc = _spawn(["/bin/touch", "touch", str(tmp_path / "ran")], report=theirs.fileno(),
                      join=str(read_only), pass_fds=(theirs.fileno(), read_only))
        theirs.close()
        os.close(read_only)
        assert proc.wait(timeout=10) == 125
        assert ours.recv(4096) == f"failed {errno.EBADF} join the container's cgroup".encode()
    assert not (tmp_path / "ran").exists()


@pytest.mark.skipif(shutil.which("gcc") is None or os.uname().machine != "x86_64",
                    reason="needs gcc on x86_64")
def test_the_committed_program_is_built_from_the_source(tmp_path):
    sys.path.insert(0, str(SHIM_DIR))
    try:
        import build  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SHIM_DIR))
    built = build.build("x86_64", "gcc", tmp_path / "shim")
    assert built == base64.b64decode(PROGRAMS["x86_64"]), "run `make shim` and commit execshim_blob.py"


@pytest.mark.skipif(shutil.which("qemu-aarch64-static") is None, reason="needs qemu-user-static")
def test_the_aarch64_program_runs_under_qemu(tmp_path):
    """The aarch64 build cannot run natively here: qemu's user-mode emulation runs it (and runs the programs
    it execs, which are the host's, natively)."""
    shim = tmp_path / "shim"
    shim.write_bytes(base64.b64decode(PROGRAMS["aarch64"]))
    shim.chmod(0o755)
    qemu = shutil.which("qemu-aarch64-static")
    ok = subprocess.run([qemu, str(shim), "-", "-", "-", "-", "-", "/bin/echo", "echo", "hi"],
                        capture_output=True, timeout=30)
    assert (ok.returncode, ok.stdout) == (0, b"hi\n")
    missing = subprocess.run([qemu, str(shim), "-", "2", "-", "-", "-", "/nonexistent", "x"],
                             capture_output=True, timeout=30)
    assert (missing.returncode, missing.stderr) == (127, b"execerr 2 x")
    forked = subprocess.run([qemu, str(shim), "-", "1", "fork", "-", "-", "/bin/sh", "sh", "-c", "echo $$"],
                            capture_output=True, timeout=30)
    assert forked.returncode == 0 and forked.stdout.startswith(b"pid ")  # the parent's report, on fd 1
