"""Options that shape the container's process: environment, directory, user, read-only root, cgroup parent."""

from __future__ import annotations

import signal

import pytest
from hutchtest import TIME_SCALE, assert_hutch_error, remove_cgroup, wait_for


def test_env(hutch, busybox_rootfs):
    r = hutch(
        "run", "-e", "FOO=bar", "--env", "EMPTY=", "-e", "SPACED=a b", "--rootfs", str(busybox_rootfs),
        "--", "sh", "-c", 'echo "$FOO|${EMPTY-unset}|$SPACED"',
    )  # fmt: skip
    assert (r.returncode, r.stdout) == (0, "bar||a b\n"), r.stderr


def test_workdir(hutch, busybox_rootfs):
    r = hutch("run", "-w", "/tmp", "--rootfs", str(busybox_rootfs), "--", "pwd")
    assert (r.returncode, r.stdout) == (0, "/tmp\n"), r.stderr


@pytest.mark.parametrize("flag", ["-u", "--user"])
def test_user(hutch, busybox_rootfs, flag):
    r = hutch("run", flag, "65534:65534", "--rootfs", str(busybox_rootfs), "--", "sh", "-c", "id -u; id -g")
    assert (r.returncode, r.stdout.split()) == (0, ["65534", "65534"]), r.stderr


def test_default_user_is_root(hutch, busybox_rootfs):
    r = hutch("run", "--rootfs", str(busybox_rootfs), "--", "id", "-u")
    assert (r.returncode, r.stdout) == (0, "0\n"), r.stderr


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "writable"])
def test_read_only_rootfs(hutch, rootfs, read_only):
    args = ["--read-only"] if read_only else []
    r = hutch("run", *args, "--rootfs", str(rootfs), "--", "touch", "/x")
    if read_only:
        assert r.returncode != 0
        assert "Read-only file system" in r.stderr, r.stderr
        assert not (rootfs / "x").exists()
    else:
        assert r.returncode == 0, r.stderr
        assert (rootfs / "x").exists()


def test_rm_is_accepted(hutch, busybox_rootfs):
    r = hutch("run", "--rm", "--rootfs", str(busybox_rootfs), "--", "true")
    assert r.returncode == 0, r.stderr


def test_cgroup_parent(hutch_bg, cgroups, name):
    parent = f"hutch-test-parent-{name}"
    try:
        with hutch_bg("run", "--rootfs", "/",
                      "--cgroup-parent", parent, "--name", name, "--", "sleep", "1") as proc:
            wait_for(lambda: cgroups.procs(name, parent=parent), timeout=10)
            for controller in ("memory", "pids", "cpu"):
                assert cgroups.container_dir(name, controller, parent).is_dir(), controller
            assert not cgroups.container_dir(name, "pids").exists()  # not under the default parent
            assert proc.wait(timeout=20 * TIME_SCALE) == 0
        for controller in ("memory", "pids", "cpu"):
            assert not cgroups.container_dir(name, controller, parent).exists(), controller
    finally:
        for h in cgroups.hierarchies:
            if (h.mountpoint / parent).exists():
                remove_cgroup(h.mountpoint / parent)


def test_a_running_containers_name_cannot_be_reused(hutch, hutch_bg, busybox_rootfs, cgroups, name):
    args = ("--name", name, "--rootfs", str(busybox_rootfs))
    with hutch_bg("run", "--init", *args, "--", "sleep", "30") as first:
        wait_for(lambda: cgroups.procs(name))
        r = hutch("run", *args, "--", "true")
        assert "is already in use" in assert_hutch_error(r)
        assert first.poll() is None  # the running container was not disturbed
        assert cgroups.procs(name)
        first.send_signal(signal.SIGTERM)  # tini passes it on; hutch then removes the cgroup itself
        assert first.wait(timeout=10 * TIME_SCALE) == 143
