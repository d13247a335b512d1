"""hutch-runtime's lifecycle across processes (create, start, state, kill, delete, run) on the real kernel."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hutchtest import TIME_SCALE, CgroupFs, wait_for
from runtimetest import Bundle, Runtime, cgroup_of, parent_of, pid_alive


@contextlib.contextmanager
def foreground(runtime: Runtime, bundle: Bundle, cid: str, **kw: object) -> Iterator[subprocess.Popen]:
    """`hutch-runtime run` in the background; on the way out (also on failure) its container is deleted."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("text", True)
    proc = subprocess.Popen(runtime.argv("run", "-b", str(bundle.path), cid), **kw)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            runtime("delete", "--force", cid)
        proc.communicate(timeout=30 * TIME_SCALE)


def test_create_leaves_the_init_waiting_in_its_cgroup_and_start_runs_the_program(
        runtime: Runtime, writable_bundle: Bundle, cid: str, cgroups: CgroupFs, tmp_path: Path) -> None:
    writable_bundle.write(args=["sh", "-c", "echo started > /marker; exec sleep 600"])
    pid_file = tmp_path / "init.pid"
    runtime("create", "--bundle", str(writable_bundle.path), "--pid-file", str(pid_file), cid, check=True)
    state = runtime.state(cid)
    assert state["status"] == "created"
    assert state["id"] == cid and state["bundle"] == str(writable_bundle.path)
    assert state["rootfs"] == str(writable_bundle.rootfs) and state["created"].endswith("Z")
    pid = state["pid"]
    # The runtime process is gone; its init lives on, reparented, and already sits in the container's cgroup
    # (engines read /proc/PID/cgroup and the cgroup's stats between create and start).
    assert pid_alive(pid) and parent_of(pid) == os.getpid()
    assert pid_file.read_text() == str(pid)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
    assert pid in cgroups.procs(cid) and cgroup_of(pid, "memory") == f"/hutch/{cid}"
    time.sleep(0.2)
    assert not (writable_bundle.rootfs / "marker").exists(), "the program ran before start"

    runtime("start", cid, check=True)
    wait_for(lambda: (writable_bundle.rootfs / "marker").exists())
    assert runtime.state(cid)["status"] == "running" and runtime.state(cid)["pid"] == pid

    runtime("kill", cid, "KILL", check=True)
    runtime.wait_status(cid, "stopped")
    assert runtime.state(cid)["pid"] == 0
    runtime("delete", cid, check=True)
    assert runtime("state", cid).returncode == 1
    assert not (runtime.root / cid).exists()
    assert cgroups.procs(cid) == [] and not cgroups.container_dir(cid, "memory").exists()


def test_start_refuses_a_running_or_stopped_container_with_runcs_words(
        runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.write(args=["sh", "-c", "sleep 600"])
    runtime("run", "--detach", "--bundle", str(bundle.path), cid, check=True)
    again = runtime("start", cid)
    assert again.returncode == 1 and "cannot start an already running container" in again.stderr
    runtime("kill", cid, "9", check=True)
    runtime.wait_status(cid, "stopped")
    stopped = runtime("start", cid)
    assert stopped.returncode == 1 and "cannot start a container that has stopped" in stopped.stderr
    runtime("delete", cid, check=True)


def test_state_is_stopped_when_the_init_pid_was_reused_by_another_process(
        runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.write()
    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    runtime("kill", cid, "KILL", check=True)
    runtime.wait_status(cid, "stopped")
    # Recycling a PID on purpose is not possible from here: point the state at an unrelated live process
    # instead, which is exactly what a reused PID looks like to the runtime.
    with subprocess.Popen(["sleep", "60"]) as stranger:
        try:
            state_file = runtime.root / cid / "state.json"
            state = json.loads(state_file.read_text())
            state["pid"] = stranger.pid
            state_file.write_text(json.dumps(state))
            assert runtime.status(cid) == "stopped"
            assert runtime("kill", cid, "KILL").returncode == 1
            assert stranger.poll() is None, "a signal reached the process that reused the PID"
            runtime("delete", cid, check=True)
            assert stranger.poll() is None
        finally:
            stranger.kill()


def test_kill_takes_signal_names_and_numbers_and_reports_unknown_ones(
        runtime: Runtime, bundle: Bundle, cid: str) -> None:
    # A shell that reports the signals it receives: PID 1 ignores what it does not handle.
    bundle.write(args=["sh", "-c", "trap 'echo USR1 >&2' USR1; trap 'echo HUP >&2' HUP; "
                       "trap 'exit 7' TERM; while :; do sleep 0.05; done"])
    with foreground(runtime, bundle, cid, stderr=subprocess.PIPE) as proc:
        runtime.wait_status(cid, "running")
        time.sleep(0.2)
        for sig in ("USR1", "SIGHUP"):
            runtime("kill", cid, sig, check=True)
        bad = runtime("kill", cid, "SIGFOO")
        assert bad.returncode == 1 and "unknown signal" in bad.stderr and "SIGFOO" in bad.stderr
        time.sleep(0.3)
        runtime("kill", cid, check=True)  # SIGTERM by default
        _, err = proc.communicate(timeout=10 * TIME_SCALE)
        assert proc.returncode == 7
    assert "USR1" in err and "HUP" in err
    assert runtime.ids() == []  # run without --keep deletes


def test_kill_all_reaches_every_process_of_the_cgroup(runtime: Runtime, bundle: Bundle, cid: str,
                                                      cgroups: CgroupFs) -> None:
    bundle.write(args=["sh", "-c", "sleep 600 & sleep 600 & sleep 600"])
    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    wait_for(lambda: len(cgroups.procs(cid)) == 3)
    init = runtime.state(cid)["pid"]
    runtime("kill", "--all", cid, "USR1", check=True)  # kills the sleeps; PID 1 ignores it
    wait_for(lambda: cgroups.procs(cid) == [init])
    runtime("kill", "-a", cid, "KILL", check=True)
    runtime.wait_status(cid, "stopped")
    runtime("delete", cid, check=True)


def test_delete_refuses_a_running_container_and_force_removes_everything(
        runtime: Runtime, bundle: Bundle, cid: str, cgroups: CgroupFs) -> None:
    bundle.write(args=["sh", "-c", "sleep 600 & sleep 600"])
    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    wait_for(lambda: len(cgroups.procs(cid)) == 2)
    pids = cgroups.procs(cid)
    refused = runtime("delete", cid)
    assert refused.returncode == 1
    assert f"cannot delete container {cid} that is not stopped: running" in refused.stderr
    runtime("delete", "--force", cid, check=True)
    assert not any(pid_alive(p) for p in pids)
    assert not (runtime.root / cid).exists() and not cgroups.container_dir(cid, "pids").exists()
    missing = runtime("delete", cid)
    assert missing.returncode == 1 and "container does not exist" in missing.stderr
    assert runtime("delete", "--force", cid).returncode == 0  # as runc: nothing to force away is fine


def test_delete_of_a_created_container_kills_its_init(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.write()
    runtime("create", "-b", str(bundle.path), cid, check=True)
    pid = runtime.state(cid)["pid"]
    runtime("delete", cid, check=True)
    assert not pid_alive(pid)


def test_run_in_the_foreground_returns_the_exit_code_and_deletes(runtime: Runtime, bundle: Bundle,
                                                                 cid: str) -> None:
    bundle.write(args=["sh", "-c", "echo out; echo err >&2; exit 42"])
    result = runtime("run", "-b", str(bundle.path), cid)
    assert (result.returncode, result.stdout, result.stderr) == (42, "out\n", "err\n")
    assert runtime.ids() == []
    bundle.write(args=["sleep", "600"])
    with foreground(runtime, bundle, cid) as proc:
        runtime.wait_status(cid, "running")
        runtime("kill", cid, "KILL", check=True)
        assert proc.wait(timeout=10 * TIME_SCALE) == 137  # 128 + SIGKILL, as runc reports it
    assert runtime.ids() == []


def test_run_keep_leaves_a_stopped_container(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.write(args=["true"])
    runtime("run", "--keep", "-b", str(bundle.path), cid, check=True)
    assert runtime.status(cid) == "stopped"
    runtime("delete", cid, check=True)


def test_concurrent_commands_on_one_container_never_corrupt_its_state(
        runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.write()
    results: list[subprocess.CompletedProcess] = []
    def create() -> None:
        results.append(runtime("create", "-b", str(bundle.path), cid))

    creators = [threading.Thread(target=create) for _ in range(4)]
    for t in creators:
        t.start()
    for t in creators:
        t.join()
    outcomes = [(r.returncode, r.stderr) for r in results]
    assert sum(code == 0 for code, _ in outcomes) == 1, outcomes
    assert all("container with given ID already exists" in err for code, err in outcomes if code != 0)
    errors: list[str] = []

    def hammer(*args: str) -> None:
        for _ in range(5):
            result = runtime(*args)
            if result.returncode != 0 or "Traceback" in result.stderr:
                errors.append(result.stderr)

    threads = [threading.Thread(target=hammer, args=("state", cid)) for _ in range(3)]
    threads += [threading.Thread(target=hammer, args=("kill", cid, "0"))]
    threads += [threading.Thread(target=hammer, args=("list",))]
    for t in threads:
        t.start()
    runtime("start", cid, check=True)
    for t in threads:
        t.join()
    assert errors == []
    json.loads((runtime.root / cid / "state.json").read_text())
    racers = [threading.Thread(target=runtime, args=("delete", "--force", cid)) for _ in range(3)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert runtime.ids() == []


@pytest.mark.parametrize("fraction", [0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05])
def test_kill_9_during_create_leaves_nothing_that_delete_force_cannot_remove(
        runtime: Runtime, bundle: Bundle, cid: str, cgroups: CgroupFs, fraction: float) -> None:
    bundle.write()
    started = time.monotonic()
    runtime("create", "-b", str(bundle.path), cid + "t", check=True)
    duration = time.monotonic() - started
    runtime("delete", "--force", cid + "t", check=True)
    proc = subprocess.Popen(runtime.argv("create", "-b", str(bundle.path), cid), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(duration * fraction)
    proc.kill()
    proc.wait()
    # Whatever step it died at: delete --force leaves no state, cgroup or process.
    result = runtime("delete", "--force", cid)
    assert result.returncode == 0, result.stderr
    assert not (runtime.root / cid).exists()
    wait_for(lambda: cgroups.procs(cid) == [])
    assert not cgroups.container_dir(cid, "memory").exists()


def test_errors_are_one_line_and_json_in_the_log_file(runtime: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    result = runtime("state", "nosuchcontainer", log=log)
    assert result.returncode == 1
    assert result.stderr == "container does not exist\n"
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container does not exist" and entry["time"]
    plain = runtime("state", "nosuchcontainer")
    assert plain.stderr.count("\n") == 1 and 'level=error msg="container does not exist"' in plain.stderr
    for args, words in [(["state"], '"state" requires exactly 1 argument(s)'),
                        (["kill"], '"kill" requires a minimum of 1 argument(s)'),
                        (["create", "bad/id"], "invalid container id format"),
                        (["--systemd-cgroup", "state", "x"], "--systemd-cgroup is not supported"),
                        (["frobnicate"], "No help topic for 'frobnicate'")]:
        bad = runtime(*args, log=log)  # with a log file, stderr gets the bare message
        assert bad.returncode == 1 and words in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
        assert bad.stderr.count("\n") == 1
        assert json.loads(log.read_text().splitlines()[-1])["msg"] == bad.stderr.strip()


def test_a_missing_bundle_or_a_bad_config_is_a_clear_error(runtime: Runtime, tmp_path: Path,
                                                           bundle: Bundle, cid: str) -> None:
    missing = runtime("create", "-b", str(tmp_path / "nope"), cid)
    assert missing.returncode == 1 and "config.json" in missing.stderr
    bundle.write()
    (bundle.path / "config.json").write_text("{not json")
    broken = runtime("create", "-b", str(bundle.path), cid)
    assert broken.returncode == 1 and "config.json" in broken.stderr and "Traceback" not in broken.stderr
    bundle.set("linux.cgroupsPath", "system.slice:podman:abc").write()
    systemd = runtime("create", "-b", str(bundle.path), cid)
    assert systemd.returncode == 1 and "slice:prefix:name" in systemd.stderr
    assert runtime.ids() == []


@pytest.mark.parametrize(("cgroups_path", "expected"), [
    (None, "/hutch/{cid}"), ("/hutch/abs-{cid}", "/hutch/abs-{cid}"), ("rel-{cid}", "/hutch/rel-{cid}")])
def test_cgroups_path_forms(runtime: Runtime, bundle: Bundle, cid: str, cgroups_path: str | None,
                            expected: str) -> None:
    if cgroups_path is not None:
        bundle.set("linux.cgroupsPath", cgroups_path.format(cid=cid))
    bundle.write()
    runtime("create", "-b", str(bundle.path), cid, check=True)
    try:
        assert cgroup_of(runtime.state(cid)["pid"], "pids") == expected.format(cid=cid)
    finally:
        runtime("delete", "--force", cid, check=True)


def test_the_init_survives_the_runtime_and_start_may_come_much_later(runtime: Runtime, bundle: Bundle,
                                                                      cid: str) -> None:
    bundle.write(args=["true"])
    runtime("create", "-b", str(bundle.path), cid, check=True)
    pid = runtime.state(cid)["pid"]
    time.sleep(1.0)
    assert pid_alive(pid) and runtime.status(cid) == "created"
    runtime("start", cid, check=True)
    runtime.wait_status(cid, "stopped")
    runtime("delete", cid, check=True)


def test_preserve_fds_and_listen_fds_pass_descriptors_into_the_container(
        runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """--preserve-fds 1 plus LISTEN_FDS=1: descriptors 3 and 4 reach the container, nothing else does."""
    bundle.write(args=["sh", "-c", "echo three >&3; echo four >&4; ls /proc/self/fd"])
    r3, w3 = os.pipe()
    r4, w4 = os.pipe()

    def as_fds_3_and_4() -> None:
        os.dup2(w3, 3)
        os.dup2(w4, 4)

    try:
        result = subprocess.run(runtime.argv("run", "--preserve-fds", "1", "-b", str(bundle.path), cid),
                                pass_fds=(3, 4), preexec_fn=as_fds_3_and_4, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, env={**os.environ, "LISTEN_FDS": "1"},
                                timeout=30 * TIME_SCALE)
        os.close(w3)
        os.close(w4)
        assert result.returncode == 0, result.stderr
        assert os.read(r3, 100) == b"three\n" and os.read(r4, 100) == b"four\n"
        # ls itself holds one more descriptor for the directory it lists
        assert [int(x) for x in result.stdout.split()][:5] == [0, 1, 2, 3, 4]
        assert len(result.stdout.split()) == 6
    finally:
        for fd in (r3, r4, w3, w4):
            try:
                os.close(fd)
            except OSError:
                pass


def test_signals_to_a_foreground_run_reach_the_container(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.write(args=["sh", "-c", "trap 'exit 5' USR2; while :; do sleep 0.05; done"])
    with foreground(runtime, bundle, cid) as proc:
        runtime.wait_status(cid, "running")
        time.sleep(0.2)
        proc.send_signal(signal.SIGUSR2)
        assert proc.wait(timeout=10 * TIME_SCALE) == 5
    assert runtime.ids() == []


def test_each_container_gets_a_session_keyring_of_its_own(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """As runc: the caller's session keyring (and the keys in it) is not the container's."""
    bundle.write()

    def keyrings() -> str:
        return Path("/proc/keys").read_text()

    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    runtime("run", "-d", "--no-new-keyring", "-b", str(bundle.path), cid + "n", check=True)
    try:
        assert f"_ses.{cid}:" in keyrings()
        assert f"_ses.{cid}n:" not in keyrings()
    finally:
        runtime("delete", "-f", cid)
        runtime("delete", "-f", cid + "n")
