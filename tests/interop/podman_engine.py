"""podman 4.3 in a private directory, driving the runtime under test: storage, configuration, image, cleanup.

Everything podman keeps lives under the engine's base directory: graph root, run root, tmpdir (events file,
exit files, file locks), network config dir, volumes. Its configuration comes from private files named by
CONTAINERS_CONF / CONTAINERS_STORAGE_CONF / CONTAINERS_REGISTRIES_CONF, which podman also hands to conmon, so
the cleanup process conmon runs after a container exits (`podman container cleanup`) sees the same setup.

Two things cannot be private in podman 4.3 and are handled here:
- the OCI runtime's own state directory: podman passes no `--root`, so the runtime uses its default (runc:
  /run/runc). Runtime flags (`--runtime-flag root=...`) are not given to the cleanup process, so they would
  split the state between two roots. Each test checks instead that the runtime's `state` no longer knows any
  container the test made.
- image copies write c/image's blob-info cache to /var/lib/containers/cache; `podman import` runs in a private
  mount namespace where /var/lib is a directory of the engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from hutchtest import CgroupFs
from interophelpers import (
    IMAGE,
    all_pids,
    cgroup_procs,
    cgroup_tree,
    detach_mounts,
    force_delete,
    kill_pids,
    mounted_at,
    mounts_mentioning,
    process_cgroup,
    processes_mentioning,
    remove_cgroup_tree,
    run,
    runtime_state_exists,
    short_id,
    wait_until,
)

# The ulimits podman would otherwise raise to values that need CAP_SYS_RESOURCE (absent here).
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1000:1000"]


class PodmanEngine:
    """One podman installation (storage, configuration, the busybox image), shared by a test session."""

    def __init__(self, base: Path, runtime: Path, real_runtime: Path, layer_tar: Path) -> None:
        self.base = base
        self.runtime = runtime  # what podman runs (the runtime under test, or a logging wrapper of it)
        self.real_runtime = real_runtime  # the runtime itself, asked directly whether it still has state
        self.root = base / "root"
        self.runroot = base / "runroot"
        self.tmpdir = base / "tmp"
        self.events_log = self.tmpdir / "events.log"
        # c/storage's overlay driver bind-mounts its home onto itself (to make it private) in every podman
        # process, and unmounts it at exit only if no layer is mounted at that moment: after concurrent
        # podman processes (a test's command and conmon's `podman container cleanup`) it can stay mounted
        # until the next podman command. It is the storage's, not a container's.
        self.driver_home = self.root / "overlay"
        for d in (self.root, self.runroot, self.tmpdir, base / "netconf", base / "varlib"):
            d.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self.env = dict(
            os.environ,
            CONTAINERS_CONF=str(base / "containers.conf"),
            CONTAINERS_STORAGE_CONF=str(base / "storage.conf"),
            CONTAINERS_REGISTRIES_CONF=str(base / "registries.conf"),
        )
        self._import_image(layer_tar)

    def _write_config(self) -> None:
        name = self.runtime.name
        # podman passes --log-format=json --log FILE only to runtimes named here (runc is by default)
        json_runtimes = f'runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "{name}"]\n'
        common = self._common_config()
        (self.base / "containers.conf").write_text(common + json_runtimes)
        # what a runtime podman does not know gets: no --log, its errors only on stderr
        (self.base / "containers-nojson.conf").write_text(common + "runtime_supports_json = []\n")
        (self.base / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.root}"\nrunroot = "{self.runroot}"\n'
        )
        (self.base / "registries.conf").write_text("")

    def _common_config(self) -> str:
        return (
            "[containers]\n"
            'netns = "none"\n'
            'log_driver = "k8s-file"\n'
            "[network]\n"
            f'network_config_dir = "{self.base / "netconf"}"\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.events_log}"\n'
            f'tmp_dir = "{self.tmpdir}"\n'
            # file locks live in tmp_dir; the default shm locks are one host-wide /dev/shm/libpod_lock
            'lock_type = "file"\n'
            f'runtime = "{self.runtime}"\n'
        )

    def command(self, *args: str) -> list[str]:
        return [
            "podman",
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            "--tmpdir",
            str(self.tmpdir),
            "--runtime",
            str(self.runtime),
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            *args,
        ]

    def __call__(
        self, *args: str, cwd: Path | None = None, timeout: float = 60, **kw
    ) -> subprocess.CompletedProcess:
        return run(self.command(*args), timeout=timeout, env=self.env, cwd=cwd or self.base, **kw)

    def _import_image(self, layer_tar: Path) -> None:
        # A private mount namespace whose /var/lib is ours, so the blob-info cache lands in the engine's dir.
        script = 'mount --bind "$1" /var/lib && shift && exec "$@"'
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(self.base / "varlib"),
            *self.command("import", "--change", 'CMD ["/bin/sh"]', str(layer_tar), IMAGE),
        ]
        run(argv, check=True, env=self.env, cwd=self.base, timeout=120)

    def containers(self) -> list[str]:
        out = self("ps", "-a", "--no-trunc", "--format", "{{.ID}}", check=True).stdout
        return out.split()

    def remove_all_containers(self) -> None:
        if self.containers():
            self("rm", "--all", "--force", "--time", "0", timeout=120)

    def release_driver_home(self) -> None:
        """Leave the overlay driver's home unmounted, as podman does when it is the last one to exit."""
        if not mounted_at(self.driver_home):
            return
        self("ps", "--all", "--quiet")  # podman's own shutdown unmounts it when no layer is mounted
        if mounted_at(self.driver_home) and not any(
            m != str(self.driver_home) for m in mounts_mentioning([str(self.driver_home)])
        ):
            detach_mounts([str(self.driver_home)])

    def processes(self, ignore: set[int] = frozenset()) -> dict[int, str]:
        """conmon, `podman container cleanup` and runtime calls of this engine: they all name its base dir."""
        return processes_mentioning([str(self.base)], ignore)

    def teardown(self) -> list[str]:
        """Remove every container, then anything still running or mounted; return what had to be forced."""
        problems = []
        try:
            self.remove_all_containers()
        except Exception as e:  # keep going: the rest of the teardown matters more
            problems.append(f"podman rm failed: {e}")
        stray = self.processes()
        if stray:
            problems.append(f"processes: {stray}")
            kill_pids(stray)
        mounts = mounts_mentioning([str(self.base)])
        if mounts:
            problems.append(f"mounts: {mounts}")
            detach_mounts(mounts)
        return problems


class PodmanTest:
    """The `podman` fixture: the session's engine, with this test's cgroup parent and leftover checks."""

    def __init__(self, engine: PodmanEngine, cgroups: CgroupFs, cwd: Path) -> None:
        self.engine = engine
        self.cgroups = cgroups
        self.cwd = cwd
        # podman puts the container in <parent>/libpod-<id> and conmon in <parent>/conmon
        self.cgroup_parent = "/hutch/" + short_id("podman")
        self.pids_before = all_pids()
        self.events_offset = engine.events_log.stat().st_size if engine.events_log.exists() else 0
        self.client_procs = self._client_cgroup()

    def _client_cgroup(self) -> Path | None:
        """Where podman itself runs, on cgroup v2 when the test runs in the root cgroup (as in the v2 VM).

        Given a memory limit there, podman 4.3 makes /podman_probe at the hierarchy's root to read memory.max
        from (specgen's verifyContainerResourcesCgroupV2). From a cgroup under this test's parent it reads
        that one's instead.
        """
        v2 = [h for h in self.cgroups.hierarchies if h.version == 2 and "memory" in h.controllers]
        if not v2 or process_cgroup(os.getpid(), None) != "/":
            return None
        client = v2[0].mountpoint / self.cgroup_parent.strip("/") / "podman-client"
        client.mkdir(parents=True, exist_ok=True)
        return client / "cgroup.procs"

    def command(self, *args: str) -> list[str]:
        """The podman command line, started inside the client cgroup when there is one."""
        argv = self.engine.command(*args)
        if self.client_procs is None:
            return argv
        return ["sh", "-c", 'echo 0 > "$0" && exec "$@"', str(self.client_procs), *argv]

    def __call__(
        self, *args: str, cwd: Path | None = None, timeout: float = 60, json_log: bool = True, **kw
    ) -> subprocess.CompletedProcess:
        """podman ARGS, run from this test's directory (conmon 2.1.6 writes its OOM marker into its cwd).

        json_log=False: podman treats the runtime as one without --log-format=json support, as a stock
        containers.conf treats any runtime not named runc, crun, kata, runsc or krun.
        """
        env = self.engine.env
        if not json_log:
            env = dict(env, CONTAINERS_CONF=str(self.engine.base / "containers-nojson.conf"))
        return run(self.command(*args), timeout=timeout, env=env, cwd=cwd or self.cwd, **kw)

    def container_options(self) -> list[str]:
        return ["--network", "none", *ULIMITS, "--cgroup-parent", self.cgroup_parent]

    def run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        """podman run with this test's options, then ARGS (options, image, command)."""
        return self("run", *self.container_options(), *args, **kw)

    def create(self, *args: str, **kw) -> str:
        """podman create with this test's options; returns the container ID."""
        return self("create", *self.container_options(), *args, check=True, **kw).stdout.strip()

    def inspect(self, container: str, template: str) -> str:
        return self("inspect", "--format", template, container, check=True).stdout.strip()

    def bundle(self, container: str) -> Path:
        """The OCI bundle podman gives the runtime (conmon -b, create --bundle), where config.json is."""
        return Path(self.inspect(container, "{{.StaticDir}}"))

    def container_ids(self) -> set[str]:
        """Every container this test created, from podman's event log (it also lists removed ones)."""
        ids = set()
        if not self.engine.events_log.exists():
            return ids
        with open(self.engine.events_log, "rb") as f:
            f.seek(self.events_offset)
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("Type") == "container" and event.get("ID"):
                    ids.add(event["ID"])
        return ids

    def leftovers(self, settle: float = 10.0) -> list[str]:
        """What the test's containers left: processes, mounts, cgroups, runtime and podman state.

        Waits up to `settle` seconds first: after a container exits, conmon runs `podman container
        cleanup` asynchronously, which calls the runtime's delete.
        """
        ids = self.container_ids()
        needles = [str(self.engine.base), *ids]
        deadline = time.monotonic() + settle

        def scan() -> list[str]:
            found = []
            procs = processes_mentioning(needles, self.pids_before)
            procs.update(
                {p: "(in the container cgroup)" for p in cgroup_procs(self.cgroups, self.cgroup_parent)}
            )
            if procs:
                found.append(f"processes {procs}")
            mounts = [m for m in mounts_mentioning(needles) if m != str(self.engine.driver_home)]
            if mounts:
                found.append(f"mounts {mounts}")
            # podman's own "conmon" cgroup and the parent stay by design; the containers' ones must go
            cgroups = [
                str(p) for p in cgroup_tree(self.cgroups, self.cgroup_parent) if p.name.startswith("libpod-")
            ]
            if cgroups:
                found.append(f"cgroups {cgroups}")
            states = [i for i in ids if runtime_state_exists(self.engine.real_runtime, i)]
            if states:
                found.append(f"runtime state of {states} ({self.engine.real_runtime} state succeeds)")
            dirs = [
                str(d)
                for i in ids
                for d in (
                    self.engine.root / "overlay-containers" / i,
                    self.engine.runroot / "overlay-containers" / i,
                )
                if d.exists()
            ]
            if dirs:
                found.append(f"podman state {dirs}")
            return found

        while True:
            found = scan()
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def assert_no_leftovers(self) -> None:
        """Remove this test's containers, then fail if anything of them is still there."""
        self.engine.remove_all_containers()
        found = self.leftovers()
        self.engine.release_driver_home()
        assert not found, "left behind: " + "; ".join(found)

    def cleanup(self) -> list[str]:
        """Teardown: remove containers, report and force away leftovers, remove the cgroup parent."""
        problems = []
        try:
            self.engine.remove_all_containers()
        except Exception as e:
            problems.append(f"podman rm failed: {e}")
        problems += self.leftovers(settle=5.0)
        self.engine.release_driver_home()
        # every container is gone by now, so whatever still names the engine or a container is stray
        needles = [str(self.engine.base), *self.container_ids()]
        force_delete(self.engine.real_runtime, self.container_ids())
        kill_pids(processes_mentioning(needles, self.pids_before))
        detach_mounts(mounts_mentioning(needles))
        remove_cgroup_tree(self.cgroups, self.cgroup_parent)
        return problems


def wait_for_log(podman: PodmanTest, container: str, text: str, timeout: float = 10) -> str:
    def logs() -> str | None:
        out = podman("logs", container).stdout
        return out if text in out else None

    return str(wait_until(logs, timeout, f"{text!r} in the logs of {container}"))
