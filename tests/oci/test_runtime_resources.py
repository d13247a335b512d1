"""linux.resources from config.json to the cgroup's files, at create and through update, on v1/hybrid and v2:
the mapping and runc's conversions end to end (tests/cgroups covers each controller in depth)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hutchtest import CgroupFs
from runtimetest import Bundle, Runtime


def _read(cgroups: CgroupFs, cid: str, controller: str, name: str) -> str:
    return (cgroups.container_dir(cid, controller) / name).read_text().strip()


def test_cpu_memory_and_pids_fields_reach_the_cgroup_and_update_changes_them(
        runtime: Runtime, bundle: Bundle, cid: str, cgroups: CgroupFs, tmp_path: Path) -> None:
    v2 = cgroups.is_v2("cpu")
    bundle.set("linux.resources", {"cpu": {"shares": 512, "quota": 20000, "period": 100000, "burst": 5000},
                                   "memory": {"limit": 64 << 20, "reservation": 32 << 20},
                                   "pids": {"limit": 50}})
    if not v2:
        bundle.config["linux"]["resources"]["memory"]["swappiness"] = 17
    bundle.write()
    runtime("create", "-b", str(bundle.path), cid, check=True)
    try:
        if v2:
            assert _read(cgroups, cid, "cpu", "cpu.max") == "20000 100000"
            assert _read(cgroups, cid, "cpu", "cpu.max.burst") == "5000"
            assert _read(cgroups, cid, "cpu", "cpu.weight") == "20"  # runc's conversion of 512 shares
            assert _read(cgroups, cid, "memory", "memory.low") == str(32 << 20)
        else:
            assert _read(cgroups, cid, "cpu", "cpu.cfs_quota_us") == "20000"
            assert _read(cgroups, cid, "cpu", "cpu.cfs_burst_us") == "5000"
            assert _read(cgroups, cid, "cpu", "cpu.shares") == "512"
            assert _read(cgroups, cid, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
            assert _read(cgroups, cid, "memory", "memory.swappiness") == "17"
        assert int(cgroups.memory_limit_file(cid).read_text()) == 64 << 20
        assert cgroups.pids_max_file(cid).read_text().strip() == "50"

        doc = tmp_path / "update.json"
        doc.write_text(json.dumps({"cpu": {"burst": 7000}, "pids": {"limit": 60}}))
        runtime("update", "-r", str(doc), cid, check=True)
        burst = "cpu.max.burst" if v2 else "cpu.cfs_burst_us"
        assert _read(cgroups, cid, "cpu", burst) == "7000"
        assert cgroups.pids_max_file(cid).read_text().strip() == "60"
        state = json.loads((runtime.root / cid / "state.json").read_text())
        assert state["config"]["linux"]["resources"]["cpu"]["burst"] == 7000
    finally:
        runtime("delete", "-f", cid)


def test_unified_keys_go_to_v2_files_and_are_refused_where_there_are_none(
        runtime: Runtime, bundle: Bundle, cid: str, cgroups: CgroupFs) -> None:
    bundle.set("linux.resources", {"unified": {"memory.high": str(48 << 20)}}).write()
    result = runtime("create", "-b", str(bundle.path), cid)
    if cgroups.is_v2("memory"):
        assert result.returncode == 0, result.stderr
        try:
            assert _read(cgroups, cid, "memory", "memory.high") == str(48 << 20)
        finally:
            runtime("delete", "-f", cid)
    else:
        assert result.returncode == 1 and "memory.high" in result.stderr
        assert runtime.status(cid) == "absent"


def test_a_controller_this_host_lacks_is_refused_not_ignored(
        runtime: Runtime, bundle: Bundle, cid: str, cgroups: CgroupFs) -> None:
    """net_cls is a v1 controller that neither this hybrid host nor a pure v2 host has."""
    if "net_cls" in Path("/proc/self/mountinfo").read_text():
        pytest.skip("this host mounts net_cls")
    bundle.set("linux.resources", {"network": {"classID": 0x100001}}).write()
    result = runtime("create", "-b", str(bundle.path), cid)
    assert result.returncode == 1 and "net_cls" in result.stderr
    assert result.stderr.count("\n") == 1 and runtime.status(cid) == "absent"


def test_exec_cpu_affinity_applies_after_the_cgroup_join(runtime: Runtime, bundle: Bundle, cid: str,
                                                         tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    bundle.write()
    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    try:
        process = {"args": ["sleep", "600"], "cwd": "/", "env": ["PATH=/bin:/usr/bin"],
                   "execCPUAffinity": {"initial": "0", "final": "1"}}
        (tmp_path / "process.json").write_text(json.dumps(process))
        pid_file = tmp_path / "exec.pid"
        runtime("exec", "-d", "--pid-file", str(pid_file), "--process", str(tmp_path / "process.json"), cid,
                check=True)
        assert os.sched_getaffinity(int(pid_file.read_text())) == {1}
    finally:
        runtime("delete", "-f", cid)
