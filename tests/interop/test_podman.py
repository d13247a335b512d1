"""podman 4.3 drives the runtime under test: what a podman user sees must be what runc gives them.

Each test ends by asserting that its containers left nothing behind (podman.assert_no_leftovers()).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hutchtest import CgroupFs
from interophelpers import IMAGE, counter_script, is_frozen, read_counter, run_in_pty, wait_until
from podman_engine import PodmanTest, wait_for_log

pytestmark = pytest.mark.interop


def test_run_prints_and_returns_the_exit_code(podman: PodmanTest) -> None:
    r = podman.run("--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    podman.assert_no_leftovers()


def test_run_passes_stdin(podman: PodmanTest) -> None:
    r = podman.run("--rm", "-i", IMAGE, "sh", "-c", "tr a-z A-Z", input="piped in\n")
    assert (r.returncode, r.stdout) == (0, "PIPED IN\n"), r.stderr
    podman.assert_no_leftovers()


@pytest.mark.parametrize("json_log", [True, False], ids=["json-log", "stderr"])
def test_missing_command_is_127_and_not_executable_is_126(podman: PodmanTest, json_log: bool) -> None:
    # podman maps the runtime's error text ("no such file or directory", "permission denied") to these codes,
    # read from the runtime's --log (json-log) or, for a runtime podman does not know, its stderr
    missing = podman.run("--rm", IMAGE, "/nonexistent", json_log=json_log)
    assert missing.returncode == 127, missing.stderr
    not_executable = podman.run("--rm", IMAGE, "/etc/passwd", json_log=json_log)
    assert not_executable.returncode == 126, not_executable.stderr
    podman.assert_no_leftovers()


def test_memory_limit_oom_kill_is_137_and_reported(podman: PodmanTest) -> None:
    # ulimit -v bounds the allocation should the memory limit not apply: then tail fails instead of OOMing
    cid = podman.create("-m", "10m", IMAGE, "sh", "-c", "ulimit -v 262144; exec tail /dev/zero")
    # conmon 2.1.6 writes its OOM marker into its cwd; podman 4.3 looks in the bundle: start from there
    r = podman("start", "--attach", cid, cwd=podman.bundle(cid), timeout=60)
    assert r.returncode == 137, r.stderr
    assert podman.inspect(cid, "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137"
    podman("rm", cid, check=True)
    podman.assert_no_leftovers()


def test_detached_exec_logs_stop_rm(podman: PodmanTest) -> None:
    script = 'trap "echo got TERM; exit 0" TERM; echo started; while :; do sleep 0.1; done'
    cid = podman.run("-d", IMAGE, "sh", "-c", script, check=True).stdout.strip()
    wait_for_log(podman, cid, "started")
    assert podman.inspect(cid, "{{.State.Status}}") == "running"

    r = podman("exec", cid, "sh", "-c", "echo in exec; exit 5")
    assert (r.returncode, r.stdout) == (5, "in exec\n"), r.stderr
    r = podman(
        "exec",
        "--user",
        "65534",
        "--workdir",
        "/tmp",
        "--env",
        "V=x y",
        cid,
        "sh",
        "-c",
        'id -u; pwd; echo "$V"',
    )
    assert (r.returncode, r.stdout) == (0, "65534\n/tmp\nx y\n"), r.stderr

    r = podman("stop", "--time", "10", cid)
    assert r.returncode == 0, r.stderr
    assert podman.inspect(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0"
    assert podman("logs", cid).stdout == "started\ngot TERM\n"
    assert podman("rm", cid).returncode == 0
    assert podman("ps", "-a", "--quiet").stdout == ""
    podman.assert_no_leftovers()


def test_run_tty_gets_a_pty_of_the_container(podman: PodmanTest) -> None:
    argv = podman.command(
        "run",
        *podman.container_options(),
        "--rm",
        "-t",
        IMAGE,
        "sh",
        "-c",
        "tty; test -t 0 && test -t 1 && test -t 2 && echo all-ttys",
    )
    code, output = run_in_pty(argv, env=podman.engine.env, cwd=podman.cwd)
    assert code == 0, output
    assert re.search(r"^/dev/pts/\d+\r*$", output, re.M), output
    assert "all-ttys" in output
    podman.assert_no_leftovers()


def test_exec_tty(podman: PodmanTest) -> None:
    cid = podman.run("-d", IMAGE, "sleep", "60", check=True).stdout.strip()
    code, output = run_in_pty(podman.command("exec", "-t", cid, "tty"), env=podman.engine.env, cwd=podman.cwd)
    assert code == 0, output
    assert re.search(r"^/dev/pts/\d+\r*$", output, re.M), output
    podman("rm", "--force", "--time", "0", cid, check=True)
    podman.assert_no_leftovers()


def test_pause_freezes_and_unpause_resumes(podman: PodmanTest, cgroups: CgroupFs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cid = podman.run(
        "-d", "-v", f"{out}:/out", IMAGE, "sh", "-c", counter_script("/out/count"), check=True
    ).stdout.strip()
    count = out / "count"
    wait_until(lambda: count.exists(), what="the counter to start")
    pid = int(podman.inspect(cid, "{{.State.Pid}}"))

    assert podman("pause", cid).returncode == 0
    assert podman.inspect(cid, "{{.State.Status}} {{.State.Paused}}") == "paused true"
    assert is_frozen(cgroups, pid)
    frozen_at = read_counter(count)
    time.sleep(0.5)
    assert read_counter(count) == frozen_at, "the paused container kept counting"

    assert podman("unpause", cid).returncode == 0
    assert podman.inspect(cid, "{{.State.Status}} {{.State.Paused}}") == "running false"
    assert not is_frozen(cgroups, pid)
    wait_until(lambda: read_counter(count) > frozen_at + 5, what="the counter to move again")

    podman("rm", "--force", "--time", "0", cid, check=True)
    podman.assert_no_leftovers()


def test_read_only_root(podman: PodmanTest) -> None:
    # podman's --read-only keeps /tmp, /run and /var/tmp writable (tmpfs)
    r = podman.run("--rm", "--read-only", IMAGE, "sh", "-c", "touch /tmp/ok && echo tmp writable; touch /x")
    assert (r.returncode, r.stdout) == (1, "tmp writable\n"), r.stderr
    assert "Read-only file system" in r.stderr
    writable = podman.run("--rm", IMAGE, "sh", "-c", "touch /x && echo wrote")
    assert (writable.returncode, writable.stdout) == (0, "wrote\n"), writable.stderr
    podman.assert_no_leftovers()


def capabilities(status: str) -> dict[str, int]:
    return {k: int(v, 16) for k, v in re.findall(r"^(Cap\w+):\s+([0-9a-f]+)$", status, re.M)}


def test_cap_drop_all(podman: PodmanTest) -> None:
    default = podman.run("--rm", IMAGE, "cat", "/proc/self/status", check=True).stdout
    assert capabilities(default)["CapEff"] != 0
    dropped = podman.run("--rm", "--cap-drop", "ALL", IMAGE, "cat", "/proc/self/status", check=True).stdout
    caps = capabilities(dropped)
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapBnd"] == 0, caps
    podman.assert_no_leftovers()


def test_pids_limit_stops_a_fork_bomb(podman: PodmanTest) -> None:
    # Bounded at 50 processes, so a runtime that ignores the limit fails the test instead of the host.
    bomb = "for i in $(seq 50); do sleep 30 & done; echo all started"
    r = podman.run("--rm", "--pids-limit", "10", IMAGE, "sh", "-c", bomb)
    assert r.returncode != 0
    assert "can't fork" in r.stderr
    assert "all started" not in r.stdout
    podman.assert_no_leftovers()


def test_user(podman: PodmanTest) -> None:
    r = podman.run("--rm", "--user", "65534:65534", IMAGE, "id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("uid=65534(nobody) gid=65534(nogroup)"), r.stdout
    podman.assert_no_leftovers()


def test_env_and_workdir(podman: PodmanTest) -> None:
    r = podman.run(
        "--rm", "-e", "GREETING=hello world", "-w", "/etc", IMAGE, "sh", "-c", 'echo "$GREETING"; pwd'
    )
    assert (r.returncode, r.stdout) == (0, "hello world\n/etc\n"), r.stderr
    podman.assert_no_leftovers()
