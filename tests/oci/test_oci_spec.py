"""The OCI config model, mount option translation and symlink-safe path joins."""

from __future__ import annotations

import os

import pytest

from hutch.linux import syscalls as sc
from hutch.oci.config.defaults import default_spec
from hutch.oci.config.spec import Spec, SpecError
from hutch.oci.rootfs import mountopts
from hutch.oci.rootfs.paths import secure_join

MINIMAL = {"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "process": {"args": ["/bin/true"], "cwd": "/"}}


def test_a_config_round_trips_through_the_model():
    spec = default_spec(["sh", "-c", "echo hi"], "/srv/rootfs")
    spec.linux.resources.memory.limit = 50 << 20
    spec.hostname = "box"
    again = Spec.from_dict(spec.to_dict())
    assert again == spec
    assert again.to_dict()["linux"]["resources"]["memory"] == {"limit": 50 << 20}


def test_a_minimal_config_gets_the_specs_defaults():
    spec = Spec.from_dict(MINIMAL)
    assert spec.process.user.uid == 0 and spec.process.env == [] and spec.process.terminal is False
    assert spec.root.readonly is False and spec.mounts == [] and spec.linux.namespaces == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ociVersion": None}, "ociVersion: missing"),
        ({"root": {}}, "root.path: missing"),
        ({"process": {"args": []}}, "process.args: at least one argument"),
        ({"process": {"args": ["x"], "cwd": "relative"}}, "process.cwd"),
        ({"process": {"args": ["x"], "terminal": "yes"}},
         'process.terminal: must be true or false, got "yes"'),
        ({"process": {"args": ["x"], "env": ["NOEQUALS"]}}, "process.env[0]: must be KEY=VALUE"),
        ({"process": {"args": ["x"], "user": {"uid": -1}}}, "process.user.uid: must be between 0"),
        ({"process": {"args": ["x"], "rlimits": [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]}},
         "process.rlimits[0].type: must be one of"),
        ({"process": {"args": ["x"], "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]}},
         "soft limit 2 is above the hard limit 1"),
        ({"process": {"args": ["x"], "capabilities": {"bounding": ["CAP_FLY"]}}},
         'process.capabilities.bounding[0]: unknown capability "CAP_FLY"'),
        ({"process": {"args": ["x"], "oomScoreAdj": 5000}}, "process.oomScoreAdj: must be between -1000"),
        ({"process": {"args": ["x"], "scheduler": {"policy": "SCHED_FIFO"}}}, "priority between 1 and 99"),
        ({"process": {"args": ["x"], "ioPriority": {"class": "IOPRIO_CLASS_XX"}}},
         "process.ioPriority.class"),
        ({"process": {"args": ["x"], "execCPUAffinity": {"initial": "3-1"}}},
         "process.execCPUAffinity.initial"),
        ({"linux": {"namespaces": [{"type": "time-travel"}]}}, "linux.namespaces[0].type: must be one of"),
        ({"linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}]}}, "namespaces[1]: the pid namespace"),
        ({"linux": {"resources": {"memory": {"limit": "50m"}}}},
         'linux.resources.memory.limit: must be an integer, got "50m"'),
        ({"linux": {"resources": {"memory": {"swappiness": 101}}}}, "linux.resources.memory.swappiness"),
        ({"linux": {"resources": {"blockIO": {"weight": 5000}}}}, "linux.resources.blockIO.weight"),
        ({"linux": {"resources": {"hugepageLimits": [{"pageSize": "huge", "limit": 1}]}}},
         "linux.resources.hugepageLimits[0].pageSize"),
        ({"linux": {"resources": {"unified": {"../x": "1"}}}}, "linux.resources.unified"),
        ({"linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}},
         "need a user namespace"),
        ({"linux": {"sysctl": {"kernel.panic": "1"}}}, "linux.sysctl.kernel.panic: is not namespaced"),
        ({"linux": {"sysctl": {"net.ipv4.ip_forward": "1"}}}, "needs a network namespace"),
        ({"linux": {"timeOffsets": {"monotonic": {"secs": 1}}}}, "linux.timeOffsets: need a new time"),
        ({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_FLY"}}}, "linux.seccomp.defaultAction"),
        ({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [{"names": ["x"], "action": "SCMP_ACT_NOTIFY"}]}}},
         "listenerPath: SCMP_ACT_NOTIFY needs"),
        ({"linux": {"rootfsPropagation": "sideways"}}, "linux.rootfsPropagation"),
        ({"hostname": "box"}, "hostname: needs a uts namespace"),
        ({"hooks": {"prestart": [{"path": "relative"}]}}, "hooks.prestart[0].path: must be an absolute path"),
        ({"hooks": {"poststop": [{"path": "/bin/true", "timeout": 0}]}}, "hooks.poststop[0].timeout"),
        ({"mounts": [{"type": "tmpfs"}]}, "mounts[0].destination: missing"),
    ],
)
def test_an_invalid_config_names_the_field_in_one_line(change, message):
    raw = {**MINIMAL, **change}
    with pytest.raises(SpecError) as caught:
        Spec.from_dict(raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_fields_are_kept_and_written_back():
    raw = {**MINIMAL, "vendorThing": {"a": 1},
           "process": {**MINIMAL["process"], "futureField": True},
           "linux": {"resources": {"memory": {"limit": 1 << 20, "futureKnob": 3}}}}
    again = Spec.from_dict(raw).to_dict()
    assert again["vendorThing"] == {"a": 1} and again["process"]["futureField"] is True
    assert again["linux"]["resources"]["memory"] == {"limit": 1 << 20, "futureKnob": 3}


def test_every_section_of_the_spec_reaches_the_model():
    raw = {**MINIMAL, "domainname": "example.org", "hostname": "box",
           "process": {**MINIMAL["process"], "consoleSize": {"height": 24, "width": 80},
                       "scheduler": {"policy": "SCHED_BATCH", "nice": 5},
                       "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 3},
                       "execCPUAffinity": {"initial": "0", "final": "0-1"}, "user": {"umask": 0o27}},
           "hooks": {"createRuntime": [{"path": "/bin/true", "args": ["true"], "timeout": 5}]},
           "linux": {"namespaces": [{"type": "uts"}, {"type": "time"}],
                     "timeOffsets": {"boottime": {"secs": 10, "nanosecs": 5}},
                     "personality": {"domain": "LINUX32"},
                     "resources": {"cpu": {"burst": 10, "idle": 1, "realtimeRuntime": 5},
                                   "blockIO": {"weight": 100, "throttleReadIOPSDevice": [
                                       {"major": 8, "minor": 0, "rate": 100}]},
                                   "hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}],
                                   "network": {"classID": 7, "priorities": [{"name": "lo", "priority": 2}]},
                                   "rdma": {"mlx5_0": {"hcaHandles": 3}}, "unified": {"memory.high": "max"}},
                     "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                                 "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                               "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}}}
    spec = Spec.from_dict(raw)
    assert spec.domainname == "example.org" and spec.process.user.umask == 0o27
    assert spec.process.scheduler.nice == 5 and spec.process.io_priority.class_ == "IOPRIO_CLASS_BE"
    assert spec.hooks.of("createRuntime")[0].timeout == 5
    res = spec.linux.resources
    assert res.block_io.throttle_read_iops_device[0].rate == 100 and res.network.class_id == 7
    assert res.rdma["mlx5_0"].hca_handles == 3 and res.cpu.realtime_runtime == 5
    assert spec.linux.time_offsets["boottime"].nanosecs == 5
    assert spec.linux.seccomp.syscalls[0].args[0].op == "SCMP_CMP_EQ"
    assert Spec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["linux"]["resources"]["blockIO"]["throttleReadIOPSDevice"] == [
        {"major": 8, "minor": 0, "rate": 100}]


def test_mount_options_become_flags_propagation_and_data():
    options = ["nosuid", "noexec", "ro", "rprivate", "mode=755", "size=65536k", "rw", "tmpcopyup"]
    opts = mountopts.parse(options)
    assert opts.flags == sc.MS_NOSUID | sc.MS_NOEXEC
    assert opts.propagation == sc.MS_PRIVATE | sc.MS_REC
    assert opts.data == "mode=755,size=65536k"
    assert mountopts.parse(["rbind", "ro"]).flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY


def test_secure_join_keeps_symlinks_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/../../../../etc", root / "escape")
    os.symlink("../../..", root / "etc" / "up")
    os.symlink("loop", root / "loop")
    assert secure_join(str(root), "/escape/passwd") == f"{root}/etc/passwd"
    assert secure_join(str(root), "/etc/up/etc/up/proc") == f"{root}/proc"
    assert secure_join(str(root), "../../x/./y") == f"{root}/x/y"
    assert secure_join(str(root), "/new/dir") == f"{root}/new/dir"
    with pytest.raises(OSError):
        secure_join(str(root), "/loop/x")
