"""Attacks from inside real containers on the holes an engine would expose, through `hutch run` and
`hutch-runtime`: host devices, modules planted for a late import after pivot_root, the runtime's own
executable (the CVE-2019-5736 class), container names, leaks on error paths, the host's /proc and /sys, and
mount propagation. Each test carries the attack out and asserts what blocked it. The attacker program is
tests/fixtures/attacker.c: it only ever opens what it attacks and closes it again, so a hole shows as "OK".
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from attacktest import (
    DOCKER_CAPS,
    FAILING_START_CHILD,
    NO_FORK_CHILD,
    Interpreter,
    build_fake_libpython,
    check_error,
    host_interpreter,
    install_fake_libpython,
    lines_by_first_word,
    mounts_under,
    open_fds,
    plant_modules,
    planted_markers,
    planted_source,
    private_interpreter,
    reached,
    run_side_by_side,
    runtime_import_paths,
    shared_mount,
    stop_hunt,
    wait_until_hunting,
    window_hits,
)
from hutchtest import HUTCH, TIME_SCALE, CgroupFs, assert_hutch_error, wait_for
from runtimetest import Bundle, Runtime

from hutch.oci.container.state import DEFAULT_ROOT

# `hutch-runtime exec` calls while an attacker hunts: each is a window for it. The emulated v2 VM runs an exec
# about 20 times slower (seconds each): fewer there, each a longer window.
EXECS = 40 if TIME_SCALE == 1 else 6


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """hutch-runtime with its own --root; the test fails if it leaves a container there."""
    rt = Runtime(tmp_path / "state")
    yield rt
    left = rt.cleanup()
    assert not left, f"the test left containers behind: {left}"


@pytest.fixture
def cid() -> str:
    return "at" + uuid.uuid4().hex[:10]


# -------------------------------------------------------------------------------- 1. devices

# Host devices no rule allows (a VM, physical memory, a disk): never opened for anything but reading.
DENIED_DEVICES = (("kvm", "c", 10, 232), ("mem", "c", 1, 1), ("sda", "b", 8, 0))
DEVICE_SCRIPT = "".join(
    f'echo "{name} $(/attacker mknod /dev/probe-{name} {kind} {major} {minor} | tr "\\n" " ")"; '
    for name, kind, major, minor in (*DENIED_DEVICES, ("null", "c", 1, 3))
) + ('echo x > /dev/null && echo "null-write OK"; echo "zero-read $(head -c 4 /dev/zero | wc -c)"; '
     "/attacker pty")


def _assert_allowed_devices_work(seen: dict[str, str]) -> None:
    # A node made for an allowed device opens: the tmpfs on /dev allows device nodes at all, so a refusal
    # above comes from the device rules, not from the filesystem.
    assert seen["null"].split() == ["mknod", "OK", "open", "OK"], seen
    assert seen["null-write"] == "OK" and seen["zero-read"] == "4", seen
    assert seen["ptmx"] == "OK" and seen["through"] == "OK", seen
    assert seen["slave"].startswith("/dev/pts/") and seen["slave"].endswith(" OK"), seen


def test_hutch_run_host_device_nodes_can_be_made_but_not_opened(hutch, armed_rootfs):
    # docker's rules allow mknod of any device ("c *:* m", "b *:* m") but no access beyond its own list.
    r = hutch("run", "--rootfs", str(armed_rootfs), "--", "sh", "-c", DEVICE_SCRIPT)
    assert r.returncode == 0, r.stderr
    seen = lines_by_first_word(r.stdout)
    for name, *_ in DENIED_DEVICES:
        assert seen[name].split() == ["mknod", "OK", "open", "EPERM"], (name, r.stdout)
    _assert_allowed_devices_work(seen)


def test_runtime_with_deny_all_rules_refuses_even_the_mknod_of_host_devices(runtime, armed_bundle, cid):
    # runc's own spec: one rule, deny everything; hutch adds rules only for the devices it creates itself.
    armed_bundle.set("linux.resources.devices", [{"allow": False, "access": "rwm"}])
    armed_bundle.write(args=["sh", "-c", DEVICE_SCRIPT])
    r = runtime("run", "-b", str(armed_bundle.path), cid)
    assert r.returncode == 0, r.stderr
    seen = lines_by_first_word(r.stdout)
    for name, *_ in DENIED_DEVICES:
        assert seen[name].split() == ["mknod", "EPERM"], (name, r.stdout)  # CAP_MKNOD is there: the rules
    _assert_allowed_devices_work(seen)


# ------------------------------------------------------------------------- 2. no Python after pivot_root


@pytest.fixture(scope="session")
def planted_rootfs(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rootfs with a planted module wherever the runtime's processes would import one from (or read one for
    a traceback) once the container's root is theirs, plus what the error cases below need. Shared by the
    tests below, which never write to it: the containers fail before their program runs."""
    rootfs = tmp_path_factory.mktemp("planted") / "rootfs"
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
    assert plant_modules(rootfs, runtime_import_paths(Path.cwd())) > 100
    probe = rootfs / "probe.py"  # the markers work: a planted module run on purpose leaves one
    probe.write_text(planted_source(cookie=False))
    subprocess.run([sys.executable, "-I", "-S", str(probe)], check=True)
    assert planted_markers(rootfs) == [rootfs / "probe.py.ran"]
    (rootfs / "probe.py.ran").unlink()
    (rootfs / "loop").symlink_to("loop")  # a path whose every lookup fails with ELOOP
    (rootfs / "notelf").write_text("neither ELF nor #!\n")
    (rootfs / "notelf").chmod(0o755)  # execve fails with ENOEXEC
    return rootfs


HUTCH_RUN_ERRORS = (  # (options and command, exit code, message)
    (["-w", "/bin/busybox/sub", "--", "true"], 125,
     "cannot change to the working directory /bin/busybox/sub: Not a directory"),
    (["--", "/bin"], 126, "cannot execute /bin: Is a directory"),
    (["--", "/notelf"], 126, "cannot execute /notelf: Exec format error"),  # fails after start
)
BIG = 1 << 30  # above fs.nr_open: no one may raise RLIMIT_NOFILE that far, not even with CAP_SYS_RESOURCE
RLIMIT_ERROR = f"cannot set RLIMIT_NOFILE to {BIG}:{BIG}: not allowed to raise maximum limit"
BAD_RLIMITS = [{"type": "RLIMIT_NOFILE", "soft": BIG, "hard": BIG}]
RUNTIME_CREATE_ERRORS = (  # (config change, message): each fails inside the container's init
    ({"cwd": "/bin/busybox/sub"}, "cannot change to the working directory /bin/busybox/sub: Not a directory"),
    ({"args": ["/bin"]}, "cannot execute /bin: Is a directory"),
    ({"rlimits": BAD_RLIMITS}, RLIMIT_ERROR),
    # after pivot_root, before anything else: a masked path of the spec that the image made a symlink loop
    ({"maskedPaths": ["/loop"]}, "container init failed: Too many levels of symbolic links"),
)


def _debug(flag: bool) -> list[str]:
    return ["--debug"] if flag else []


def _problems(results, cases, one_line: str) -> list[tuple]:
    """What went wrong with each result of the (case, exit code, message, debug) cases run side by side."""
    found = [(case, debug, check_error(result, code, message, debug, one_line))
             for result, (case, code, message, debug) in zip(results, cases, strict=True)]
    return [item for item in found if item[2] is not None]


def test_hutch_run_error_paths_import_nothing_from_the_container(planted_rootfs):
    cases = [(args, code, f"hutch: {message}", debug) for args, code, message in HUTCH_RUN_ERRORS
             for debug in (False, True)]
    results = run_side_by_side([[*HUTCH, *_debug(debug), "run", "--rootfs", str(planted_rootfs), *args]
                                for args, _, _, debug in cases], timeout=120 * TIME_SCALE)
    problems = _problems(results, cases, "hutch: ")
    assert planted_markers(planted_rootfs) == [], "the runtime ran modules of the container"
    assert problems == []


def test_runtime_create_and_start_error_paths_import_nothing_from_the_container(runtime, tmp_path,
                                                                                  planted_rootfs, cid):
    argvs, cases = [], []
    for number, (change, message) in enumerate(RUNTIME_CREATE_ERRORS):
        bundle = Bundle(tmp_path / f"bundle{number}", planted_rootfs)
        bundle.set("linux.maskedPaths", change.get("maskedPaths", []))
        bundle.write(**{"args": ["true"], **{k: v for k, v in change.items() if k != "maskedPaths"}})
        for debug in (False, True):
            name = f"{cid}-{number}{debug:d}"
            argvs.append(runtime.argv(*_debug(debug), "create", "-b", str(bundle.path), name))
            cases.append((change, 1, message, debug))
    problems = _problems(run_side_by_side(argvs, timeout=120 * TIME_SCALE), cases, "level=error msg=")
    assert runtime.ids() == [], "a failed create left its container"
    bundle = Bundle(tmp_path / "bundle", planted_rootfs).set("linux.maskedPaths", []).write(args=["/notelf"])
    argvs, cases = [], []
    for debug in (False, True):
        runtime("create", "-b", str(bundle.path), f"{cid}-{debug:d}", check=True)
        argvs.append(runtime.argv(*_debug(debug), "start", f"{cid}-{debug:d}"))
        cases.append(("start", 1, "cannot execute /notelf: Exec format error", debug))
    problems += _problems(run_side_by_side(argvs, timeout=120 * TIME_SCALE), cases, "level=error msg=")
    for debug in (False, True):
        runtime("delete", "--force", f"{cid}-{debug:d}", check=True)
    assert planted_markers(planted_rootfs) == [], "the runtime ran modules of the container"
    assert problems == []


def test_runtime_exec_error_paths_import_nothing_from_the_container(runtime, tmp_path, planted_rootfs, cid):
    bundle = Bundle(tmp_path / "bundle", planted_rootfs).write(args=["sleep", "600"])
    (tmp_path / "process.json").write_text(json.dumps(dict(bundle.config["process"], args=["true"],
                                                           rlimits=BAD_RLIMITS)))
    cases = [(args, 255, f"exec failed: {message}", debug) for args, message in (
        (["--cwd", "/bin/busybox/sub", cid, "true"],
         "cannot change to the working directory /bin/busybox/sub: Not a directory"),
        ([cid, "/bin"], "cannot execute /bin: Is a directory"),
        ([cid, "/notelf"], "cannot execute /notelf: Exec format error"),
        (["--process", str(tmp_path / "process.json"), cid], RLIMIT_ERROR),
    ) for debug in (False, True)]
    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    results = run_side_by_side([runtime.argv(*_debug(debug), "exec", *args) for args, _, _, debug in cases],
                               timeout=120 * TIME_SCALE)
    problems = _problems(results, cases, "level=error msg=")
    assert runtime.status(cid) == "running"
    runtime("delete", "--force", cid, check=True)
    assert planted_markers(planted_rootfs) == [], "the runtime ran modules of the container"
    assert problems == []


# -------------------------------------------------------------------------------- 3. the runtime's executable

# The attacker (`hunt`) scans the container's /proc over and over and, for every process, tries to open
# /proc/PID/exe for writing, for reading and as O_PATH (kept, and reopened for writing on every round), and
# to ptrace-attach it. Its log says what it tried on what and what it got; it is printed with the test.


def _assert_out_of_reach(attempts, interpreter: Interpreter, digest: str) -> None:
    assert reached(attempts) == [], "the container reached the runtime's interpreter or process"
    assert interpreter.digest() == digest, "the runtime's interpreter was changed"


def _exec_many(runtime: Runtime, container: str, count: int = EXECS) -> None:
    for _ in range(count):
        r = runtime("exec", container, "/bin/true")
        assert r.returncode == 0, r.stderr


def test_exec_processes_cannot_be_opened_or_traced_from_inside(runtime, armed_bundle, cid):
    host = host_interpreter()
    digest = host.digest()
    armed_bundle.write(args=["/attacker", "hunt", "hunter", *host.hunt_args()])
    runtime("run", "-d", "-b", str(armed_bundle.path), cid, check=True)
    wait_until_hunting(armed_bundle.rootfs, "hunter")
    _exec_many(runtime, cid)
    attempts = stop_hunt(armed_bundle.rootfs, "hunter")
    runtime.wait_status(cid, "stopped")
    runtime("delete", cid, check=True)
    _assert_out_of_reach(attempts, host, digest)
    # The attack really ran against hutch's processes inside their window (after they entered the container,
    # before their execve): it found them, as the shim.
    assert window_hits(attempts, init=False) >= EXECS // 4, [str(a) for a in attempts]


def test_hutch_run_containers_cannot_reach_the_exec_processes_of_hutch_runtime(hutch_bg, armed_rootfs, name):
    host = host_interpreter()
    digest = host.digest()
    engine = Runtime(Path(DEFAULT_ROOT))  # hutch run keeps its containers there
    with hutch_bg("run", "--rootfs", str(armed_rootfs), "--name", name, "--",
                  "/attacker", "hunt", "hunter", *host.hunt_args()) as proc:
        wait_until_hunting(armed_rootfs, "hunter")
        _exec_many(engine, name)
        attempts = stop_hunt(armed_rootfs, "hunter")
        assert proc.wait(timeout=30 * TIME_SCALE) == 0
    _assert_out_of_reach(attempts, host, digest)
    assert window_hits(attempts, init=False) >= EXECS // 4, [str(a) for a in attempts]


@pytest.mark.parametrize("caps", [[], ["--cap", "CAP_SYS_PTRACE"]], ids=["docker-caps", "cap-sys-ptrace"])
def test_the_init_waiting_for_start_is_out_of_reach(runtime, armed_bundle, cid, caps):
    # Created, the init waits as the exec shim, with the container's identity: a tracer finds only the shim.
    host = host_interpreter()
    digest = host.digest()
    armed_bundle.write(args=["sleep", "600"])
    runtime("create", "-b", str(armed_bundle.path), cid, check=True)
    runtime("exec", "-d", *caps, cid, "/attacker", "hunt", "hunter", *host.hunt_args(), check=True)
    wait_until_hunting(armed_bundle.rootfs, "hunter")
    time.sleep(0.5 * TIME_SCALE)
    runtime("start", cid, check=True)
    attempts = stop_hunt(armed_bundle.rootfs, "hunter")
    runtime("delete", "--force", cid, check=True)
    _assert_out_of_reach(attempts, host, digest)
    assert window_hits(attempts, init=True) == 1, [str(a) for a in attempts]


def test_with_cap_sys_ptrace_exec_processes_are_still_out_of_reach(runtime, armed_bundle, cid):
    # The middle child, which runs Python, stays outside the container's PID namespace; what it forks there
    # is the shim from its first instruction. A tracer finds only the shim, with the container's identity.
    host = host_interpreter()
    digest = host.digest()
    armed_bundle.write(args=["sleep", "600"])
    runtime("run", "-d", "-b", str(armed_bundle.path), cid, check=True)
    runtime("exec", "-d", "--cap", "CAP_SYS_PTRACE", cid, "/attacker", "hunt", "hunter", *host.hunt_args(),
            check=True)
    wait_until_hunting(armed_bundle.rootfs, "hunter")
    _exec_many(runtime, cid, EXECS // 4)
    attempts = stop_hunt(armed_bundle.rootfs, "hunter")
    runtime("delete", "--force", cid, check=True)
    _assert_out_of_reach(attempts, host, digest)
    assert window_hits(attempts, init=False) >= EXECS // 16, [str(a) for a in attempts]


@pytest.fixture(scope="session")
def fake_libpython(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fake_libpython(tmp_path_factory.mktemp("libpython") / "libpython.so")


@pytest.fixture
def proc_self_exe_image(armed_rootfs: Path, tmp_path: Path, fake_libpython: Path):
    """CVE-2019-5736 as published: the image's /evil starts with "#!/proc/self/exe", so that the runtime's
    execve of it would run the runtime's own binary in the container, which would load the image's libpython
    (fakelibpython.c) and hand an O_PATH of the interpreter to the attacker. The runtime runs on a private
    copy of the interpreter: the copy is what the attacker could write to, never the host's. With a static
    interpreter (no libpython to plant) the exit code alone shows which program ran: the shim exits 125, the
    interpreter 1 (it finds no standard library in the image)."""
    interpreter, launchers = private_interpreter(tmp_path / "interpreter")
    install_fake_libpython(armed_rootfs, interpreter.path, fake_libpython)
    (armed_rootfs / "evil").write_text("#!/proc/self/exe\n")
    (armed_rootfs / "evil").chmod(0o755)
    dev, ino = interpreter.identity
    (armed_rootfs / "attack.victim").write_text(f"{dev} {ino} append\n")
    return armed_rootfs, interpreter, launchers


@pytest.mark.parametrize("how", ["start", "exec"])
def test_proc_self_exe_runs_the_sealed_shim_not_the_runtimes_interpreter(tmp_path, armed_bundle,
                                                                          proc_self_exe_image, cid, how):
    # /proc/self/exe at the container's execve is the exec shim in its sealed memfd: "#!/proc/self/exe" runs
    # the shim (which refuses the arguments, exit 125), never Python, so the image's libpython never loads.
    rootfs, interpreter, launchers = proc_self_exe_image
    digest = interpreter.digest()
    runtime = Runtime(tmp_path / "state", binary=str(launchers["hutch-runtime"]))
    try:
        if how == "start":
            armed_bundle.write(args=["/evil"])
            runtime("create", "-b", str(armed_bundle.path), cid, check=True)
            init = runtime.state(cid)["pid"]  # reparented to pytest, the subreaper: its status is ours
            runtime("start", cid, check=True)
            _, status = os.waitpid(init, 0)
            assert os.waitstatus_to_exitcode(status) == 125
        else:
            armed_bundle.write(args=["sleep", "600"])
            runtime("run", "-d", "-b", str(armed_bundle.path), cid, check=True)
            result = runtime("exec", cid, "/evil")
            assert result.returncode == 125, result.stderr
    finally:
        runtime.cleanup()
    assert not (rootfs / "grab.ready").exists(), "the runtime's interpreter ran the image's libpython"
    assert interpreter.digest() == digest, "the runtime's interpreter was changed"


def test_proc_self_exe_under_hutch_run_runs_the_sealed_shim(proc_self_exe_image, name):
    rootfs, interpreter, launchers = proc_self_exe_image
    digest = interpreter.digest()
    argv = [str(launchers["hutch"]), "run", "--rootfs", str(rootfs), "--name", name, "--", "/evil"]
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=30 * TIME_SCALE)
    assert result.returncode == 125, result.stderr
    assert not (rootfs / "grab.ready").exists(), "the runtime's interpreter ran the image's libpython"
    assert interpreter.digest() == digest


# -------------------------------------------------------------------------------- 4. names


def test_a_taken_name_is_refused_and_its_container_is_left_alone(hutch, hutch_bg, rootfs, name, tmp_path,
                                                                 cgroups: CgroupFs):
    with hutch_bg("run", "--rootfs", str(rootfs), "--name", name, "--", "sh", "-c",
                  "while [ ! -e /go ]; do sleep 0.05; done; echo first-done", text=True) as first:
        wait_for(lambda: cgroups.procs(name))
        second = hutch("run", "--rootfs", str(rootfs), "--name", name, "--", "true")
        assert assert_hutch_error(second) == f"hutch: the container name {name} is already in use"
        engine = Runtime(Path(DEFAULT_ROOT))
        bundle = Bundle(tmp_path / "bundle", rootfs).write(args=["true"])
        taken = engine("create", "-b", str(bundle.path), name)
        assert taken.returncode == 1, taken.stderr
        assert "container with given ID already exists" in taken.stderr, taken.stderr
        assert first.poll() is None and engine.status(name) == "running"
        (rootfs / "go").touch()
        out, err = first.communicate(timeout=30 * TIME_SCALE)
    assert (first.returncode, out) == (0, "first-done\n"), err


# -------------------------------------------------------------------------------- 5. leaks on error paths


def test_a_create_whose_fork_fails_leaks_no_descriptor(tmp_path, busybox_rootfs, cgroups: CgroupFs, name,
                                                       cid):
    from hutch.cgroups import Resources, new_manager

    limit = new_manager(f"hutch/{name}-nofork")
    limit.create()
    try:
        limit.apply(Resources(pids_limit=1))
        bundle = Bundle(tmp_path / "bundle", busybox_rootfs).write(args=["true"])
        procs = cgroups.container_dir(f"{name}-nofork", "pids") / "cgroup.procs"
        r = subprocess.run([sys.executable, "-c", NO_FORK_CHILD, str(procs), str(bundle.path),
                            str(tmp_path / "state"), cid], capture_output=True, text=True,
                           timeout=60 * TIME_SCALE)
    finally:
        limit.destroy()
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["outcomes"] == ["BlockingIOError: [Errno 11] Resource temporarily unavailable"] * 3
    assert report["after"] == report["before"]  # no socketpair end, state directory or cgroup fd is left
    assert not report["state"] and not cgroups.container_dir(cid, "pids").exists()


def test_descriptors_sent_unasked_on_the_init_channel_are_closed_at_once(tmp_path):
    from hutch.oci.process import sync

    ours, theirs = sync.Channel.pair()
    try:
        baseline = open_fds()
        planted = [os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), os.open(tmp_path, os.O_RDONLY)]
        theirs.send(sync.DETACH, fds=planted)  # with the message the init waits for, read as it reads it
        sync.close_all(planted)
        assert ours.expect(sync.DETACH) == b""
        assert open_fds() == baseline, "a descriptor the init did not ask for stayed open in it"
        # More than fit: none of the rest is installed, also when some are wanted.
        many = [os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) for _ in range(8)]
        theirs.send(sync.PTY, b"x", fds=many)
        sync.close_all(many)
        kind, _, fds = ours.recv(want_fds=True)
        assert kind == sync.PTY and 1 <= len(fds) <= 4
        sync.close_all(fds)
        assert open_fds() == baseline
        # An empty message that carries descriptors ends the channel and takes them with it.
        planted = [os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
        theirs.sock.sendmsg([b""], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", *planted))])
        sync.close_all(planted)
        with pytest.raises(sync.ChannelClosed):
            ours.recv(want_fds=True)
        assert open_fds() == baseline
    finally:
        ours.close()
        theirs.close()


def test_a_descriptor_sent_with_start_never_reaches_the_container(runtime, armed_bundle, cid, tmp_path):
    armed_bundle.write(args=["sh", "-c", "ls -l /proc/self/fd > /fds.txt"])
    runtime("create", "-b", str(armed_bundle.path), cid, check=True)
    secret = tmp_path / "host-secret-dir"
    secret.mkdir()
    planted = os.open(secret, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(str(runtime.root / cid / "init.sock"))
        os.unlink(runtime.root / cid / "init.sock")  # as `start` does: the container reads as running
        sock.sendmsg([b"start"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", planted))])
        assert sock.recv(100) == b""  # closed by execve: the program runs
    finally:
        sock.close()
        os.close(planted)
    wait_for(lambda: (armed_bundle.rootfs / "fds.txt").exists() and runtime.status(cid) == "stopped")
    listing = (armed_bundle.rootfs / "fds.txt").read_text()
    runtime("delete", cid, check=True)
    assert "host-secret-dir" not in listing, listing
    numbers = sorted(int(line.split(" -> ")[0].split()[-1]) for line in listing.splitlines()[1:])
    assert numbers == [0, 1, 2, 3], listing  # stdio, and the directory ls lists


@pytest.mark.parametrize(("command", "outcome"), [
    ("/notelf", "126 cannot execute /notelf: Exec format error"),
    ("/orphan", "127 cannot execute /orphan: No such file or directory"),  # its #! interpreter is missing
])
def test_a_failed_start_leaves_no_init_behind(tmp_path, rootfs, cgroups: CgroupFs, name, command, outcome):
    # Both pass the runtime's checks before start (the file exists and is executable): execve itself fails.
    (rootfs / "notelf").write_text("neither ELF nor #!\n")
    (rootfs / "orphan").write_text("#!/no/such/interpreter\n")
    for path in ("notelf", "orphan"):
        (rootfs / path).chmod(0o755)
    (tmp_path / "state").mkdir()
    r = subprocess.run([sys.executable, "-c", FAILING_START_CHILD, str(rootfs), str(tmp_path / "state"), name,
                        command], capture_output=True, text=True, timeout=60 * TIME_SCALE)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["outcome"] == outcome
    assert report["children"] == [] and report["state"] == []
    assert cgroups.procs(name) == [] and not cgroups.container_dir(name, "pids").exists()


# -------------------------------------------------------------------------------- 6. host /proc, /sys, mounts

HOST_FILES = (
    "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/vm/overcommit_memory",
    "/proc/sys/kernel/printk", "/proc/sysrq-trigger", "/sys/kernel/uevent_helper",
    "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/power/state", "/sys/module/printk/parameters/time",
)
ESCAPE_SCRIPT = (
    "/attacker open w {files} /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/cgroup.procs "
    "/sys/fs/cgroup/*/release_agent; "
    "/attacker mount proc /tmp; /attacker mount sysfs /tmp; /attacker mount cgroup /tmp; "
    "/attacker mount remount-rw /proc/sys; /attacker mount remount-rw /sys; /attacker mount remount-rw /proc"
)


def _escape_script() -> tuple[str, list[str]]:
    files = [path for path in HOST_FILES if os.path.exists(path)]
    assert len(files) >= 4, files
    return ESCAPE_SCRIPT.format(files=" ".join(files)), files


def _assert_host_untouched(output: str, host_files: list[str]) -> None:
    seen = dict(line.rsplit(" ", 1) for line in output.splitlines() if " " in line)
    # Only the open()s that found their file count: a glob that matched nothing comes back as ENOENT.
    opened = {path: res for path, res in seen.items() if path.startswith("/") and res != "ENOENT"}
    assert set(host_files) <= set(opened), (host_files, output)
    assert set(opened.values()) == {"EROFS"}, output
    mounts = {what: res for what, res in seen.items() if what.startswith("mount ")}
    assert len(mounts) == 6 and set(mounts.values()) == {"EPERM"}, output


def test_hutch_run_cannot_write_the_hosts_proc_sys_sysrq_or_sys(hutch, armed_rootfs):
    script, files = _escape_script()
    r = hutch("run", "--rootfs", str(armed_rootfs), "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    _assert_host_untouched(r.stdout, files)


def test_runtime_cannot_write_the_hosts_proc_sys_sysrq_sys_or_cgroups(runtime, armed_bundle, cid):
    script, files = _escape_script()
    armed_bundle.write(args=["sh", "-c", script])
    r = runtime("run", "-b", str(armed_bundle.path), cid)
    assert r.returncode == 0, r.stderr
    _assert_host_untouched(r.stdout, files)
    assert "cgroup.procs EROFS" in r.stdout  # runc's spec mounts the container's cgroups, read-only


@pytest.mark.parametrize("propagation", [None, "rslave", "private", "slave", "rshared"])
def test_no_mount_of_the_container_appears_on_the_host(runtime, tmp_path, busybox_rootfs, attacker, cid,
                                                       propagation):
    # The root filesystem sits on a shared mount, as every mount of a systemd host does; the container may
    # mount (CAP_SYS_ADMIN) and does.
    with shared_mount(tmp_path / "shared") as shared:
        rootfs = shared / "rootfs"
        shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
        shutil.copy2(attacker, rootfs / "attacker")
        bundle = Bundle(tmp_path / "bundle", rootfs)
        caps = [*DOCKER_CAPS, "CAP_SYS_ADMIN"]
        bundle.config["process"]["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
        if propagation:
            bundle.set("linux.rootfsPropagation", propagation)
        bundle.write(args=["sh", "-c", "/attacker mount tmpfs /tmp > /mounted; exec sleep 600"])
        created = runtime("create", "-b", str(bundle.path), cid)
        assert created.returncode == 0, created.stderr
        assert mounts_under(shared) == [], "the container's setup mounts reached the host"
        runtime("start", cid, check=True)
        wait_for(lambda: (rootfs / "mounted").exists() and (rootfs / "mounted").read_text())
        assert (rootfs / "mounted").read_text() == "mount tmpfs /tmp OK\n"
        assert mounts_under(shared) == [], "the container's own mount reached the host"
        runtime("delete", "--force", cid, check=True)
        assert mounts_under(shared) == []


def test_hutch_run_on_a_shared_mount_keeps_its_mounts_to_itself(hutch_bg, tmp_path, busybox_rootfs, attacker,
                                                               name, cgroups: CgroupFs):
    with shared_mount(tmp_path / "shared") as shared:
        rootfs = shared / "rootfs"
        shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
        shutil.copy2(attacker, rootfs / "attacker")
        script = "/attacker mount tmpfs /tmp; while [ ! -e /go ]; do sleep 0.05; done"
        with hutch_bg("run", "--rootfs", str(rootfs), "--name", name, "--", "sh", "-c", script,
                      text=True) as proc:
            wait_for(lambda: cgroups.procs(name))
            assert mounts_under(shared) == [], "the container's setup mounts reached the host"
            (rootfs / "go").touch()
            out, err = proc.communicate(timeout=30 * TIME_SCALE)
        assert proc.returncode == 0, err
        assert out == "mount tmpfs /tmp EPERM\n"
        assert mounts_under(shared) == []
