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
        ({"ociVersion": None}, "config.ociVersion"),
        ({"root": {}}, "config.root.path"),
        ({"process": {"args": []}}, "process.args"),
        ({"process": {"args": ["x"], "cwd": "relative"}}, "process.cwd"),
        ({"process": {"args": ["x"], "terminal": "yes"}}, "process.terminal: expected bool"),
        ({"linux": {"namespaces": [{"type": "time-travel"}]}}, "unknown namespace type"),
        ({"linux": {"resources": {"memory": {"limit": "50m"}}}}, "linux.resources.memory.limit"),
        ({"mounts": [{"type": "tmpfs"}]}, "mounts[0].destination"),
    ],
)
def test_an_invalid_config_names_the_field_in_one_line(change, message):
    raw = {**MINIMAL, **change}
    with pytest.raises(SpecError) as caught:
        Spec.from_dict(raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


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
