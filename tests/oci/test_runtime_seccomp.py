"""linux.seccomp through hutch-runtime: enforced in the container and its exec'd processes, loaded early or
late by noNewPrivileges, refused clearly when invalid, and SCMP_ACT_NOTIFY's listener sent to listenerPath."""

from __future__ import annotations

import array
import json
import os
import socket
import threading
from pathlib import Path

import pytest
from hutchtest import TIME_SCALE
from runtimetest import Bundle, Runtime

DENY_MKDIR = {"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}


def _run(runtime: Runtime, bundle: Bundle, cid: str, script: str) -> tuple[int, str]:
    bundle.write(args=["sh", "-c", script])
    result = runtime("run", "-b", str(bundle.path), cid)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_a_denied_syscall_fails_with_the_profiles_errno(
        runtime: Runtime, bundle: Bundle, cid: str, no_new_privileges: bool) -> None:
    """Loaded last with no_new_privs, or before the identity switch (with CAP_SYS_ADMIN) without it."""
    bundle.set("linux.seccomp", DENY_MKDIR).set("process.noNewPrivileges", no_new_privileges)
    code, output = _run(runtime, bundle, cid, "mkdir /tmp/denied && echo made; ls -d /tmp; exit 5")
    assert code == 5, output
    assert "Permission denied" in output and "made" not in output
    assert "/tmp" in output  # other syscalls still work


def test_a_profile_that_kills_ends_the_container_with_sigsys(
        runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                 "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]})
    code, _ = _run(runtime, bundle, cid, "echo $PPID; exec sh -c 'kill -0 1'")  # a shell calls getppid
    assert code == 128 + 31


def test_argument_filters_match_only_their_values(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """personality(0xffffffff) only queries; a rule on that argument value alone denies it."""
    rule = {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
            "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
    bundle.set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
    code, output = _run(runtime, bundle, cid, "setarch i686 true && echo linux32; uname -m")
    assert code == 0, output
    assert "linux32" not in output and "x86_64" in output


def test_exec_processes_get_the_containers_filter(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set("linux.seccomp", DENY_MKDIR).write()
    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    try:
        result = runtime("exec", cid, "mkdir", "/tmp/from-exec")
        assert result.returncode != 0 and "Permission denied" in result.stdout + result.stderr
        assert runtime("exec", cid, "ls", "/").returncode == 0
    finally:
        runtime("delete", "-f", cid)


@pytest.mark.parametrize(("seccomp", "message"), [
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}, "SCMP_ARCH_NOPE"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "linux.seccomp.syscalls[0].args[0].index"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]},
     "WAIT_KILLABLE_RECV"),
])
def test_an_invalid_profile_is_refused_before_anything_runs(
        runtime: Runtime, bundle: Bundle, cid: str, seccomp: dict, message: str) -> None:
    bundle.set("linux.seccomp", seccomp).write()
    result = runtime("create", "-b", str(bundle.path), cid)
    assert result.returncode == 1 and message in result.stderr
    assert result.stderr.count("\n") == 1 and runtime.status(cid) == "absent"


def test_notify_sends_the_listener_and_the_state_to_listener_path(
        runtime: Runtime, bundle: Bundle, cid: str) -> None:
    sock_dir = Path(f"/run/hutch-test-{cid}")
    sock_dir.mkdir(mode=0o700)
    path = sock_dir / "listener.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(20 * TIME_SCALE)
    got: dict = {}

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            fds = array.array("i")
            data, ancillary, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload)
            got["doc"] = json.loads(data)
            got["fd_kind"] = os.readlink(f"/proc/self/fd/{fds[0]}")
            os.close(fds[0])  # no agent: the notified syscall fails with ENOSYS from now on

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        notify = {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}
        bundle.set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(path),
                                     "listenerMetadata": "agent-args", "syscalls": [notify]})
        code, output = _run(runtime, bundle, cid, "mkdir /tmp/notified; echo done")
        thread.join(30 * TIME_SCALE)
        doc = got["doc"]
        assert doc["fds"] == ["seccompFd"] and doc["metadata"] == "agent-args" and doc["pid"] > 0
        assert doc["state"]["id"] == cid and doc["state"]["status"] == "creating"
        assert "seccomp notify" in got["fd_kind"]
        assert code == 0 and "done" in output
    finally:
        thread.join(30 * TIME_SCALE)
        server.close()
        path.unlink(missing_ok=True)
        sock_dir.rmdir()
