"""Configs from the field run unchanged; spec and features; the cgroup mount; a 1 MiB memory limit."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hutchtest import TIME_SCALE, CgroupFs
from runtimetest import Bundle, Runtime
from test_runtime_exec import ConsoleSocket, _read_until

CONFIGS = Path(__file__).parent / "configs"


def _field_bundle(name: str, bundle: Bundle, cid: str, args: list[str] | None = None) -> Path:
    """The tool's config as it wrote it, with only the machine-specific parts pointed at this test: the
    rootfs, bind sources that lived in the tool's temporary storage, and the cgroup path (under hutch/);
    `args` replaces a command whose timing does not suit the test (containerd's sample sleeps only 30 s)."""
    config = json.loads((CONFIGS / name).read_text())
    if args is not None:
        config["process"]["args"] = args
    config["root"]["path"] = str(bundle.rootfs)
    if config.get("linux", {}).get("cgroupsPath"):
        config["linux"]["cgroupsPath"] = f"/hutch/{cid}"
    storage = bundle.path / "storage"
    for mount in config.get("mounts", []):
        source = mount.get("source", "")
        if mount.get("type") == "bind" and source.startswith(("/run/containers", "/var/lib/containers")):
            local = storage / source.rsplit("/", 1)[1]
            if mount["destination"] == "/dev/shm":
                local.mkdir(parents=True, exist_ok=True)
            else:
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_text(f"{mount['destination']}\n")
            mount["source"] = str(local)
    bundle.path.mkdir(parents=True, exist_ok=True)
    (bundle.path / "config.json").write_text(json.dumps(config))
    return bundle.path


def test_podmans_config_runs_unchanged(runtime: Runtime, writable_bundle: Bundle, cid: str) -> None:
    path = _field_bundle("podman.json", writable_bundle, cid)
    result = runtime("run", "-b", str(path), cid)
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr


def test_containerds_config_runs_unchanged(runtime: Runtime, writable_bundle: Bundle, cid: str) -> None:
    path = _field_bundle("containerd.json", writable_bundle, cid, args=["sleep", "600"])
    runtime("run", "-d", "-b", str(path), cid, check=True)
    try:
        assert runtime.status(cid) == "running"
        script = "id -G; grep NoNewPrivs /proc/self/status; mount | grep ' /run '"
        probe = runtime("exec", cid, "sh", "-c", script)
        assert probe.returncode == 0, probe.stderr
        groups, nnp, run = probe.stdout.splitlines()
        assert groups.split() == ["0"] and nnp.split()[1] == "1" and "tmpfs" in run
    finally:
        runtime("delete", "-f", cid)


@pytest.mark.parametrize("name", ["runc-spec.json", "runc-spec-rootless.json"])
def test_runc_spec_configs_run_unchanged_on_a_terminal(runtime: Runtime, writable_bundle: Bundle, cid: str,
                                                       tmp_path: Path, name: str) -> None:
    """`runc spec` asks for ambient capabilities it leaves out of the inheritable set: runc skips them, so
    must hutch. The rootless variant adds a user namespace mapping root to the caller (root here)."""
    path = _field_bundle(name, writable_bundle, cid)
    console = ConsoleSocket(tmp_path / "console.sock")
    try:
        argv = runtime.argv("create", "--console-socket", str(console.path), "-b", str(path), cid)
        created = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        master = console.receive()
        try:
            assert created.wait(timeout=20 * TIME_SCALE) == 0
            runtime("start", cid, check=True)
            os.write(master, b"grep CapAmb /proc/self/status; id -u; echo do''ne\n")
            out = _read_until(master, b"done\r\n")
            assert b"CapAmb:\t0000000000000000" in out
            os.write(master, b"exit 3\n")
            runtime.wait_status(cid, "stopped")
        finally:
            os.close(master)
    finally:
        console.close()
        runtime("delete", "-f", cid)


def test_spec_writes_runcs_default_config_and_refuses_to_overwrite(runtime: Runtime, tmp_path: Path) -> None:
    runtime("spec", "--bundle", str(tmp_path), check=True)
    config = json.loads((tmp_path / "config.json").read_text())
    runc = json.loads((CONFIGS / "runc-spec.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["process"]["terminal"] is True
    assert config["root"] == runc["root"]
    assert config["process"]["capabilities"] == runc["process"]["capabilities"]
    assert [m["destination"] for m in config["mounts"]] == [m["destination"] for m in runc["mounts"]]
    assert config["linux"]["resources"] == runc["linux"]["resources"]
    again = runtime("spec", "--bundle", str(tmp_path))
    assert again.returncode == 1 and "File config.json exists" in again.stderr
    rootless = tmp_path / "rootless"
    rootless.mkdir()
    runtime("spec", "--rootless", "-b", str(rootless), check=True)
    config = json.loads((rootless / "config.json").read_text())
    assert {"type": "user"} in config["linux"]["namespaces"]
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]


def test_features_lists_what_hutch_supports(runtime: Runtime) -> None:
    features = json.loads(runtime("features", check=True).stdout)
    assert features["ociVersionMax"] == "1.2.0"
    assert set(features["linux"]["namespaces"]) == {"cgroup", "ipc", "mount", "network", "pid", "time",
                                                    "user", "uts"}
    assert "CAP_SYS_ADMIN" in features["linux"]["capabilities"]
    assert features["linux"]["cgroup"]["v1"] and features["linux"]["cgroup"]["v2"]
    assert not features["linux"]["cgroup"]["systemd"]
    assert features["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer",
                                 "poststart", "poststop"]
    seccomp = features["linux"]["seccomp"]
    assert seccomp["enabled"] and "SCMP_ACT_NOTIFY" in seccomp["actions"]
    assert "SCMP_CMP_MASKED_EQ" in seccomp["operators"] and "SCMP_ARCH_X86_64" in seccomp["archs"]
    assert set(seccomp["supportedFlags"]) <= set(seccomp["knownFlags"])
    assert {"ro", "nosuid", "rbind", "rprivate", "rro"} <= set(features["mountOptions"])


def test_the_cgroup_mount_shows_the_containers_own_cgroups_read_only(
        runtime: Runtime, bundle: Bundle, cid: str, cgroups: CgroupFs) -> None:
    """On v1 and hybrid hosts too: a tmpfs with each hierarchy's container cgroup bound read-only, as runc."""
    bundle.set("linux.resources.memory", {"limit": 64 << 20, "swap": 64 << 20})
    v2 = cgroups.is_v2("memory")
    limit_file = "/sys/fs/cgroup/memory.max" if v2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    bundle.write()
    runtime("run", "-d", "-b", str(bundle.path), cid, check=True)
    try:
        result = runtime("exec", cid, "sh", "-c", f"cat {limit_file}; ls /sys/fs/cgroup; "
                         "touch /sys/fs/cgroup/x 2>/dev/null || echo read-only")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.split()
        assert int(lines[0]) == 64 << 20 and lines[-1] == "read-only"
        if not v2:
            ours = {h.mountpoint.name for h in cgroups.hierarchies if (h.mountpoint / "hutch" / cid).is_dir()}
            assert ours <= set(lines[1:-1]) and {"memory", "pids", "devices"} <= ours
    finally:
        runtime("delete", "-f", cid)


def test_a_1_mib_memory_limit_runs_a_static_program(runtime: Runtime, bundle: Bundle, cid: str,
                                                   cgroups: CgroupFs) -> None:
    """The init's Python pages are charged before it joins the cgroup: create + start work within 1 MiB
    (runc 1.1.5 needs about 2.2 MiB here), though the init sits in the cgroup from create on."""
    bundle.set("linux.resources.memory", {"limit": 1 << 20, "swap": 1 << 20})
    bundle.write(args=["/hello"])
    runtime("create", "-b", str(bundle.path), cid, check=True)
    try:
        assert cgroups.procs(cid) == [runtime.state(cid)["pid"]]
        runtime("start", cid, check=True)
        runtime.wait_status(cid, "stopped")
        assert int(cgroups.memory_peak_file(cid).read_text()) <= 1 << 20
        oom = cgroups.container_dir(cid, "memory") / ("memory.events" if cgroups.is_v2("memory")
                                                       else "memory.oom_control")
        assert "oom_kill 0" in oom.read_text()
    finally:
        runtime("delete", "-f", cid)
