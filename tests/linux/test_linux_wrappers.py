"""The ctypes wrappers: errors carry errno and path, capabilities round-trip, pidfds follow one process."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import pytest

from hutch.linux import caps, mountinfo, pidfd, pty
from hutch.linux import syscalls as sc


def test_mount_failure_is_an_oserror_with_errno_and_path(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(OSError) as caught:
        sc.mount("tmpfs", str(missing), "tmpfs")
    assert caught.value.errno == errno.ENOENT
    assert caught.value.filename == str(missing)


def test_umount_of_a_non_mount_point_is_einval(tmp_path):
    with pytest.raises(OSError) as caught:
        sc.umount2(str(tmp_path))
    assert caught.value.errno == errno.EINVAL


def _in_child(fn) -> int:
    """Run fn in a forked child (which exits with fn's return value) and return that exit code."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(fn())
        except BaseException:
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_unshare_and_sethostname_change_only_the_child(tmp_path):
    before = os.uname().nodename

    def child() -> int:
        sc.unshare(sc.CLONE_NEWUTS)
        sc.sethostname("wrapped")
        return 0 if os.uname().nodename == "wrapped" else 1

    assert _in_child(child) == 0
    assert os.uname().nodename == before


def test_mount_in_a_private_namespace_stays_there(tmp_path):
    def child() -> int:
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        sc.mount("tmpfs", str(tmp_path), "tmpfs", 0, "size=64k")
        sc.mount_setattr(str(tmp_path), sc.MOUNT_ATTR_RDONLY)
        points = [m for m in mountinfo.read() if m.mount_point == str(tmp_path)]
        return 0 if points and "ro" in points[-1].mount_options else 1

    assert _in_child(child) == 0
    assert all(m.mount_point != str(tmp_path) for m in mountinfo.read())


def test_capabilities_round_trip_through_the_bounding_and_effective_sets():
    keep = caps.mask(["CAP_SETPCAP", "CAP_KILL", "net_raw"])

    def child() -> int:
        caps.drop_bounding(keep)
        caps.capset(keep, keep, 0)
        eff, perm, inh = caps.capget()
        bounded = all(bool(sc.prctl(sc.PR_CAPBSET_READ, c)) == bool(keep & (1 << c))
                      for c in range(caps.last_cap() + 1))
        return 0 if (eff, perm, inh) == (keep, keep, 0) and bounded else 1

    assert _in_child(child) == 0


def test_unknown_capability_name_is_refused():
    with pytest.raises(ValueError, match="CAP_FLY"):
        caps.number("CAP_FLY")


def test_close_range_cloexec_closes_descriptors_on_exec():
    code = (
        f"import os, sys; sys.path[:0] = {sys.path!r}\n"
        "from hutch.linux import syscalls as sc\n"
        "r, w = os.pipe(); os.set_inheritable(r, True)\n"
        "sc.close_range(3, flags=sc.CLOSE_RANGE_CLOEXEC)\n"
        "os.execv('/bin/ls', ['ls', '/proc/self/fd'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert sorted(int(fd) for fd in out.split()) in ([0, 1, 2], [0, 1, 2, 3])


def test_pidfd_signals_and_reaps_exactly_its_process():
    child = subprocess.Popen(["sleep", "30"])
    proc = pidfd.Process(child.pid)
    try:
        assert proc.wait(block=False) is None
        assert proc.send_signal(signal.SIGTERM)
        status = proc.wait()
        assert pidfd.exit_code(status) == (128 + signal.SIGTERM, signal.SIGTERM)
        assert proc.send_signal(signal.SIGTERM) is False  # reaped: nothing is signalled
    finally:
        proc.close()
        child.returncode = 0  # reaped through the pidfd, not by Popen


def test_pty_pair_carries_bytes_and_window_size():
    master, slave = pty.open_pair()
    try:
        pty.set_winsize(master, b"\x18\x00\x50\x00\x00\x00\x00\x00")  # 24 rows, 80 columns
        assert pty.get_winsize(slave)[:4] == b"\x18\x00\x50\x00"
        os.write(master, b"ping\n")
        assert os.read(slave, 100).strip() == b"ping"
    finally:
        os.close(master)
        os.close(slave)


def test_mountinfo_unescapes_spaces_and_splits_optional_fields():
    line = r"36 35 98:0 /mnt1 /mnt\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue"
    m = mountinfo.parse_line(line)
    assert m.mount_point == "/mnt two"
    assert m.optional_fields == ("master:1", "shared:2")
    assert (m.fs_type, m.source) == ("ext3", "/dev/root")
    assert m.super_options == ("rw", "errors=continue")
    with pytest.raises(ValueError):
        mountinfo.parse_line("garbage")
