"""The process and linux fields beyond identity: scheduler, I/O priority, personality, domain name, time
offsets, execCPUAffinity, sysctl, and the config errors a bad field gives."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from runtimetest import Bundle, Runtime

from hutch.linux import sched


def _run(runtime: Runtime, bundle: Bundle, cid: str, *args: str) -> str:
    bundle.write(args=list(args))
    result = runtime("run", "-b", str(bundle.path), cid)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_scheduler_and_io_priority_are_the_processes(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set("process.scheduler", {"policy": "SCHED_BATCH", "nice": 7})
    bundle.set("process.ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 6}).write()
    runtime("create", "-b", str(bundle.path), cid, check=True)
    try:
        pid = runtime.state(cid)["pid"]
        assert os.sched_getscheduler(pid) == os.SCHED_BATCH
        assert os.getpriority(os.PRIO_PROCESS, pid) == 7
        assert sched.ioprio_get(pid) == (2, 6)  # best effort, level 6
        runtime("start", cid, check=True)
        assert os.sched_getscheduler(pid) == os.SCHED_BATCH  # the program keeps them
    finally:
        runtime("delete", "-f", cid)


def test_an_idle_policy_takes_no_priority(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set("process.scheduler", {"policy": "SCHED_IDLE"}).write()
    runtime("create", "-b", str(bundle.path), cid, check=True)
    try:
        assert os.sched_getscheduler(runtime.state(cid)["pid"]) == os.SCHED_IDLE
    finally:
        runtime("delete", "-f", cid)


def test_personality_domainname_and_time_offsets(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set("linux.personality", {"domain": "LINUX32"}).set("domainname", "example.org")
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.set("linux.timeOffsets", {"boottime": {"secs": 500000, "nanosecs": 0},
                                     "monotonic": {"secs": 300000, "nanosecs": 0}})
    out = _run(runtime, bundle, cid, "sh", "-c",
               "uname -m; cat /proc/sys/kernel/domainname; cut -d' ' -f1 /proc/uptime")
    machine, domain, uptime = out.split()
    assert machine in ("i686", "i386") and domain == "example.org"
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    assert 500000 - 1 < float(uptime) - host_uptime < 500000 + 60


def test_sysctls_of_the_containers_namespaces_are_set(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set("linux.sysctl", {"kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"})
    out = _run(runtime, bundle, cid, "sh", "-c", "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward")
    assert out.split() == ["1234", "1"]
    with open("/proc/sys/kernel/shmmni") as f:
        assert f.read().strip() != "1234"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("linux.sysctl", {"kernel.panic": "1"}, "linux.sysctl.kernel.panic: is not namespaced"),
    ("linux.resources", {"memory": {"limit": "50m"}},
     'linux.resources.memory.limit: must be an integer, got "50m"'),
    ("process.apparmorProfile", "docker-default", "process.apparmorProfile"),
    ("process.selinuxLabel", "system_u:system_r:container_t:s0", "SELinux is not enabled on this host"),
    ("linux.intelRdt", {"closID": "x"}, "linux.intelRdt: resctrl is not mounted"),
    ("linux.personality", {"domain": "LINUX64"}, "linux.personality.domain: must be one of"),
])
def test_a_bad_or_unhonourable_field_is_one_line_and_nothing_is_created(
        runtime: Runtime, bundle: Bundle, cid: str, field: str, value: object, message: str,
        tmp_path: Path) -> None:
    if field == "process.apparmorProfile" and os.path.isdir("/sys/kernel/security/apparmor"):
        pytest.skip("AppArmor is enabled on this host")
    bundle.set(field, value).write()
    log = tmp_path / "log.json"
    result = runtime("create", "-b", str(bundle.path), cid, log=log)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    errors = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["level"] for e in errors] == ["error"] and message in errors[0]["msg"]
    assert runtime.status(cid) == "absent"


def test_net_devices_move_into_the_container_renamed(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """In a network namespace of the test's own, so no interface of the host is touched: an interface
    there (one end of a veth pair) is moved into the container as eth7."""
    bundle.set("linux.netDevices", {"hd0": {"name": "eth7"}})
    bundle.write(args=["sh", "-c", "ls /sys/class/net"])
    script = 'ip link add hd0 type veth peer name hd1 && "$@" && ! ip link show hd0 2>/dev/null'
    result = subprocess.run(["unshare", "-n", "sh", "-c", script, "sh",
                             *runtime.argv("run", "-b", str(bundle.path), cid)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["eth7", "lo"]


def test_console_size_is_the_ptys_first_size(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set("process.consoleSize", {"height": 33, "width": 121})
    bundle.write(args=["stty", "size"], terminal=True)
    result = runtime("run", "-b", str(bundle.path), cid)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["33", "121"]
