"""containerd 1.6 (ctr and containerd-shim-runc-v2) drives the runtime under test.

Each test ends by asserting that its containers left nothing behind (ctr.assert_no_leftovers()).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from containerd_engine import CtrTest
from hutchtest import TIME_SCALE, CgroupFs
from interophelpers import cgroup_procs, counter_script, is_frozen, read_counter, run_in_pty, wait_until

pytestmark = pytest.mark.interop

MiB = 1024 * 1024


def test_run_prints_and_returns_the_exit_code(ctr: CtrTest) -> None:
    cid = ctr.new_id()
    r = ctr.run(cid, "sh", "-c", "echo out; echo err >&2; exit 3", flags=("--rm",))
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    ctr.assert_no_leftovers()


def test_memory_limit_oom_kill(ctr: CtrTest) -> None:
    cid = ctr.new_id()
    # ulimit -v bounds the allocation should the memory limit not apply: then tail fails instead of OOMing
    with ctr.events() as events:
        r = ctr.run(
            cid,
            "sh",
            "-c",
            "ulimit -v 262144; exec tail /dev/zero",
            flags=("--rm", "--memory-limit", str(10 * MiB)),
        )
        assert r.returncode == 137, r.stderr
        # the shim watches the memory cgroup it finds from the init's PID: the OOM must happen there
        events.wait("/tasks/oom", cid)
        assert events.wait("/tasks/exit", cid)["exit_status"] == 137
    ctr.assert_no_leftovers()


def test_memory_limit_is_the_cgroups(ctr: CtrTest) -> None:
    cid = ctr.new_id()
    ctr.run(cid, "sleep", "60", flags=("--detach", "--memory-limit", str(10 * MiB)), check=True)
    metrics = ctr("task", "metrics", cid, check=True).stdout
    # containerd names it memory.limit_in_bytes on v1, memory.usage_limit on v2
    limit = re.search(r"^memory\.(?:limit_in_bytes|usage_limit)\s+(\d+)", metrics, re.M)
    assert limit and int(limit[1]) == 10 * MiB, metrics
    ctr.remove(cid)
    ctr.assert_no_leftovers()


def test_task_exec(ctr: CtrTest) -> None:
    cid = ctr.new_id()
    ctr.run(cid, "sleep", "60", flags=("--detach",), check=True)
    r = ctr(*ctr.exec_args(cid, "e1", "sh", "-c", "echo in exec; echo to stderr >&2; exit 5"))
    assert (r.returncode, r.stdout, r.stderr) == (5, "in exec\n", "to stderr\n")
    r = ctr(*ctr.exec_args(cid, "e2", "sh", "-c", "id -u; pwd", flags=("--cwd", "/etc", "--user", "65534")))
    assert (r.returncode, r.stdout) == (0, "65534\n/etc\n"), r.stderr
    ctr.remove(cid)
    ctr.assert_no_leftovers()


def test_run_tty(ctr: CtrTest) -> None:
    cid = ctr.new_id()
    argv = [
        "ctr",
        "--address",
        str(ctr.engine.socket),
        *ctr.run_args(
            cid, "sh", "-c", "tty; test -t 0 && test -t 1 && echo all-ttys", flags=("--rm", "--tty")
        ),
    ]
    code, output = run_in_pty(argv)
    assert code == 0, output
    assert re.search(r"/dev/pts/\d+\r*$", output, re.M), output
    assert "all-ttys" in output
    ctr.assert_no_leftovers()


def test_exec_tty(ctr: CtrTest) -> None:
    cid = ctr.new_id()
    ctr.run(cid, "sleep", "60", flags=("--detach",), check=True)
    code, output = run_in_pty(
        ["ctr", "--address", str(ctr.engine.socket), *ctr.exec_args(cid, "e1", "tty", flags=("--tty",))]
    )
    assert code == 0, output
    assert re.search(r"/dev/pts/\d+\r*$", output, re.M), output
    ctr.remove(cid)
    ctr.assert_no_leftovers()


def test_pause_and_resume(ctr: CtrTest, cgroups: CgroupFs, tmp_path: Path) -> None:
    cid = ctr.new_id()
    out = tmp_path / "out"
    out.mkdir()
    mount = f"type=bind,src={out},dst=/out,options=rbind:rw"
    ctr.run(cid, "sh", "-c", counter_script("/out/count"), flags=("--detach", "--mount", mount), check=True)
    count = out / "count"
    wait_until(lambda: count.exists(), what="the counter to start")
    pid = ctr.task_pid(cid)

    ctr("task", "pause", cid, check=True)
    assert ctr.task_status(cid) == "PAUSED"
    assert is_frozen(cgroups, pid)
    frozen_at = read_counter(count)
    time.sleep(0.5)
    assert read_counter(count) == frozen_at, "the paused container kept counting"

    ctr("task", "resume", cid, check=True)
    assert ctr.task_status(cid) == "RUNNING"
    assert not is_frozen(cgroups, pid)
    wait_until(lambda: read_counter(count) > frozen_at + 5, what="the counter to move again")

    ctr.remove(cid)
    ctr.assert_no_leftovers()


def test_task_kill_delivers_the_signal(ctr: CtrTest) -> None:
    cid = ctr.new_id()
    script = 'trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done'
    foreground = subprocess.Popen(
        ["ctr", "--address", str(ctr.engine.socket), *ctr.run_args(cid, "sh", "-c", script, flags=("--rm",))],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert foreground.stdout is not None
        assert foreground.stdout.readline() == "ready\n"
        ctr("task", "kill", cid, check=True)  # SIGTERM by default
        assert foreground.wait(timeout=20 * TIME_SCALE) == 7
    finally:
        if foreground.poll() is None:
            foreground.kill()
        foreground.communicate()

    killed = ctr.new_id()
    ctr.run(killed, "sleep", "60", flags=("--detach",), check=True)
    with ctr.events() as events:
        ctr("task", "kill", "--signal", "SIGKILL", killed, check=True)
        assert events.wait("/tasks/exit", killed)["exit_status"] == 137
    assert ctr.task_status(killed) == "STOPPED"
    ctr("task", "delete", killed, check=True)
    ctr("containers", "delete", killed, check=True)
    ctr.assert_no_leftovers()


def test_task_ps_lists_the_containers_processes(ctr: CtrTest, cgroups: CgroupFs) -> None:
    cid = ctr.new_id()
    ctr.run(cid, "sh", "-c", "sleep 60 & sleep 60 & echo started; wait", flags=("--detach",), check=True)

    def listed() -> set[int] | None:
        rows = ctr("task", "ps", cid, check=True).stdout.splitlines()[1:]
        pids = {int(row.split()[0]) for row in rows if row.strip()}
        return pids if len(pids) == 3 else None

    pids = wait_until(listed, what="three processes in ctr task ps")
    assert pids == set(cgroup_procs(cgroups, ctr.cgroup_of(cid)))
    assert ctr.task_pid(cid) in pids
    ctr.remove(cid)
    ctr.assert_no_leftovers()
