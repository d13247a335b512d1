"""What a hostile process inside sees: no leaked fds, docker's capabilities, no_new_privs, masked /proc."""

from __future__ import annotations

import os
from pathlib import Path

from hutch.linux import caps

DOCKER_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
}


def _status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _names(mask_hex: str) -> set[str]:
    bits = int(mask_hex, 16)
    return {name for number, name in enumerate(caps.CAP_NAMES) if bits & (1 << number)}


def test_no_descriptor_of_hutch_leaks_into_the_container(hutch, busybox_rootfs, tmp_path):
    # The test itself holds an extra inheritable fd: hutch must not pass it (nor its own) on.
    leak = os.open(tmp_path, os.O_RDONLY)
    os.set_inheritable(leak, True)
    try:
        r = hutch("run", "--rootfs", str(busybox_rootfs), "--", "ls", "/proc/self/fd", pass_fds=(leak,))
    finally:
        os.close(leak)
    assert r.returncode == 0, r.stderr
    # 0-2, plus the one directory fd ls itself opened to list the directory.
    fds = sorted(int(fd) for fd in r.stdout.split())
    assert fds[:3] == [0, 1, 2], fds
    assert len(fds) <= 4, fds


def test_capabilities_are_dockers_default_set_and_no_new_privs(hutch, busybox_rootfs):
    r = hutch("run", "--rootfs", str(busybox_rootfs), "--", "cat", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    status = _status(r.stdout)
    assert _names(status["CapBnd"]) == DOCKER_CAPS
    assert _names(status["CapEff"]) == DOCKER_CAPS
    assert _names(status["CapPrm"]) == DOCKER_CAPS
    assert _names(status["CapAmb"]) == set()
    assert status["NoNewPrivs"].strip() == "1"


def test_a_non_root_user_has_no_effective_capabilities(hutch, busybox_rootfs):
    r = hutch("run", "--rootfs", str(busybox_rootfs), "-u", "65534:65534", "--", "cat", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    status = _status(r.stdout)
    assert _names(status["CapEff"]) == set()
    assert _names(status["CapBnd"]) == DOCKER_CAPS


def test_sensitive_proc_files_are_masked_and_proc_sys_is_read_only(hutch, busybox_rootfs):
    from hutch.oci.config.defaults import MASKED_PATHS

    masked = [p for p in MASKED_PATHS if p.startswith("/proc/") and os.path.isfile(p)]
    assert masked, "this kernel has none of the masked /proc files"
    assert any(Path(p).read_bytes()[:1] for p in masked if p != "/proc/kcore"), "nothing to hide on the host"
    script = "for f in " + " ".join(masked) + '; do echo "$f $(wc -c < $f)"; done; '
    script += "echo x > /proc/sys/kernel/hostname && echo sysctl-written || echo sysctl-refused"
    r = hutch("run", "--rootfs", str(busybox_rootfs), "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "sysctl-refused"
    sizes = dict(line.split() for line in lines[:-1])
    assert sizes == {p: "0" for p in masked}  # /dev/null bound over each


def test_host_mode_hides_the_hosts_cgroup_and_device_mounts(hutch):
    r = hutch("run", "--rootfs", "/", "--", "sh", "-c", "cut -d' ' -f5 /proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    points = r.stdout.split()
    assert "/sys/fs/cgroup" not in points, points
    assert points.count("/dev") == 1 and points.count("/proc") == 1, points


def test_the_container_leads_its_own_session(hutch, busybox_rootfs):
    # Otherwise a ^C at hutch's terminal would reach the container twice: directly and forwarded by hutch.
    r = hutch("run", "--rootfs", str(busybox_rootfs), "--", "cat", "/proc/self/stat")
    assert r.returncode == 0, r.stderr
    fields = r.stdout.rsplit(")", 1)[1].split()
    pid_group, session = fields[2], fields[3]
    assert (pid_group, session) == ("1", "1"), r.stdout
