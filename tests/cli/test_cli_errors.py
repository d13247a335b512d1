"""hutch's own errors: exit 125, one line `hutch: ...` on stderr, no traceback, nothing left behind."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hutchtest import assert_hutch_error


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "50x"],
        ["-m", "0"],
        ["-m", "-5"],
        ["-m", ""],
        ["--memory-swap", "lots"],
        ["--pids-limit", "many"],
        ["--cpus", "-1"],
        ["--rootfs", "/nonexistent-rootfs"],
        ["--no-such-flag"],
        ["-u", "not:a:user"],
    ],
    ids=lambda a: " ".join(a) or "empty",
)
def test_bad_input_is_one_line_and_125(hutch, cgroups, args):
    before = cgroups.all_container_dirs()
    r = hutch("run", *args, "--", "echo", "ran")
    assert_hutch_error(r)
    assert r.stdout == ""
    assert cgroups.all_container_dirs() == before


def test_unknown_subcommand_is_125(hutch):
    assert_hutch_error(hutch("fly", "--", "true"))


def test_not_root_is_refused(tmp_path):
    # The interpreter may live where uid 65534 cannot read it (pyenv under /root), so load hutch as root
    # and drop to nobody before it runs.
    code = (
        "import os, sys, hutch.cli.main as m\n"
        "os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)\n"
        "sys.argv = ['hutch', 'run', '--', 'true']\n"
        "raise SystemExit(m.main())\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False
    )
    assert assert_hutch_error(r) == "hutch: must be run as root"
