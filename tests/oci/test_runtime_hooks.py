"""OCI hooks through hutch-runtime: each kind at its point of the lifecycle, in its namespace, with the state
on stdin, its args and env, its timeout, and what a failing hook does to the lifecycle."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from hutchtest import TIME_SCALE, wait_for
from runtimetest import Bundle, Runtime

SH = shutil.which("sh") or "/bin/sh"
ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

# Appends one JSON-ish line per call: the hook kind (args), its mount namespace, whether `/marker-dir` of the
# host is visible (the runtime's root) and the state document read from stdin.
RECORDER = """
kind="$1"; log="$2"
state=$(cat)
mnt=$(readlink /proc/self/ns/mnt)
printf '{"kind": "%s", "mnt": "%s", "env": "%s", "state": %s}\\n' \\
    "$kind" "$mnt" "$HOOK_VAR" "$state" >> "$log"
"""


def _hook(kind: str, log: Path, script: str = RECORDER, **extra: object) -> dict:
    return {"path": SH, "args": ["sh", "-c", script, "hook", kind, str(log)],
            "env": [*ENV, f"HOOK_VAR=value-of-{kind}"], **extra}


def _records(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_every_hook_runs_at_its_point_in_its_namespace_with_the_state(
        runtime: Runtime, writable_bundle: Bundle, cid: str, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    # startContainer resolves its path and writes inside the container: its log is the rootfs's /hooks.log.
    inner_log = writable_bundle.rootfs / "hooks.log"
    hooks = {kind: [_hook(kind, log)] for kind in ("prestart", "createRuntime", "createContainer",
                                                    "poststart", "poststop")}
    hooks["startContainer"] = [{"path": "/bin/sh", "args": ["sh", "-c", RECORDER, "hook", "startContainer",
                                                             "/hooks.log"], "env": ENV}]
    writable_bundle.set("hooks", hooks).set("annotations", {"org.example.note": "kept"})
    writable_bundle.write(args=["sh", "-c", "echo program >> /hooks.log; exec sleep 600"])

    runtime("create", "-b", str(writable_bundle.path), cid, check=True)
    pid = runtime.state(cid)["pid"]
    host_mnt = os.readlink("/proc/self/ns/mnt")
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    created = _records(log)
    assert [r["kind"] for r in created] == ["prestart", "createRuntime", "createContainer"]
    for record in created:
        assert record["state"]["id"] == cid and record["state"]["status"] == "creating"
        assert record["state"]["pid"] == pid and record["state"]["bundle"] == str(writable_bundle.path)
        assert record["state"]["annotations"] == {"org.example.note": "kept"}
        assert record["env"] == f"value-of-{record['kind']}"
    # prestart and createRuntime in the runtime's namespace, createContainer in the container's.
    assert [r["mnt"] for r in created] == [host_mnt, host_mnt, container_mnt]
    assert not inner_log.exists(), "startContainer or the program ran at create"

    runtime("start", cid, check=True)
    wait_for(lambda: inner_log.exists() and "program" in inner_log.read_text())
    first, program = inner_log.read_text().splitlines()
    start_record = json.loads(first)
    assert start_record["kind"] == "startContainer" and program == "program"
    assert start_record["state"]["status"] == "created" and start_record["mnt"] == container_mnt
    after_start = _records(log)[3:]
    assert [r["kind"] for r in after_start] == ["poststart"]
    assert after_start[0]["state"]["status"] == "running" and after_start[0]["mnt"] == host_mnt

    runtime("kill", cid, "KILL", check=True)
    runtime.wait_status(cid, "stopped")
    assert [r["kind"] for r in _records(log)] == ["prestart", "createRuntime", "createContainer", "poststart"]
    runtime("delete", cid, check=True)
    poststop = _records(log)[-1]
    assert poststop["kind"] == "poststop" and poststop["state"]["status"] == "stopped"
    assert poststop["state"]["id"] == cid


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_a_failing_create_hook_fails_create_and_leaves_nothing(
        runtime: Runtime, bundle: Bundle, cid: str, tmp_path: Path, kind: str) -> None:
    log = tmp_path / "later.log"
    failing = {"path": SH, "args": ["sh", "-c", "echo the hook says no >&2; exit 3"], "env": ENV}
    bundle.set("hooks", {kind: [failing], "poststart": [_hook("poststart", log)]}).write()
    result = runtime("create", "-b", str(bundle.path), cid)
    assert result.returncode != 0
    assert f"{kind} hook #0 ({SH}): exit status 3: the hook says no" in result.stderr
    assert runtime.status(cid) == "absent" and not log.exists()


def test_a_hook_that_outlives_its_timeout_is_killed_and_fails_create(
        runtime: Runtime, bundle: Bundle, cid: str) -> None:
    slow = {"path": SH, "args": ["sh", "-c", "exec sleep 60"], "env": ENV, "timeout": 1}
    bundle.set("hooks", {"createRuntime": [slow]}).write()
    began = time.monotonic()
    result = runtime("create", "-b", str(bundle.path), cid)
    assert result.returncode != 0 and "createRuntime hook #0" in result.stderr
    assert "timed out after 1 s" in result.stderr
    assert time.monotonic() - began < 15 * TIME_SCALE
    assert runtime.status(cid) == "absent"


def test_a_failing_start_container_hook_fails_start_and_the_program_never_runs(
        runtime: Runtime, writable_bundle: Bundle, cid: str) -> None:
    failing = {"path": "/bin/sh", "args": ["sh", "-c", "exit 7"], "env": ENV}
    writable_bundle.set("hooks", {"startContainer": [failing]})
    writable_bundle.write(args=["sh", "-c", "touch /program-ran; exec sleep 600"])
    runtime("create", "-b", str(writable_bundle.path), cid, check=True)
    result = runtime("start", cid)
    assert result.returncode != 0 and "startContainer hook #0 (/bin/sh): exit status 7" in result.stderr
    runtime.wait_status(cid, "stopped")
    assert not (writable_bundle.rootfs / "program-ran").exists()
    runtime("delete", cid, check=True)


def test_failing_poststart_and_poststop_hooks_are_warnings(
        runtime: Runtime, bundle: Bundle, cid: str, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    failing = {"path": SH, "args": ["sh", "-c", "exit 4"], "env": ENV}
    bundle.set("hooks", {"poststart": [failing, _hook("poststart", log)],
                         "poststop": [failing, _hook("poststop", log)]}).write()
    runtime("create", "-b", str(bundle.path), cid, check=True)
    started = runtime("start", cid)
    assert started.returncode == 0 and "poststart hook #0" in started.stderr and "warning" in started.stderr
    assert runtime.status(cid) == "running"
    runtime("kill", cid, "KILL", check=True)
    runtime.wait_status(cid, "stopped")
    deleted = runtime("delete", cid)
    assert deleted.returncode == 0 and "poststop hook #0" in deleted.stderr
    # The hook after each failing one still ran.
    assert [r["kind"] for r in _records(log)] == ["poststart", "poststop"]
    assert runtime.status(cid) == "absent"


def test_a_hook_that_cannot_be_executed_names_its_path(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set("hooks", {"prestart": [{"path": "/nonexistent/hook"}]}).write()
    result = runtime("create", "-b", str(bundle.path), cid)
    assert result.returncode != 0
    assert "prestart hook #0 (/nonexistent/hook): cannot run it" in result.stderr
