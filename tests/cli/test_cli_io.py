"""Standard input, --timeout and --report as seen from the command line."""

from __future__ import annotations

import json
import time

from hutchtest import TIME_SCALE


def test_stdin_is_attached_with_i(hutch, busybox_rootfs):
    r = hutch("run", "-i", "--rootfs", str(busybox_rootfs), "--", "cat", input="line one\nline two\n")
    assert (r.returncode, r.stdout) == (0, "line one\nline two\n"), r.stderr


def test_stdin_is_not_attached_without_i(hutch, busybox_rootfs):
    r = hutch("run", "--rootfs", str(busybox_rootfs), "--", "cat", input="should not arrive\n", timeout=20)
    assert (r.returncode, r.stdout) == (0, ""), r.stderr


def test_stdout_and_stderr_stay_apart(hutch, busybox_rootfs):
    r = hutch("run", "--rootfs", str(busybox_rootfs), "--", "sh", "-c", "echo out; echo err >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")


def test_timeout_stops_the_container_and_is_reported(hutch, busybox_rootfs, tmp_path):
    report = tmp_path / "report.json"
    start = time.monotonic()
    rootfs = str(busybox_rootfs)
    r = hutch("run", "--timeout", "1", "--report", str(report), "--rootfs", rootfs, "--", "sleep", "30")
    elapsed = time.monotonic() - start
    assert r.returncode != 0
    assert 1 <= elapsed < 6 * TIME_SCALE, elapsed
    data = json.loads(report.read_text())
    assert data["timed_out"] is True
    assert 1 <= data["wall_seconds"] < 6 * TIME_SCALE


def test_report_of_a_normal_exit(hutch, busybox_rootfs, tmp_path):
    report = tmp_path / "report.json"
    r = hutch("run", "--report", str(report), "--rootfs", str(busybox_rootfs), "--", "sh", "-c", "exit 5")
    assert r.returncode == 5, r.stderr
    data = json.loads(report.read_text())
    expected = {
        "exit_code", "signal", "oom_killed", "memory_peak_bytes", "memory_limit_bytes",
        "cpu_user_seconds", "cpu_system_seconds", "wall_seconds", "timed_out",
    }  # fmt: skip
    assert expected <= set(data), data
    assert (data["exit_code"], data["oom_killed"], data["timed_out"]) == (5, False, False)
    assert data["memory_limit_bytes"] is None
    assert data["memory_peak_bytes"] > 0
