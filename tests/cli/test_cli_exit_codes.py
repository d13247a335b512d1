"""Exit codes follow docker: the command's own code, 128+signal, 125/126/127 for errors."""

from __future__ import annotations

import pytest
from hutchtest import assert_hutch_error


@pytest.mark.parametrize("code", [0, 3, 255])
def test_the_commands_exit_code(hutch, busybox_rootfs, code):
    r = hutch("run", "--rootfs", str(busybox_rootfs), "--", "sh", "-c", f"exit {code}")
    assert r.returncode == code, r.stderr


def test_not_executable_is_126(hutch, rootfs):
    script = rootfs / "not-executable"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o644)
    r = hutch("run", "--rootfs", str(rootfs), "--", "/not-executable")
    assert r.returncode == 126, r.stderr
    assert "ran" not in r.stdout
    assert r.stderr.startswith("hutch: "), r.stderr


@pytest.mark.parametrize("command", ["/no/such/program", "no-such-program"])
@pytest.mark.parametrize("mode", ["host", "rootfs"])
def test_missing_command_is_127(hutch, busybox_rootfs, command, mode):
    args = ["--rootfs", str(busybox_rootfs)] if mode == "rootfs" else ["--rootfs", "/"]
    r = hutch("run", *args, "--", command)
    assert r.returncode == 127, r.stderr
    assert r.stderr.startswith("hutch: "), r.stderr
    assert command in r.stderr


def test_rootfs_without_a_shell_is_127_and_leaves_nothing(hutch, tmp_path, cgroups):
    empty = tmp_path / "empty-rootfs"
    for d in ("proc", "dev", "sys", "tmp"):
        (empty / d).mkdir(parents=True)
    before = cgroups.all_container_dirs()
    r = hutch("run", "--rootfs", str(empty), "--", "sh", "-c", "true")
    assert r.returncode == 127, r.stderr
    assert cgroups.all_container_dirs() == before


def test_missing_workdir_is_created_like_docker_does(hutch, busybox_rootfs):
    r = hutch("run", "--rootfs", str(busybox_rootfs), "-w", "/work/here", "--", "pwd")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "/work/here"


def test_missing_workdir_on_a_read_only_root_fails_before_the_command(hutch, busybox_rootfs, cgroups):
    before = cgroups.all_container_dirs()
    rootfs = str(busybox_rootfs)
    r = hutch("run", "--rootfs", rootfs, "--read-only", "-w", "/nonexistent", "--", "echo", "ran")
    assert "ran" not in r.stdout
    assert "/nonexistent" in assert_hutch_error(r, 125)
    assert cgroups.all_container_dirs() == before


@pytest.mark.parametrize(("sig", "code"), [("KILL", 137), ("TERM", 143)])
def test_killed_by_a_signal_is_128_plus_the_signal(hutch, busybox_rootfs, sig, code):
    # PID 1 ignores signals it has no handler for, so the shell runs as tini's child and kills itself.
    r = hutch("run", "--rootfs", "/", "--init", "--", "sh", "-c", f"kill -{sig} $$; sleep 5")
    assert r.returncode == code, r.stderr
