"""Attacks on hutch-runtime, one class of runtime CVE each, carried out from inside real containers, from
hostile images and from a host-side racer, through `hutch-runtime create/start/run/exec`.

- CVE-2024-21626: a descriptor of the runtime reaching the container, and a working directory through
  /proc/self/fd/N that would start the process outside its root.
- CVE-2021-30465: a mount destination swapped for a symlink out of the root while the container is set up.
- CVE-2025-31133: the /dev/null that masks paths replaced by a symlink or another node, so that the mask
  would become a writable bind of what it points at; CVE-2025-52565: the same with /dev/console and a pty.
- Mount propagation between the container and the host, both ways, with every rootfsPropagation.

The runtime's own executable (CVE-2019-5736), writes to the host's /proc/sys, /proc/sysrq-trigger and /sys,
and device nodes without a rule are attacked in tests/engine/test_engine_attacks.py.

Each test asserts what the attacker is after (a host file unchanged, no mount on the host, the container's
view inside its root) and carries a control: the attack's primitive working where it is allowed, so that the
test could fail. The attacker is tests/fixtures/attacker.c; it only opens what it attacks and closes it again,
except where a test gives it a file of its own (the canary) to write to.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from attacktest import (
    docker_capabilities,
    lines_by_first_word,
    mounts_under,
    run_side_by_side,
    shared_mount,
)
from hutchtest import TIME_SCALE, wait_for
from runtimetest import Bundle

# Containers created while a racer swaps a path: each is a try at the window between resolving the path and
# using it. The emulated v2 VM is slower at everything: fewer there, each a longer window.
RACE_ATTEMPTS = 30 if TIME_SCALE == 1 else 6
# /proc/self/fd/N tried as a working directory: past every descriptor the runtime holds while it sets up.
FD_NUMBERS = range(3, 32)
NULL_DEVICE = os.makedev(1, 3)


@pytest.fixture
def host_dir(tmp_path: Path) -> Iterator[Path]:
    """A host directory the container must never reach, under a shared mount (as every mount of a systemd
    host is): a mount that ends up there in any mount namespace copied from the host shows on the host."""
    with shared_mount(tmp_path / "shared") as shared:
        target = shared / "host-dir"
        target.mkdir()
        (target / "host-file").write_text("host\n")
        yield target


def _assert_host_dir_untouched(host_dir: Path) -> None:
    assert mounts_under(host_dir.parent) == [], "a mount of the container reached the host"
    assert sorted(p.name for p in host_dir.iterdir()) == ["host-file"], "the container's setup wrote here"
    assert (host_dir / "host-file").read_text() == "host\n"


def _bundle(tmp_path: Path, rootfs: Path, name: str, **process: object) -> Bundle:
    bundle = Bundle(tmp_path / name, rootfs)
    bundle.config["process"]["capabilities"] = docker_capabilities()
    return bundle.write(**process)


def _without_dev_tmpfs(bundle: Bundle) -> Bundle:
    """No tmpfs on /dev: the image's own /dev is the container's, as with a spec that leaves /dev out."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"]
    return bundle


class Swapper:
    """The other container of a race, run from the host: `attacker swap` exchanges two paths (renameat2
    RENAME_EXCHANGE) until stopped."""

    def __init__(self, attacker: Path, first: Path, second: Path, stop: Path) -> None:
        self.stop = stop
        self.proc = subprocess.Popen([str(attacker), "swap", str(first), str(second), str(stop)],
                                     stdout=subprocess.PIPE, text=True)

    def finish(self) -> int:
        """Stop it; how many swaps it made."""
        self.stop.touch()
        try:
            out, _ = self.proc.communicate(timeout=30 * TIME_SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        assert self.proc.returncode == 0, out
        return int(out.split()[1])


def _passing(fd: int, argv: list[str]) -> subprocess.CompletedProcess:
    """Run `argv` with the directory `fd` as its descriptor 3, as a caller of --preserve-fds 1 does."""
    wrapper = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.execv(sys.argv[2], sys.argv[2:])"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run([sys.executable, "-c", wrapper, str(fd), *argv], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=err, pass_fds=(fd,), timeout=30 * TIME_SCALE, check=False)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


# -------------------------------------------------------------------------------- CVE-2024-21626


def _descriptors(output: str) -> dict[int, list[str]]:
    """`attacker fds`: descriptor -> [kind, target, "fchdir", result, verdict]."""
    return {int(line.split()[1]): line.split()[2:] for line in output.splitlines() if line.startswith("fd ")}


@pytest.mark.parametrize("how", ["start", "exec"])
def test_no_descriptor_of_the_runtime_reaches_the_container(runtime, armed_bundle, cid, tmp_path, how):
    """CVE-2024-21626: runc leaked a descriptor of /sys/fs/cgroup into the container, whose process could
    fchdir() to it, or climb ".." from it, out of its root. The attacker lists /proc/self/fd and tries both
    through every descriptor it has; control: a host directory passed on purpose (--preserve-fds) is found
    and reached, outside the root."""
    host = tmp_path / "host-dir"
    host.mkdir()
    fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if how == "start":
            armed_bundle.write(args=["sh", "-c", "exec /attacker fds > /fds.out"])
            runtime("create", "-b", str(armed_bundle.path), cid, check=True)
            runtime("start", cid, check=True)
            runtime.wait_status(cid, "stopped")
            found = _descriptors((armed_bundle.rootfs / "fds.out").read_text())
            runtime("delete", cid, check=True)
            armed_bundle.write(args=["/attacker", "fds"])
            control = _passing(fd, runtime.argv("run", "--preserve-fds", "1", "-b", str(armed_bundle.path),
                                                f"{cid}-control"))
        else:
            armed_bundle.write(args=["sleep", "600"])
            runtime("run", "-d", "-b", str(armed_bundle.path), cid, check=True)
            result = runtime("exec", cid, "/attacker", "fds")
            assert result.returncode == 0, result.stderr
            found = _descriptors(result.stdout)
            control = _passing(fd, runtime.argv("exec", "--preserve-fds", "1", cid, "/attacker", "fds"))
            runtime("delete", "--force", cid, check=True)
    finally:
        os.close(fd)
    assert control.returncode == 0, control.stderr
    assert _descriptors(control.stdout)[3] == ["dir", str(host), "fchdir", "OK", "OUTSIDE"], control.stdout
    assert sorted(found) == [0, 1, 2], found  # stdio only: nothing of the runtime's
    assert not [f for f in found.values() if f[0] == "dir" or f[-1] == "OUTSIDE"], found


def test_exec_preserve_fds_passes_only_what_the_caller_passed(runtime, armed_bundle, cid):
    """CVE-2024-21626 class: `exec --preserve-fds N` from a caller that holds nothing at 3 .. N+2. Whatever
    the runtime itself has open at those numbers (its signal pipe, the container's cgroup namespace, the
    exec shim) must not reach the process: `create` refuses such a count, exec must too."""
    armed_bundle.write(args=["sleep", "600"])
    runtime("run", "-d", "-b", str(armed_bundle.path), cid, check=True)
    try:
        result = runtime("exec", "--preserve-fds", "4", cid, "/attacker", "fds")
    finally:
        runtime("delete", "--force", cid, check=True)
    leaked = {fd: found for fd, found in _descriptors(result.stdout).items() if fd > 2}
    assert leaked == {}, leaked
    assert result.returncode == 255 and "is not open" in result.stderr, result.stderr


def _cwd_bundles(tmp_path: Path, rootfs: Path) -> list[Bundle]:
    return [_bundle(tmp_path, rootfs, f"cwd{n}", args=["/attacker", "cwd"], cwd=f"/proc/self/fd/{n}")
            for n in FD_NUMBERS]


def _assert_inside_or_refused(results: list[subprocess.CompletedProcess], refused_code: int) -> Counter:
    """Each process started inside its root, or was refused before it ran; returns the outcomes."""
    outcomes: Counter = Counter()
    for number, result in zip(FD_NUMBERS, results, strict=True):
        if result.returncode == 0:
            assert result.stdout.startswith("cwd inside "), (number, result.stdout)
            outcomes["inside"] += 1
        else:
            assert result.returncode == refused_code, (number, result.stderr)
            assert "cannot change to the working directory" in result.stderr, (number, result.stderr)
            assert "OUTSIDE" not in result.stdout, (number, result.stdout)
            outcomes[result.stderr.rsplit(": ", 1)[-1].strip().strip('"')] += 1
    return outcomes


def test_a_working_directory_through_proc_self_fd_starts_inside_the_root(runtime, armed_rootfs, cid,
                                                                          tmp_path):
    """CVE-2024-21626, the image's side: process.cwd "/proc/self/fd/N" (an image's WORKDIR) is entered by the
    container's init before it runs the program; a descriptor of the runtime's behind N would leave the
    process outside its root. Every N the init could hold: each container starts inside or not at all.
    Control: with a host directory passed as descriptor 3, "/proc/self/fd/3" leads out of the root."""
    bundles = _cwd_bundles(tmp_path, armed_rootfs)
    results = run_side_by_side([runtime.argv("run", "-b", str(b.path), f"{cid}-{n}")
                                for n, b in zip(FD_NUMBERS, bundles, strict=True)], timeout=120 * TIME_SCALE)
    print(_assert_inside_or_refused(results, refused_code=1))
    assert runtime.ids() == []
    host = tmp_path / "host-dir"
    host.mkdir()
    fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        control = _passing(fd, runtime.argv("run", "--preserve-fds", "1", "-b", str(bundles[0].path),
                                            f"{cid}-control"))
    finally:
        os.close(fd)
    # The caller's own descriptor: hutch follows it (runc since 1.1.12 refuses any cwd outside the root).
    assert control.stdout == f"cwd OUTSIDE {host}\n" or "outside" in control.stderr, control


def test_exec_cwd_through_proc_self_fd_starts_inside_the_root(runtime, armed_bundle, cid):
    """CVE-2024-21626 for `exec --cwd /proc/self/fd/N`: the exec'd process must start inside the root for
    every N. Control: --cwd through another /proc magic link, /proc/1/root/etc, is followed (to /etc)."""
    armed_bundle.write(args=["sleep", "600"])
    runtime("run", "-d", "-b", str(armed_bundle.path), cid, check=True)
    try:
        argvs = [runtime.argv("exec", "--cwd", f"/proc/self/fd/{n}", cid, "/attacker", "cwd")
                 for n in FD_NUMBERS]
        results = run_side_by_side(argvs, timeout=120 * TIME_SCALE)
        control = runtime("exec", "--cwd", "/proc/1/root/etc", cid, "/attacker", "cwd")
    finally:
        runtime("delete", "--force", cid, check=True)
    print(_assert_inside_or_refused(results, refused_code=255))
    assert control.stdout == "cwd inside /etc\n", control


# -------------------------------------------------------------------------------- CVE-2021-30465

VOLUME_MOUNTS = [  # under /vol, which the attack makes a symlink out of the root
    {"destination": "/vol/tmpfs", "type": "tmpfs", "source": "tmpfs", "options": ["mode=0713"]},
]
# The container finds its mounts by what only they have, wherever they are: the tmpfs's mode, the bind's
# source directory.
FIND_MOUNTS = "grep -c mode=713 /proc/self/mountinfo; grep -c volume-source /proc/self/mountinfo"


def _volume_bundle(bundle: Bundle, tmp_path: Path, propagation: str | None) -> Bundle:
    source = tmp_path / "volume-source"
    source.mkdir(exist_ok=True)
    (source / "from-the-volume").write_text("volume\n")
    bind = {"destination": "/vol/bind", "type": "bind", "source": str(source), "options": ["rbind", "ro"]}
    bundle.config["mounts"] += [*VOLUME_MOUNTS, bind]
    if propagation:
        bundle.set("linux.rootfsPropagation", propagation)
    return bundle.write(args=["sh", "-c", FIND_MOUNTS])


@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_a_mount_destination_symlinked_out_of_the_root_lands_inside_it(runtime, armed_bundle, cid, tmp_path,
                                                                      host_dir, link):
    """CVE-2021-30465, static: the image's /vol is a symlink to a host directory ("/host/dir", or
    "../../../host/dir" climbing out of the rootfs). The spec's mounts at /vol/... follow it as if the rootfs
    were "/": they land in the root, at /host/dir inside it. rootfsPropagation rshared, so that a mount that
    went to the host directory would show on the host. Control: on the host the same symlink leads there."""
    rootfs = armed_bundle.rootfs
    target = str(host_dir) if link == "absolute" else "../" * len(rootfs.parts) + str(host_dir).lstrip("/")
    (rootfs / "vol").symlink_to(target)
    assert (rootfs / "vol").resolve() == host_dir  # control: followed naively, it is the host's directory
    _volume_bundle(armed_bundle, tmp_path, "rshared")
    runtime("create", "-b", str(armed_bundle.path), cid, check=True)
    try:
        _assert_host_dir_untouched(host_dir)
        # The init's mountinfo shows mount points from its own root: both mounts are at /host/dir in it.
        with open(f"/proc/{runtime.state(cid)['pid']}/mountinfo") as f:
            points = [line.split()[4] for line in f]
        assert f"{host_dir}/tmpfs" in points and f"{host_dir}/bind" in points, points
        assert sorted(p.name for p in (rootfs / str(host_dir).lstrip("/")).iterdir()) == ["bind", "tmpfs"]
    finally:
        runtime("delete", "--force", cid, check=True)
    _assert_host_dir_untouched(host_dir)


def test_a_path_resolved_inside_the_root_is_opened_without_following_a_symlink_put_there_since(tmp_path,
                                                                                                host_dir):
    """CVE-2021-30465, the step the race goes for, without the race: secure_join() resolved the path while
    /vol was a directory; /vol is a symlink to the host directory by the time the runtime opens the path to
    mount on it. open_inside() refuses (ELOOP) and makes nothing on the host. Control: opened before the
    swap, the same path is made inside the root, and the symlink followed naively leads to the host."""
    from hutch.oci.rootfs.paths import open_inside, secure_join

    root = tmp_path / "root"
    (root / "vol").mkdir(parents=True)
    dest = secure_join(str(root), "/vol/sub/mnt")
    fd = open_inside(str(root), dest, "dir")
    try:
        assert os.readlink(f"/proc/self/fd/{fd}") == f"{root}/vol/sub/mnt"
    finally:
        os.close(fd)
    shutil.rmtree(root / "vol")
    (root / "vol").symlink_to(host_dir)
    assert Path(dest).resolve() == host_dir / "sub" / "mnt"  # where a path-based mount would now go
    with pytest.raises(OSError) as refused:
        open_inside(str(root), dest, "dir")
    assert refused.value.errno == errno.ELOOP
    _assert_host_dir_untouched(host_dir)


@pytest.mark.parametrize("propagation", [None, "rshared", "shared"])
def test_a_mount_destination_swapped_for_a_symlink_during_setup_never_leaves_the_root(
        runtime, armed_bundle, cid, tmp_path, attacker, host_dir, propagation):
    """CVE-2021-30465, the race: while containers are created one after the other, a racer on the host (the
    other container of the original attack, which shares the volume) swaps the rootfs's /vol, a directory,
    with a symlink to a host directory, as fast as it can. Each container must either fail cleanly or have
    both its mounts inside its root; the host directory never gets a mount (with rshared it would show) nor a
    directory made for one. Control: the race reaches the setup (some create meets the symlink)."""
    rootfs = armed_bundle.rootfs
    (rootfs / "vol").mkdir()
    (rootfs / "vol-swap").symlink_to(host_dir)
    _volume_bundle(armed_bundle, tmp_path, propagation)
    swapper = Swapper(attacker, rootfs / "vol", rootfs / "vol-swap", tmp_path / "stop")
    outcomes: Counter = Counter()
    try:
        for attempt in range(RACE_ATTEMPTS):
            result = runtime("run", "-b", str(armed_bundle.path), f"{cid}-{attempt}")
            if result.returncode == 0:
                assert result.stdout.split() == ["1", "1"], ("a mount is missing", result.stdout)
                outcomes["both mounts inside"] += 1
            else:
                assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result
                assert "cannot " in result.stderr and "Traceback" not in result.stderr, result.stderr
                outcomes[result.stderr.split('msg="', 1)[-1].rstrip('"\n')] += 1
            _assert_host_dir_untouched(host_dir)
    finally:
        swaps = swapper.finish()
    print(swaps, "swaps:", dict(outcomes))
    assert runtime.ids() == []
    # Reached: a create failed on the swapped path, or resolved the symlink and mounted at its target inside.
    reached = sum(n for what, n in outcomes.items() if "symbolic links" in what)
    assert reached or (rootfs / str(host_dir).lstrip("/")).exists(), outcomes


# -------------------------------------------------------------------------------- CVE-2025-31133, -52565

CANARY = "canary\n"
# Writes through every masked file, then what the masks are (busybox stat: type and major:minor in hex).
THROUGH_MASKS = ("for f in /proc/keys /proc/timer_list /proc/latency_stats /proc/sched_debug; do "
                 "[ -e $f ] && echo pwned > $f; done 2>&1; "
                 "/attacker open w /proc/keys /proc/timer_list; "
                 "stat -c '%n %F %t:%T' /proc/keys /proc/timer_list")


def _poison_dev_null(dev: Path, how: str) -> None:
    if how == "symlink-to-canary":
        (dev / "null").symlink_to("/canary")
    elif how == "symlink-to-core_pattern":
        (dev / "null").symlink_to("/proc/sys/kernel/core_pattern")
    elif how == "zero-device":
        os.mknod(dev / "null", 0o666 | 0o020000, os.makedev(1, 5))
    else:
        (dev / "null").write_text(CANARY)  # a plain file


@pytest.mark.parametrize("where", ["image", "bind-over-dev"])
@pytest.mark.parametrize("how", ["symlink-to-canary", "symlink-to-core_pattern", "zero-device", "plain-file"])
def test_masks_are_never_made_of_anything_but_the_null_device(runtime, armed_bundle, cid, tmp_path, where,
                                                              how):
    """CVE-2025-31133: masked paths are masked by binding /dev/null over them. With /dev/null a symlink (to
    /proc/sys/kernel/core_pattern: a writable copy of it under /proc/keys, beside the read-only /proc/sys) or
    another node, the bind would follow it. The poisoned /dev is the image's (a spec without a tmpfs on /dev)
    or an attacker's directory bound over /dev. The attacker writes through every mask: the canary stays as
    it was, nothing of /proc/keys opens for writing but the null device. Control: without masks, the
    container reaches the canary through the poisoned /dev/null."""
    rootfs = armed_bundle.rootfs
    (rootfs / "canary").write_text(CANARY)
    _without_dev_tmpfs(armed_bundle)
    dev = rootfs / "dev"
    if where == "bind-over-dev":
        dev = tmp_path / "attacker-dev"
        dev.mkdir()
        armed_bundle.config["mounts"].insert(1, {"destination": "/dev", "type": "bind", "source": str(dev),
                                                 "options": ["rbind"]})
    _poison_dev_null(dev, how)
    armed_bundle.write(args=["sh", "-c", THROUGH_MASKS])
    poisoned = (dev / "null").read_text() if how == "plain-file" else None
    result = runtime("run", "-b", str(armed_bundle.path), cid)
    if result.returncode == 0:  # masked after all: only with the null device
        assert result.stdout.count("character special file 1:3") == 2, result.stdout
    else:
        assert ": /dev/null is not the null device" in result.stderr, result.stderr
    assert (rootfs / "canary").read_text() == CANARY, "a mask was a writable bind of the canary"
    if poisoned is not None:
        assert (dev / "null").read_text() == poisoned, "a mask was a writable bind of the image's file"
    if how == "symlink-to-canary":
        armed_bundle.set("linux.maskedPaths", [])
        armed_bundle.write(args=["sh", "-c", "echo reached > /dev/null"])
        control = runtime("run", "-b", str(armed_bundle.path), f"{cid}-control")
        assert control.returncode == 0, control.stderr
        assert (rootfs / "canary").read_text() == "reached\n"


def test_masks_hold_while_dev_null_is_swapped_for_a_symlink(runtime, armed_bundle, cid, tmp_path, attacker):
    """CVE-2025-31133, the race: the image's /dev/null is the null device, but a racer swaps it with a
    symlink to the canary while containers are created. Every container fails cleanly or has masks that are
    the null device; the canary is never written. Control: the race reaches the masking (some create finds
    the symlink)."""
    rootfs = armed_bundle.rootfs
    (rootfs / "canary").write_text(CANARY)
    os.mknod(rootfs / "dev" / "null", 0o666 | 0o020000, NULL_DEVICE)
    (rootfs / "dev" / "null-swap").symlink_to("/canary")
    _without_dev_tmpfs(armed_bundle).write(args=["sh", "-c", THROUGH_MASKS])
    swapper = Swapper(attacker, rootfs / "dev" / "null", rootfs / "dev" / "null-swap", tmp_path / "stop")
    outcomes: Counter = Counter()
    try:
        for attempt in range(RACE_ATTEMPTS):
            result = runtime("run", "-b", str(armed_bundle.path), f"{cid}-{attempt}")
            if result.returncode == 0:
                assert result.stdout.count("character special file 1:3") == 2, result.stdout
                outcomes["masked"] += 1
            else:
                assert ": /dev/null is not the null device" in result.stderr, result.stderr
                outcomes["refused"] += 1
            assert (rootfs / "canary").read_text() == CANARY, "a mask was a writable bind of the canary"
    finally:
        swaps = swapper.finish()
    print(swaps, "swaps:", dict(outcomes))
    assert outcomes["refused"] > 0, outcomes


def _receive_pty(listener: socket.socket) -> int:
    conn, _ = listener.accept()
    with conn:
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 4)
    assert len(fds) == 1
    return fds[0]


def test_a_console_symlinked_to_proc_gains_no_pty_and_no_write_access(runtime, armed_bundle, cid, tmp_path):
    """CVE-2025-52565: with process.terminal, runc binds the pty onto /dev/console, and a /dev/console that
    is a symlink to /proc/sys/kernel/core_pattern (or /proc/sysrq-trigger) sent that bind over the /proc file
    before it was made read-only. hutch binds no console: with the image's own /dev, /dev/console ->
    core_pattern stays what it is, read-only, and no devpts mount shows anywhere but /dev/pts. Control: the
    process runs on the pty."""
    rootfs = armed_bundle.rootfs
    os.mknod(rootfs / "dev" / "null", 0o666 | 0o020000, NULL_DEVICE)  # for the masks
    (rootfs / "dev" / "console").symlink_to("/proc/sys/kernel/core_pattern")
    (rootfs / "dev" / "ptmx").symlink_to("pts/ptmx")
    _without_dev_tmpfs(armed_bundle)
    script = ("tty; /attacker open w /dev/console /proc/sys/kernel/core_pattern; echo devpts-mounts: "
              "$(grep devpts /proc/self/mountinfo | cut -d' ' -f5)")
    armed_bundle.write(terminal=True, args=["sh", "-c", f"({script}) > /out 2>&1"])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    master = -1
    try:
        listener.bind(str(tmp_path / "console.sock"))
        listener.listen(1)
        listener.settimeout(20 * TIME_SCALE)
        argv = runtime.argv("create", "--console-socket", str(tmp_path / "console.sock"), "-b",
                            str(armed_bundle.path), cid)
        with subprocess.Popen(argv, stdin=subprocess.DEVNULL) as created:
            master = _receive_pty(listener)
            assert created.wait(timeout=20 * TIME_SCALE) == 0
        runtime("start", cid, check=True)
        runtime.wait_status(cid, "stopped")
    finally:
        if master >= 0:
            os.close(master)
        listener.close()
        runtime("delete", "--force", cid)
    seen = lines_by_first_word((rootfs / "out").read_text())
    assert "/dev/pts/0" in seen, seen  # control: the process runs on the pty
    assert seen["/dev/console"] == seen["/proc/sys/kernel/core_pattern"] == "EROFS", seen
    assert seen["devpts-mounts:"] == "/dev/pts", "a pty or a devpts mount landed elsewhere"


# -------------------------------------------------------------------------------- propagation


def _sys_admin(bundle: Bundle) -> Bundle:
    caps = [*docker_capabilities()["bounding"], "CAP_SYS_ADMIN"]
    bundle.config["process"]["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    return bundle


def _leaks_from_a_naive_namespace(volume: Path, scratch: Path) -> list[str]:
    """What a mount on `volume`, bound into a new mount namespace left as unshare(2) makes it, shows on the
    host (detached again before returning)."""
    scratch.mkdir()
    subprocess.run(["unshare", "--mount", "--propagation", "unchanged", "sh", "-c",
                    f"mount --bind {volume} {scratch} && mount -t tmpfs hutch-naive {scratch}"], check=True)
    leaked = mounts_under(volume.parent)
    for point in leaked:
        subprocess.run(["umount", "-l", point], check=True)
    return leaked


@pytest.mark.parametrize("propagation", [None, "private", "rprivate", "slave", "rslave", "shared", "rshared"])
def test_mounts_made_inside_reach_no_host_mount(runtime, tmp_path, busybox_rootfs, attacker, cid,
                                                propagation):
    """Escape through propagation, outwards: the rootfs sits on a shared mount, and a volume is bound from a
    host directory on another shared mount. The container (CAP_SYS_ADMIN) mounts on its root and on the
    volume: neither shows on the host, nor does any mount of the setup, whatever rootfsPropagation says. (As
    runc does, the rootfs's parent mount is made private when it is shared, and after pivot_root every mount
    of the container is made a slave: with "shared" or "rshared" the container's mounts are shared among its
    own, and still receive the host's.) Controls: a naive mount namespace leaks the same mount on the volume
    to the host; the container's mounts are made, inside."""
    with shared_mount(tmp_path / "shared") as shared, shared_mount(tmp_path / "volumes") as volumes:
        rootfs = shared / "rootfs"
        shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
        shutil.copy2(attacker, rootfs / "attacker")
        volume = volumes / "volume"
        volume.mkdir()
        assert _leaks_from_a_naive_namespace(volume, tmp_path / "naive") == [str(volume)]
        bundle = _sys_admin(Bundle(tmp_path / "bundle", rootfs))
        if propagation:
            bundle.set("linux.rootfsPropagation", propagation)
        bundle.config["mounts"].append({"destination": "/vol", "type": "bind", "options": ["rbind"],
                                        "source": str(volume)})
        (rootfs / "vol").mkdir()
        script = "/attacker mount tmpfs /tmp; /attacker mount tmpfs /vol; exec sleep 600"
        bundle.write(args=["sh", "-c", f"({script}) > /mounted"])
        runtime("create", "-b", str(bundle.path), cid, check=True)
        try:
            assert mounts_under(shared) == mounts_under(volumes) == [], "the setup's mounts reached the host"
            runtime("start", cid, check=True)
            mounted = rootfs / "mounted"
            wait_for(lambda: mounted.exists() and mounted.read_text().count("\n") == 2)
            assert (rootfs / "mounted").read_text() == "mount tmpfs /tmp OK\nmount tmpfs /vol OK\n"
            assert mounts_under(shared) == mounts_under(volumes) == [], "a mount reached the host"
        finally:
            runtime("delete", "--force", cid, check=True)
        assert mounts_under(shared) == [] and mounts_under(volumes) == []


@pytest.mark.parametrize(("propagation", "seen"), [
    (None, False), ("private", False), ("rprivate", False), ("slave", False), ("shared", False),
    ("rshared", False), ("rslave", True),
])
def test_host_mounts_reach_the_container_only_with_rslave_propagation(runtime, tmp_path, busybox_rootfs, cid,
                                                                      propagation, seen):
    """Propagation inwards: a mount the host makes under the rootfs (on a shared mount) of a running container
    shows inside only when rootfsPropagation is rslave (the control: that is what it is for). By default
    (hutch: rprivate), with private, and with slave, shared and rshared, which leave the rootfs's parent mount
    shared and so have it made private (runc's rule), the container's view stays as it was set up."""
    with shared_mount(tmp_path / "shared") as shared:
        rootfs = shared / "rootfs"
        shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
        (rootfs / "mnt" / "late").mkdir(parents=True)
        bundle = Bundle(tmp_path / "bundle", rootfs)
        if propagation:
            bundle.set("linux.rootfsPropagation", propagation)
        bundle.write(args=["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.02; done; "
                           "grep -c ' /mnt/late ' /proc/self/mountinfo > /tmp/seen"])
        runtime("create", "-b", str(bundle.path), cid, check=True)
        late = rootfs / "mnt" / "late"
        try:
            runtime("start", cid, check=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "hutch-late", str(late)], check=True)
            (rootfs / "tmp" / "go").touch()
            runtime.wait_status(cid, "stopped")
        finally:
            runtime("delete", "--force", cid, check=True)
            subprocess.run(["umount", "-l", str(late)], check=False)
        assert (rootfs / "tmp" / "seen").read_text().strip() == ("1" if seen else "0")

