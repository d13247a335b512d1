"""`events`: the JSON shape checked against what runc 1.1.5 prints for the same cgroup, and the watch loop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hutchtest import TIME_SCALE

from hutch.cgroups import Layout, Manager, Resources, Stats, close_fds, detect_layout, new_manager
from hutch.oci.container import events

MiB = 1 << 20
RUNC = shutil.which("runc")

# Keys hutch prints on v2 and runc 1.1.5 does not: the effective cpuset, memory.peak, and the kernel and
# socket memory in memory.stat. Values runc leaves at zero, where `omitempty` drops the key.
V2_EXTRAS = {
    "/data/cpuset/cpus",
    "/data/cpuset/mems",
    "/data/memory/usage/max",
    "/data/memory/kernel/usage",
    "/data/memory/kernelTCP/usage",
}


def key_paths(value: object, prefix: str = "") -> set[str]:
    """Every key of nested JSON objects as a path; lists are leaves (their items have no names)."""
    paths = set()
    if isinstance(value, dict):
        for key, item in value.items():
            paths.add(f"{prefix}/{key}")
            paths |= key_paths(item, f"{prefix}/{key}")
    return paths


@pytest.fixture
def manager() -> Iterator[Manager]:
    made = new_manager(f"hutch/test-{uuid.uuid4().hex[:12]}")
    made.create()
    try:
        yield made
    finally:
        made.destroy()


def spawn(manager: Manager, code: str) -> subprocess.Popen:
    """`python -c CODE` joined to the cgroup right before execve, as a container's init joins."""
    fds = manager.join_fds()

    def join() -> None:
        for fd in fds:
            os.write(fd, b"0")

    try:
        return subprocess.Popen([sys.executable, "-c", code], preexec_fn=join)
    finally:
        close_fds(fds)


def test_an_oom_event_has_no_data() -> None:
    assert events.encode(events.oom_event("box")) == '{"type":"oom","id":"box"}'


def test_a_stats_event_without_counters_has_runcs_skeleton() -> None:
    event = events.stats_event("box", Stats())
    assert event == {
        "type": "stats",
        "id": "box",
        "data": {
            "cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
            "cpuset": {
                "cpu_exclusive": 0,
                "mem_hardwall": 0,
                "mem_exclusive": 0,
                "memory_migrate": 0,
                "memory_spread_page": 0,
                "memory_spread_slab": 0,
                "memory_pressure": 0,
                "sched_load_balance": 0,
                "sched_relax_domain_level": 0,
            },
            "memory": {
                "usage": {"limit": 0, "failcnt": 0},
                "swap": {"limit": 0, "failcnt": 0},
                "kernel": {"limit": 0, "failcnt": 0},
                "kernelTCP": {"limit": 0, "failcnt": 0},
            },
            "pids": {},
            "blkio": {},
            "hugetlb": {},
            "intel_rdt": {},
            "network_interfaces": None,
        },
    }
    # Compact, one line, as Go's encoder writes it.
    assert events.encode(event).startswith('{"type":"stats","id":"box","data":{"cpu":{"usage":{"kernel":0,')


@pytest.mark.skipif(RUNC is None, reason="runc is not installed")
def test_the_shape_matches_runc_events_for_the_same_cgroup(busybox_rootfs: Path, tmp_path: Path) -> None:
    container_id = f"hutch-events-{uuid.uuid4().hex[:8]}"
    cgroup_path = f"hutch/{container_id}"
    bundle, state = tmp_path / "bundle", tmp_path / "runc-state"
    bundle.mkdir()
    runc = [str(RUNC), "--root", str(state)]
    subprocess.run([*runc, "spec", "--bundle", str(bundle)], check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["root"] = {"path": str(busybox_rootfs), "readonly": True}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["sh", "-c", "while :; do :; done"]
    config["linux"]["cgroupsPath"] = f"/{cgroup_path}"  # runc takes a relative one as below its own cgroup
    config["linux"]["resources"].update(
        memory={"limit": 64 * MiB}, pids={"limit": 100}, cpu={"quota": 20_000, "period": 100_000}
    )
    (bundle / "config.json").write_text(json.dumps(config))
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        create = [*runc, "create", "--bundle", str(bundle), container_id]
        subprocess.run(create, check=True, timeout=60, **quiet)
        subprocess.run([*runc, "start", container_id], check=True, timeout=60)
        manager = new_manager(cgroup_path)
        deadline = time.monotonic() + 20 * TIME_SCALE
        while not getattr(manager.stats(detailed=True).detail, "throttled_periods", None):
            assert time.monotonic() < deadline, "the busy container was never throttled"
            time.sleep(0.05)
        printed = subprocess.run(
            [*runc, "events", "--stats", container_id], check=True, capture_output=True, text=True, timeout=60
        ).stdout
        ours = json.loads(events.encode(events.stats_event(container_id, manager.stats(detailed=True))))
    finally:
        subprocess.run([*runc, "delete", "--force", container_id], timeout=60, check=False, **quiet)
    assert printed.count("\n") == 1
    theirs = json.loads(printed)
    assert (ours["type"], ours["id"]) == (theirs["type"], theirs["id"])
    assert key_paths(theirs) <= key_paths(ours), "keys runc prints that hutch does not"
    extras = V2_EXTRAS if detect_layout().layout == Layout.V2 else set()
    assert key_paths(ours) - key_paths(theirs) <= extras
    # Values that cannot change between the two reads.
    for path in (("pids", "limit"), ("memory", "usage", "limit"), ("hugetlb",)):
        mine, runcs = ours["data"], theirs["data"]
        for key in path:
            mine, runcs = mine[key], runcs[key]
        assert mine == runcs, path
    assert sorted(ours["data"]["memory"].get("raw", {})) == sorted(theirs["data"]["memory"].get("raw", {}))
    assert ours["data"]["network_interfaces"] is theirs["data"]["network_interfaces"] is None


Seen = list[tuple[float, dict]]


def collect(stream: Iterator[dict], until: Callable[[Seen], bool]) -> Seen:
    seen: Seen = []
    for event in stream:
        seen.append((time.monotonic(), event))
        if until(seen):
            break
    return seen


def test_watch_reports_an_oom_at_once_and_stats_every_interval(manager: Manager) -> None:
    manager.apply(Resources(memory_limit=20 * MiB, memory_swap=20 * MiB))
    interval = 1.0 * TIME_SCALE
    deadline = time.monotonic() + 60 * TIME_SCALE
    stream = events.watch(manager, "box", interval, lambda: time.monotonic() < deadline)
    started = time.monotonic()
    child = spawn(manager, "b = b'x' * (100 << 20)")
    try:
        seen = collect(stream, lambda seen: sum(e["type"] == "stats" for _, e in seen) >= 2)
    finally:
        stream.close()
    assert child.wait(timeout=60 * TIME_SCALE) == -signal.SIGKILL
    ooms = [at for at, event in seen if event == {"type": "oom", "id": "box"}]
    stats = [at for at, event in seen if event["type"] == "stats"]
    assert len(ooms) == 1
    # The OOM came before the first interval was up: it did not wait for the next stats event.
    assert ooms[0] - started < interval
    assert [event["id"] for _, event in seen] == ["box"] * len(seen)
    gaps = [later - earlier for earlier, later in zip([started, *stats], stats, strict=False)]
    assert all(gap >= 0.9 * interval for gap in gaps), gaps


def test_watch_ends_when_the_container_is_gone_and_closes_the_notifier(manager: Manager) -> None:
    before = set(os.listdir("/proc/self/fd"))
    alive = [True]
    interval = 0.1 * TIME_SCALE
    stream = events.watch(manager, "box", interval, lambda: alive[0])
    first = next(stream)
    assert first["type"] == "stats"
    assert first["data"]["pids"] == {}  # nothing runs in the cgroup
    alive[0] = False
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < interval + 1.0 * TIME_SCALE
    assert set(os.listdir("/proc/self/fd")) == before


def test_watch_refuses_a_zero_interval(manager: Manager) -> None:
    with pytest.raises(ValueError):
        next(events.watch(manager, "box", 0, lambda: True))
