"""Docker's size units, and the flags-to-spec translation of `hutch run` (parsing only, no container)."""

from __future__ import annotations

import pytest

from hutch.engine.options import RunOptions, build_spec
from hutch.oci.errors import ContainerError
from hutch.units import mib, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [("512k", 512 << 10), ("50m", 50 << 20), ("50M", 50 << 20), ("1g", 1 << 30), ("100", 100),
     ("50MiB", 50 << 20), ("50mb", 50 << 20), ("1.5g", 3 << 29), (4096, 4096)],
)
def test_sizes_parse_like_docker(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["50x", "0", "-5", "m", "", "k5", "inf", "1e400"])
def test_bad_sizes_are_one_line_errors(text):
    with pytest.raises(ValueError) as caught:
        parse_size(text, "memory limit")
    assert "memory limit" in str(caught.value) and "\n" not in str(caught.value)


def test_mib_shows_one_decimal():
    assert mib(50 << 20) == "50.0 MiB"
    assert mib(None) == "unknown"


def test_run_flags_become_a_docker_like_spec():
    spec, rootfs = build_spec(RunOptions(args=["stress"], rootfs="/", memory="50m", pids_limit=64, cpus=0.5,
                                         env=["A=1"], name="box", init=False))
    assert rootfs == "/" and spec.root.readonly  # host mode
    res = spec.linux.resources
    assert (res.memory.limit, res.memory.swap, res.pids.limit) == (50 << 20, 100 << 20, 64)
    assert (res.cpu.quota, res.cpu.period) == (50_000, 100_000)
    assert spec.linux.cgroups_path == "/hutch/box"
    assert "A=1" in spec.process.env and spec.process.no_new_privileges
    assert {m.destination for m in spec.mounts} >= {"/proc", "/dev", "/sys", "/tmp", "/run"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [({"memory_swap": "100m"}, "needs a memory limit"), ({"memory": "50m", "memory_swap": "10m"}, "smaller"),
     ({"cpus": 0}, "invalid --cpus"), ({"uidmap": ["0:100000"]}, "invalid id mapping"),
     ({"name": "../up"}, "invalid container name"), ({"network": "bridge"}, "unknown network"),
     ({"rootfs": None}, "no root filesystem")],
)
def test_inconsistent_flags_are_refused(flags, message):
    with pytest.raises(ContainerError, match=message):
        build_spec(RunOptions(**{"args": ["x"], "rootfs": "/", **flags}))
