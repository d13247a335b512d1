"""hutch-runtime list, ps, events, pause, resume and update on live containers."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from hutchtest import TIME_SCALE, CgroupFs, wait_for
from runtimetest import Bundle, Runtime


def _running(runtime: Runtime, bundle: Bundle, cid: str, **process: object) -> int:
    bundle.write(**process)
    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    return runtime.state(cid)["pid"]


def test_list_in_table_json_and_quiet_form(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    assert runtime("list", "-f", "json", check=True).stdout == "null\n"  # as runc prints no containers
    pid = _running(runtime, bundle, cid)
    bundle.write()
    runtime("create", "-b", str(bundle.path), cid + "b", check=True)
    try:
        table = runtime("list", check=True).stdout.splitlines()
        assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        rows = {line.split()[0]: line.split() for line in table[1:]}
        assert rows[cid][1:4] == [str(pid), "running", str(bundle.path)]
        assert rows[cid + "b"][2] == "created" and rows[cid][5] == "root"
        # Go's tabwriter as runc sets it: a column is its widest cell plus 3, and at least 12 wide.
        assert table[0].index("PID") == max(12, len(cid + "b") + 3)
        docs = json.loads(runtime("list", "--format", "json", check=True).stdout)
        assert {d["id"]: d["status"] for d in docs} == {cid: "running", cid + "b": "created"}
        assert set(docs[0]) >= {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}
        assert runtime("list", "-q", check=True).stdout.split() == sorted([cid, cid + "b"])
    finally:
        runtime("delete", "-f", cid)
        runtime("delete", "-f", cid + "b")


def test_ps_lists_the_containers_processes(runtime: Runtime, bundle: Bundle, cid: str,
                                           cgroups: CgroupFs) -> None:
    init = _running(runtime, bundle, cid, args=["sh", "-c", "sleep 600 & sleep 601"])
    try:
        wait_for(lambda: len(cgroups.procs(cid)) == 2)
        pids = json.loads(runtime("ps", "--format", "json", cid, check=True).stdout)
        assert sorted(pids) == sorted(cgroups.procs(cid)) and init in pids
        table = runtime("ps", cid, check=True).stdout.splitlines()
        assert table[0].split()[:2] == ["UID", "PID"] and len(table) == 3
        assert {line.split()[1] for line in table[1:]} == {str(p) for p in pids}
        custom = runtime("ps", cid, "--", "-o", "pid,args", check=True).stdout.splitlines()
        assert custom[0].split() == ["PID", "COMMAND"] and any("sleep 601" in line for line in custom)
    finally:
        runtime("delete", "-f", cid)


def test_pause_freezes_every_process_and_resume_thaws_them(runtime: Runtime, writable_bundle: Bundle,
                                                           cid: str) -> None:
    counter = writable_bundle.rootfs / "counter"
    script = "i=0; while :; do i=$((i+1)); echo $i > /counter; sleep 0.01; done"
    _running(runtime, writable_bundle, cid, args=["sh", "-c", script])
    try:
        wait_for(counter.exists)
        runtime("pause", cid, check=True)
        assert runtime.status(cid) == "paused"
        before = counter.read_text()
        time.sleep(0.5)
        assert counter.read_text() == before, "a paused container kept running"
        again = runtime("pause", cid)
        assert again.returncode == 1 and "container not running" in again.stderr
        runtime("resume", cid, check=True)
        assert runtime.status(cid) == "running"
        wait_for(lambda: counter.read_text() != before)
        not_paused = runtime("resume", cid)
        assert not_paused.returncode == 1 and "container not paused" in not_paused.stderr
        runtime("pause", cid, check=True)
        runtime("kill", cid, "KILL", check=True)  # a paused container still dies on SIGKILL
        runtime.wait_status(cid, "stopped")
    finally:
        runtime("delete", "-f", cid)


def test_events_stats_has_runcs_shape(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    _running(runtime, bundle, cid)
    try:
        event = json.loads(runtime("events", "--stats", cid, check=True).stdout)
        assert event["type"] == "stats" and event["id"] == cid
        data = event["data"]
        assert {"cpu", "memory", "pids", "blkio", "hugetlb"} <= set(data)
        assert data["pids"]["current"] == 1
        assert data["memory"]["usage"]["usage"] > 0 and data["cpu"]["usage"]["total"] > 0
    finally:
        runtime("delete", "-f", cid)


def test_events_streams_stats_and_an_oom_event_as_it_happens(runtime: Runtime, bundle: Bundle,
                                                             cid: str) -> None:
    bundle.set("linux.resources.memory", {"limit": 16 << 20, "swap": 16 << 20})
    _running(runtime, bundle, cid)
    try:
        with subprocess.Popen(runtime.argv("events", "--interval", "300ms", cid), stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True) as events:
            try:
                first = json.loads(events.stdout.readline())
                assert first["type"] == "stats"
                hog = runtime("exec", cid, "sh", "-c", "head -c 64m /dev/zero | tail > /dev/null")
                assert hog.returncode != 0
                deadline = time.monotonic() + 10 * TIME_SCALE
                seen = []
                while time.monotonic() < deadline:
                    seen.append(json.loads(events.stdout.readline())["type"])
                    if "oom" in seen:
                        break
                assert "oom" in seen, seen
            finally:
                events.terminate()
    finally:
        runtime("delete", "-f", cid)


def test_events_ends_when_the_container_stops(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    _running(runtime, bundle, cid)
    try:
        with subprocess.Popen(runtime.argv("events", "--interval", "100ms", cid), stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True) as events:
            events.stdout.readline()
            runtime("kill", cid, "KILL", check=True)
            events.communicate(timeout=10 * TIME_SCALE)  # reading on: a full pipe would stall its writes
            assert events.returncode == 0
    finally:
        runtime("delete", "-f", cid)


def test_update_changes_live_limits_and_remembers_them(runtime: Runtime, bundle: Bundle, cid: str,
                                                       cgroups: CgroupFs, tmp_path: Path) -> None:
    _running(runtime, bundle, cid)
    try:
        runtime("update", "--memory", "40m", "--memory-swap", "40m", "--pids-limit", "7", cid, check=True)
        assert int(cgroups.memory_limit_file(cid).read_text()) == 40 << 20
        assert cgroups.pids_max_file(cid).read_text().strip() == "7"
        doc = tmp_path / "resources.json"
        doc.write_text(json.dumps({"memory": {"limit": 30 << 20, "swap": 30 << 20},
                                   "cpu": {"quota": 50000, "period": 100000}}))
        runtime("update", "-r", str(doc), cid, check=True)
        assert int(cgroups.memory_limit_file(cid).read_text()) == 30 << 20
        assert cgroups.cpu_quota(cid) == 0.5
        runtime("update", "-r", "-", cid, input=json.dumps({"pids": {"limit": 9}}), check=True)
        assert cgroups.pids_max_file(cid).read_text().strip() == "9"
        # The new limit holds: more processes than it allows cannot be started.
        forks = runtime("exec", cid, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; wait")
        assert forks.returncode != 0 or "fork" in forks.stderr.lower() or "resource" in forks.stderr.lower()
        state = json.loads((runtime.root / cid / "state.json").read_text())
        assert state["config"]["linux"]["resources"]["pids"] == {"limit": 9}
        assert state["config"]["linux"]["resources"]["memory"]["limit"] == 30 << 20
        refused = runtime("update", "--l3-cache-schema", "L3:0=f", cid)
        assert refused.returncode == 1 and "Intel RDT is not supported on this host" in refused.stderr
    finally:
        runtime("delete", "-f", cid)
