"""Resource limits, checked where a user would check them: in the kernel's cgroup files and in behaviour."""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest
from hutchtest import TIME_SCALE, MiB, wait_for

STRESS_FITS = ["stress", "--vm", "1", "--vm-bytes", "40m", "--vm-keep", "-t", "2"]
STRESS_TOO_BIG = ["stress", "--vm", "1", "--vm-bytes", "100m", "--vm-keep", "-t", "2"]
OOM_LINE = re.compile(
    r"^hutch: container was killed by the OOM killer \(memory limit 50\.0 MiB, peak \d+\.\d MiB\)$", re.M
)


def test_scenario_stress_within_the_limit_exits_0(hutch):
    r = hutch("run", "--rootfs", "/", "-m", "50m", "--", *STRESS_FITS)
    assert r.returncode == 0, r.stderr
    assert not OOM_LINE.search(r.stderr)


def test_scenario_stress_over_the_limit_is_oom_killed_137(hutch):
    r = hutch("run", "--rootfs", "/", "-m", "50m", "--", *STRESS_TOO_BIG)
    assert r.returncode == 137, r.stderr
    assert OOM_LINE.search(r.stderr), r.stderr


def test_memory_limit_is_visible_in_the_cgroup_while_running(hutch_bg, cgroups, name):
    limit_file = cgroups.memory_limit_file(name)
    with hutch_bg("run", "--rootfs", "/", "--name", name, "-m", "50m", "--", "sleep", "2") as proc:
        wait_for(lambda: cgroups.procs(name), timeout=10)
        assert int(limit_file.read_text()) == 50 * MiB
        assert proc.wait(timeout=20 * TIME_SCALE) == 0
    assert not limit_file.parent.exists()


def test_static_program_runs_under_512k(hutch, busybox_rootfs, static_hello):
    r = hutch("run", "-m", "512k", "--rootfs", str(busybox_rootfs), "--", "/hello")
    assert (r.returncode, r.stdout) == (0, "hello\n"), r.stderr


def test_report_peak_memory_matches_the_cgroup_counter(hutch_bg, cgroups, name, tmp_path):
    report = tmp_path / "report.json"
    peak_file = cgroups.memory_peak_file(name)
    last_seen = 0
    with hutch_bg("run", "--rootfs", "/",
                  "--name", name, "-m", "50m", "--report", str(report), "--", *STRESS_FITS) as proc:
        wait_for(lambda: cgroups.procs(name), timeout=10)
        while proc.poll() is None:
            with contextlib.suppress(FileNotFoundError, ValueError):
                last_seen = max(last_seen, int(peak_file.read_text()))
            time.sleep(0.02)
        assert proc.returncode == 0
    data = json.loads(report.read_text())
    assert data["exit_code"] == 0
    assert data["oom_killed"] is False
    assert data["timed_out"] is False
    assert data["memory_limit_bytes"] == 50 * MiB
    assert last_seen >= 40 * MiB, "the container never used its 40 MiB"
    assert last_seen <= data["memory_peak_bytes"] <= 50 * MiB
    assert 2.0 <= data["wall_seconds"] < 20 * TIME_SCALE
    assert data["cpu_user_seconds"] + data["cpu_system_seconds"] > 0


def test_report_of_an_oom_kill(hutch, tmp_path):
    report = tmp_path / "report.json"
    r = hutch("run", "--rootfs", "/", "-m", "50m", "--report", str(report), "--", *STRESS_TOO_BIG)
    assert r.returncode == 137, r.stderr
    data = json.loads(report.read_text())
    assert data["oom_killed"] is True
    assert data["exit_code"] == 137
    assert data["memory_limit_bytes"] == 50 * MiB
    assert 45 * MiB <= data["memory_peak_bytes"] <= 50 * MiB


def test_pids_limit_is_written_to_the_cgroup(hutch_bg, cgroups, name):
    with hutch_bg("run", "--rootfs", "/", "--name", name, "--pids-limit", "7", "--", "sleep", "2") as proc:
        wait_for(lambda: cgroups.procs(name), timeout=10)
        assert cgroups.pids_max_file(name).read_text().strip() == "7"
        assert proc.wait(timeout=20 * TIME_SCALE) == 0


@pytest.mark.parametrize("limit", [None, "4"])
def test_pids_limit_stops_forks(hutch, busybox_rootfs, limit):
    args = ["--pids-limit", limit] if limit else []
    script = "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo finished"
    r = hutch("run", *args, "--rootfs", str(busybox_rootfs), "--", "sh", "-c", script)
    if limit is None:
        assert (r.returncode, r.stdout) == (0, "finished\n"), r.stderr
    else:
        assert r.returncode != 0
        assert "finished" not in r.stdout
        assert "fork" in r.stderr, r.stderr


def test_cpus_is_written_to_the_cgroup(hutch_bg, cgroups, name):
    with hutch_bg("run", "--rootfs", "/", "--name", name, "--cpus", "0.5", "--", "sleep", "2") as proc:
        wait_for(lambda: cgroups.procs(name), timeout=10)
        assert cgroups.cpu_quota(name) == pytest.approx(0.5)
        assert proc.wait(timeout=20 * TIME_SCALE) == 0


def test_cpus_throttles_a_busy_loop(hutch, tmp_path):
    report = tmp_path / "report.json"
    r = hutch("run", "--rootfs", "/",
              "--cpus", "0.25", "--report", str(report), "--", "stress", "--cpu", "1", "-t", "2")
    assert r.returncode == 0, r.stderr
    data = json.loads(report.read_text())
    used = data["cpu_user_seconds"] + data["cpu_system_seconds"]
    assert 0.05 < used <= 0.25 * data["wall_seconds"] * 1.4 + 0.1, data


def test_cpuset_cpus_pins_the_container(hutch):
    r = hutch("run", "--rootfs", "/",
              "--cpuset-cpus", "0", "--", "grep", "Cpus_allowed_list", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Cpus_allowed_list:", "0"]


def test_cpu_shares_is_written_to_the_cgroup(hutch_bg, cgroups, name):
    with hutch_bg("run", "--rootfs", "/", "--name", name, "--cpu-shares", "512", "--", "sleep", "2") as proc:
        wait_for(lambda: cgroups.procs(name), timeout=10)
        d = cgroups.container_dir(name, "cpu")
        if cgroups.is_v2("cpu"):
            assert 1 <= int((d / "cpu.weight").read_text()) < 100  # below the default weight, as 512 < 1024
        else:
            assert int((d / "cpu.shares").read_text()) == 512
        assert proc.wait(timeout=20 * TIME_SCALE) == 0


def test_memory_swap_is_written_to_the_cgroup(hutch_bg, cgroups, name):
    with hutch_bg("run", "--rootfs", "/",
                  "--name", name, "-m", "50m", "--memory-swap", "100m", "--", "sleep", "2") as proc:
        wait_for(lambda: cgroups.procs(name), timeout=10)
        d = cgroups.container_dir(name, "memory")
        if cgroups.is_v2("memory"):
            assert int((d / "memory.swap.max").read_text()) == 50 * MiB  # v2 counts swap alone
        else:
            memsw = d / "memory.memsw.limit_in_bytes"
            if not memsw.exists():
                pytest.skip("this kernel does not account swap in cgroup v1 (swapaccount=0)")
            assert int(memsw.read_text()) == 100 * MiB
        assert proc.wait(timeout=20 * TIME_SCALE) == 0
