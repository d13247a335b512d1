"""hutch's own errors: exit 125, one line `hutch: ...` on stderr, no traceback, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hutchtest import assert_hutch_error

import hutch


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
    r = hutch("run", "--rootfs", "/", *args, "--", "echo", "ran")
    assert_hutch_error(r)
    assert r.stdout == ""
    assert cgroups.all_container_dirs() == before


def test_unknown_subcommand_is_125(hutch):
    assert_hutch_error(hutch("fly", "--", "true"))


def _interpreter_for_nobody() -> str | None:
    """A Python >= 3.11 that uid 65534 can run (a pyenv interpreter under /root is not one)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        path = Path(os.path.realpath(candidate))
        if all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents)):
            probe = subprocess.run([str(path), "-c", "import sys; print(sys.version_info >= (3, 11))"],
                                   capture_output=True, text=True, check=False)  # fmt: skip
            if probe.stdout.strip() == "True":
                return str(path)
    return None


def test_not_root_is_refused():
    python = _interpreter_for_nobody()
    if python is None:
        pytest.skip("no Python >= 3.11 that uid 65534 may execute")
    src = str(Path(hutch.__file__).resolve().parent.parent)
    r = subprocess.run(
        [python, "-m", "hutch", "run", "--rootfs", "/", "--", "true"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": src},
        user=65534, group=65534, extra_groups=[], cwd="/",
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert assert_hutch_error(r) == "hutch: must be run as root"
