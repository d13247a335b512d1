"""The Python API: hutch.run(argv, ...) -> Result."""

from __future__ import annotations

import os
import time

import pytest
from hutchtest import TIME_SCALE, MiB, descendants

import hutch as hutch_api

STRESS = ["stress", "--vm", "1", "--vm-bytes"]


def _text(data) -> str:
    return data.decode() if isinstance(data, bytes) else data


def test_timeout_stops_the_container_and_leaves_nothing(cgroups):
    # Warm up first (imports, page cache): the bound below is about the timeout, not a cold start.
    assert hutch_api.run(["true"]).exit_code == 0
    before = cgroups.all_container_dirs()
    start = time.monotonic()
    result = hutch_api.run(["sleep", "30"], timeout=1)
    elapsed = time.monotonic() - start
    assert result.timed_out is True
    assert 1 <= elapsed < 6 * TIME_SCALE, (elapsed, result)
    assert cgroups.all_container_dirs() == before
    assert descendants(os.getpid()) == set()


def test_capture_output_input_and_exit_code():
    result = hutch_api.run(
        ["sh", "-c", "cat; echo to-stderr >&2; exit 4"], input=b"from-stdin", capture_output=True
    )
    assert result.exit_code == 4
    assert result.timed_out is False
    assert result.oom_killed is False
    assert _text(result.stdout) == "from-stdin"
    assert _text(result.stderr) == "to-stderr\n"


@pytest.mark.parametrize("memory", ["50m", 50 * MiB], ids=["string", "int"])
def test_memory_limit_as_string_or_bytes(memory):
    result = hutch_api.run([*STRESS, "40m", "--vm-keep", "-t", "1"], memory=memory)
    assert result.exit_code == 0
    assert result.memory_limit_bytes == 50 * MiB
    assert 40 * MiB <= result.memory_peak_bytes <= 50 * MiB


def test_oom_kill_is_reported():
    result = hutch_api.run([*STRESS, "100m", "--vm-keep", "-t", "2"], memory="50m")
    assert result.oom_killed is True
    assert result.exit_code == 137


def test_rootfs_env_cwd_user_hostname(busybox_rootfs):
    result = hutch_api.run(
        ["sh", "-c", 'echo "$FOO"; pwd; id -u; id -g; hostname'],
        rootfs=str(busybox_rootfs),
        env={"FOO": "bar baz"},
        cwd="/tmp",
        user="65534:65534",
        hostname="api-box",
        capture_output=True,
    )
    assert result.exit_code == 0, result.stderr
    assert _text(result.stdout).splitlines() == ["bar baz", "/tmp", "65534", "65534", "api-box"]
