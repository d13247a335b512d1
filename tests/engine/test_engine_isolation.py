"""Each container gets its own namespaces, its own PID 1, its own /proc and a network with only loopback."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

NAMESPACES = ("uts", "ipc", "pid", "mnt", "net", "cgroup")


def test_every_namespace_is_new(hutch):
    script = "for ns in " + " ".join(NAMESPACES) + '; do echo "$ns $(readlink /proc/self/ns/$ns)"; done'
    r = hutch("run", "--rootfs", "/", "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    inside = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert set(inside) == set(NAMESPACES), r.stdout
    for ns in NAMESPACES:
        outside = os.readlink(f"/proc/self/ns/{ns}")
        assert inside[ns].startswith(f"{ns}:["), inside[ns]
        assert inside[ns] != outside, f"{ns} namespace is shared with the host: {outside}"


def test_hostname_is_set_inside_only(hutch):
    before = socket.gethostname()
    r = hutch("run", "--rootfs", "/",
              "--hostname", "box-one", "--", "sh", "-c", "hostname; cat /proc/sys/kernel/hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["box-one", "box-one"]
    assert socket.gethostname() == before


@pytest.mark.parametrize("mode", ["host", "rootfs"])
def test_command_is_pid_1_and_proc_shows_only_the_container(hutch, busybox_rootfs, mode):
    args = ["--rootfs", str(busybox_rootfs)] if mode == "rootfs" else ["--rootfs", "/"]
    r = hutch("run", *args, "--", "sh", "-c", "echo $$; ls /proc")
    assert r.returncode == 0, r.stderr
    first, *entries = r.stdout.split()
    assert first == "1"
    pids = sorted(int(e) for e in entries if e.isdigit())
    # sh (PID 1) and ls: a handful at most, while the host has many more.
    assert 1 in pids
    assert len(pids) <= 3, pids
    assert len([p for p in os.listdir("/proc") if p.isdigit()]) > 3


@pytest.mark.parametrize("mode", ["host", "rootfs"])
def test_network_none_has_only_loopback_and_it_is_up(hutch, busybox_rootfs, mode):
    args = ["--rootfs", str(busybox_rootfs)] if mode == "rootfs" else ["--rootfs", "/"]
    script = "ip -o link; echo ---; ls /sys/class/net; echo ---; cat /sys/class/net/lo/flags"
    r = hutch("run", *args, "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    links, sysnet, flags = (part.split("\n") for part in r.stdout.strip().split("\n---\n"))
    assert len(links) == 1, links
    assert links[0].split(":")[1].strip() == "lo", links
    link_flags = links[0].split("<", 1)[1].split(">", 1)[0].split(",")
    assert "UP" in link_flags, links
    assert sysnet == ["lo"]
    assert int(flags[0], 16) & 0x1, f"IFF_UP not set on lo: {flags}"  # IFF_UP


def test_network_host_shares_the_hosts_interfaces(hutch):
    host_links = sorted(os.listdir("/sys/class/net"))
    r = hutch("run", "--rootfs", "/",
              "--network", "host", "--", "sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net")
    assert r.returncode == 0, r.stderr
    netns, *links = r.stdout.split()
    assert netns == os.readlink("/proc/self/ns/net")
    assert sorted(links) == host_links


def test_host_mode_root_is_read_only_and_tmp_is_private(hutch, tmp_path):
    probe = f"hutch-probe-{os.getpid()}"
    script = f"touch /{probe} 2>/dev/null && echo root-writable; echo x > /tmp/{probe} && cat /tmp/{probe}"
    r = hutch("run", "--rootfs", "/", "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["x"], r.stdout
    assert not Path("/", probe).exists()
    assert not Path("/tmp", probe).exists()


def test_user_namespace_with_uidmap_and_gidmap(hutch, busybox_rootfs):
    # The mapped root (uid 100000 outside) must be able to reach the rootfs: pytest's tmp dirs are 0700.
    script = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; readlink /proc/self/ns/user"
    with tempfile.TemporaryDirectory(prefix="hutch-userns-") as tmp:
        os.chmod(tmp, 0o755)
        rootfs = Path(tmp, "rootfs")
        shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
        r = hutch(
            "run", "--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536", "--rootfs", str(rootfs),
            "--", "sh", "-c", script,
        )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["0", "0"]
    assert lines[2].split() == ["0", "100000", "65536"]
    assert lines[3].split() == ["0", "100000", "65536"]
    assert lines[4] != os.readlink("/proc/self/ns/user")
