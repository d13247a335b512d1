"""containerd 1.6 in a private directory, driving the runtime under test through containerd-shim-runc-v2.

The daemon gets its own config: root, state, temp dir and gRPC/ttrpc sockets under the engine's base dir, and
no CRI plugin (no CNI, no pause image). `ctr` is always given `--runc-binary` (the runtime under test),
`--runc-root` (the runtime's state dir, under the base dir; the shim appends the namespace) and `--fifo-dir`.

One path cannot be private in containerd 1.6: each shim listens on /run/containerd/s/<sha256 of
"<grpc socket>/<namespace>/<container id>">, a directory hard-coded in the shim. The engine removes the
sockets of its own containers, and the directories when they are empty. Shims daemonize (their parent is init,
not the test), and the runc v2 shim of 1.6 writes no shim.pid: they are found by their command line, which
names the engine's socket (`-address <socket>`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from hutchtest import TIME_SCALE, CgroupFs
from interophelpers import (
    IMAGE,
    all_pids,
    cgroup_procs,
    cgroup_tree,
    detach_mounts,
    force_delete,
    kill_pids,
    mounts_mentioning,
    processes_mentioning,
    remove_cgroup_tree,
    run,
    runtime_state_exists,
    short_id,
    wait_until,
)

NAMESPACE = "default"
SHIM_SOCKET_DIR = Path("/run/containerd/s")
DISABLED_PLUGINS = [
    "io.containerd.grpc.v1.cri",
    "io.containerd.internal.v1.opt",  # would create /opt/containerd
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
]


class ContainerdEngine:
    """A containerd daemon with the busybox image, shared by a test session."""

    def __init__(self, base: Path, runtime: Path, real_runtime: Path, oci_archive: Path) -> None:
        self.base = base
        self.runtime = runtime
        self.real_runtime = real_runtime
        self.socket = base / "containerd.sock"
        self.state = base / "state"
        self.fifo_dir = base / "fifo"
        self.runc_root = base / "runc-root"
        for d in (base / "root", self.state, base / "tmp", self.fifo_dir, self.runc_root):
            d.mkdir(parents=True, exist_ok=True)
        self.used_ids: set[str] = set()
        self._write_config()
        self.log = open(base / "containerd.log", "ab")  # noqa: SIM115 (closed in stop())
        # setpriv: containerd gets SIGTERM should pytest die without its teardown (e.g. killed by a timeout)
        self.daemon = subprocess.Popen(
            ["setpriv", "--pdeathsig", "TERM", "--", "containerd", "--config", str(base / "config.toml")],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        try:
            wait_until(self._ready, timeout=20, what="containerd to answer")
            self.ctr("images", "import", str(oci_archive), check=True, timeout=120)
        except BaseException:
            self.stop()
            raise

    def _write_config(self) -> None:
        plugins = ", ".join(f'"{p}"' for p in DISABLED_PLUGINS)
        (self.base / "config.toml").write_text(
            "version = 2\n"
            f'root = "{self.base / "root"}"\n'
            f'state = "{self.state}"\n'
            f'temp = "{self.base / "tmp"}"\n'
            f"disabled_plugins = [{plugins}]\n"
            f'[grpc]\n  address = "{self.socket}"\n'
            f'[ttrpc]\n  address = "{self.socket}.ttrpc"\n'
            '[debug]\n  level = "info"\n'
        )

    def _ready(self) -> bool:
        if self.daemon.poll() is not None:
            log = (self.base / "containerd.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"containerd exited with {self.daemon.returncode}: {log}")
        return self.socket.exists() and self.ctr("version").returncode == 0

    def ctr(self, *args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        return run(["ctr", "--address", str(self.socket), *args], timeout=timeout, **kw)

    def task_dir(self, container_id: str) -> Path:
        """The bundle the shim gives the runtime: config.json, init.pid, log.json, rootfs."""
        return self.state / "io.containerd.runtime.v2.task" / NAMESPACE / container_id

    def runtime_root(self) -> Path:
        """The `--root` the shim passes to the runtime: --runc-root plus the namespace."""
        return self.runc_root / NAMESPACE

    def shim_socket(self, container_id: str) -> Path:
        key = os.path.join(str(self.socket), NAMESPACE, container_id)
        return SHIM_SOCKET_DIR / hashlib.sha256(key.encode()).hexdigest()

    def shims(self) -> dict[int, str]:
        return {
            pid: cmd
            for pid, cmd in processes_mentioning([str(self.socket)]).items()
            if "containerd-shim" in cmd
        }

    def remove_all_containers(self) -> None:
        """Kill and delete every task, then delete every container with its snapshot."""
        ids = self.ctr("containers", "list", "--quiet", check=True).stdout.split()
        for cid in ids:
            self.ctr("task", "kill", "--signal", "SIGKILL", "--all", cid)
        for cid in ids:
            self.ctr("task", "delete", "--force", cid)
            self.ctr("containers", "delete", cid)

    def stop(self) -> list[str]:
        """Remove containers, stop shims and the daemon, detach mounts, remove shim sockets."""
        problems = []
        if self.daemon.poll() is None:
            try:
                self.remove_all_containers()
            except Exception as e:
                problems.append(f"removing containers failed: {e}")
        shims = self.shims()
        if shims:
            problems.append(f"shims still running: {shims}")
            kill_pids(shims)
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=10 * TIME_SCALE)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.log.close()
        mounts = mounts_mentioning([str(self.base)])
        if mounts:
            problems.append(f"mounts: {mounts}")
            detach_mounts(mounts)
        for cid in self.used_ids:
            with contextlib.suppress(FileNotFoundError):
                self.shim_socket(cid).unlink()
        # Only empty ones go: a directory another containerd uses holds its sockets. An empty one may also be
        # left from a session that was killed before its teardown.
        for d in (SHIM_SOCKET_DIR, SHIM_SOCKET_DIR.parent):
            with contextlib.suppress(OSError):
                d.rmdir()
        return problems


class Events:
    """`ctr events` read in the background, so a test can wait for /tasks/oom or /tasks/exit."""

    LINE = re.compile(r"\s(?P<topic>/\S+)\s+(?P<body>\{.*\})\s*$")

    def __init__(self, engine: ContainerdEngine) -> None:
        self.proc = subprocess.Popen(
            ["ctr", "--address", str(engine.socket), "events"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.events: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            match = self.LINE.search(line)
            if match:
                with self._lock:
                    self.events.append((match["topic"], json.loads(match["body"])))

    def find(self, topic: str, container_id: str) -> dict | None:
        with self._lock:
            for t, body in self.events:
                if t == topic and body.get("container_id") == container_id:
                    return body
        return None

    def wait(self, topic: str, container_id: str, timeout: float = 10) -> dict:
        return wait_until(lambda: self.find(topic, container_id), timeout, f"event {topic} of {container_id}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class CtrTest:
    """The `ctr` fixture: the session's containerd, this test's cgroup parent, its IDs, leftover checks."""

    def __init__(self, engine: ContainerdEngine, cgroups: CgroupFs) -> None:
        self.engine = engine
        self.cgroups = cgroups
        self.cgroup_parent = "/hutch/" + short_id("ctr")
        self.ids: set[str] = set()
        self.pids_before = all_pids()

    def __call__(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.engine.ctr(*args, **kw)

    def new_id(self) -> str:
        cid = short_id("t")
        self.ids.add(cid)
        self.engine.used_ids.add(cid)
        return cid

    def cgroup_of(self, container_id: str) -> str:
        return f"{self.cgroup_parent}/{container_id}"

    def run_args(self, container_id: str, *command: str, flags: tuple[str, ...] = ()) -> list[str]:
        """`ctr run` arguments: the runtime under test, its root, private FIFOs, the cgroup under hutch/."""
        e = self.engine
        return [
            "run",
            "--runc-binary",
            str(e.runtime),
            "--runc-root",
            str(e.runc_root),
            "--fifo-dir",
            str(e.fifo_dir),
            "--cgroup",
            self.cgroup_of(container_id),
            *flags,
            IMAGE,
            container_id,
            *command,
        ]

    def run(
        self, container_id: str, *command: str, flags: tuple[str, ...] = (), **kw
    ) -> subprocess.CompletedProcess:
        return self(*self.run_args(container_id, *command, flags=flags), **kw)

    def exec_args(
        self, container_id: str, exec_id: str, *command: str, flags: tuple[str, ...] = ()
    ) -> list[str]:
        return [
            "task",
            "exec",
            "--fifo-dir",
            str(self.engine.fifo_dir),
            "--exec-id",
            exec_id,
            *flags,
            container_id,
            *command,
        ]

    def task_status(self, container_id: str) -> str | None:
        """The task's status as `ctr task ls` shows it (RUNNING, PAUSED, STOPPED...), None without a task."""
        for line in self("task", "list", check=True).stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == container_id:
                return fields[-1]
        return None

    def task_pid(self, container_id: str) -> int:
        for line in self("task", "list", check=True).stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == container_id:
                return int(fields[1])
        raise LookupError(f"no task {container_id}")

    @contextlib.contextmanager
    def events(self) -> Iterator[Events]:
        watcher = Events(self.engine)
        try:
            time.sleep(0.2 * TIME_SCALE)  # let ctr subscribe before the test acts
            yield watcher
        finally:
            watcher.close()

    def remove(self, container_id: str) -> None:
        """Kill, delete the task, delete the container (and its snapshot)."""
        self("task", "kill", "--signal", "SIGKILL", container_id)
        wait_until(lambda: self.task_status(container_id) in (None, "STOPPED"), 10, f"{container_id} to stop")
        self("task", "delete", container_id)
        self("containers", "delete", container_id, check=True)

    def leftovers(self, settle: float = 10.0) -> list[str]:
        """What this test's containers left: processes, mounts, cgroups, runtime/shim/containerd state."""
        e = self.engine
        needles = [str(e.base), *self.ids]
        deadline = time.monotonic() + settle

        def scan() -> list[str]:
            found = []
            procs = processes_mentioning(needles, self.pids_before)
            procs.update(
                {p: "(in the container cgroup)" for p in cgroup_procs(self.cgroups, self.cgroup_parent)}
            )
            if procs:
                found.append(f"processes {procs}")
            mounts = mounts_mentioning([str(e.task_dir(i)) for i in self.ids] + [str(e.runc_root)])
            if mounts:
                found.append(f"mounts {mounts}")
            cgroups = [str(p) for p in cgroup_tree(self.cgroups, self.cgroup_parent) if p.name in self.ids]
            if cgroups:
                found.append(f"cgroups {cgroups}")
            paths = [
                str(p)
                for i in self.ids
                for p in (e.task_dir(i), e.runtime_root() / i, e.shim_socket(i))
                if p.exists()
            ]
            if paths:
                found.append(f"state {paths}")
            states = [i for i in self.ids if runtime_state_exists(e.real_runtime, i, e.runtime_root())]
            if states:
                found.append(f"runtime state of {states} ({e.real_runtime} state succeeds)")
            listed = set(self("containers", "list", "--quiet").stdout.split()) & self.ids
            if listed:
                found.append(f"containerd containers {sorted(listed)}")
            return found

        while True:
            found = scan()
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def assert_no_leftovers(self) -> None:
        found = self.leftovers()
        assert not found, "left behind: " + "; ".join(found)

    def cleanup(self) -> list[str]:
        problems = []
        listed = set(self("containers", "list", "--quiet").stdout.split()) & self.ids
        for cid in sorted(listed):
            try:
                self.remove(cid)
            except Exception as ex:
                problems.append(f"removing {cid} failed: {ex}")
        problems += self.leftovers(settle=5.0)
        e = self.engine
        force_delete(e.real_runtime, self.ids, e.runtime_root())
        kill_pids(processes_mentioning([str(e.socket), *self.ids], self.pids_before))
        detach_mounts(mounts_mentioning([str(e.task_dir(i)) for i in self.ids]))
        remove_cgroup_tree(self.cgroups, self.cgroup_parent)
        for cid in self.ids:
            with contextlib.suppress(FileNotFoundError):
                e.shim_socket(cid).unlink()
        return problems
