"""Pure logic: errors, paths, value conversions, and controllers reading files that are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hutch.cgroups import CgroupError, Resources, Stats, new_manager
from hutch.cgroups.manager import normalize_path
from hutch.cgroups.v1.cpuacct import CpuAcct
from hutch.cgroups.v1.manager import CONTROLLERS as V1_CONTROLLERS
from hutch.cgroups.v1.memory import limit_or_none
from hutch.cgroups.v2.cpu import shares_to_weight
from hutch.cgroups.v2.manager import CONTROLLERS as V2_CONTROLLERS
from hutch.cgroups.v2.memory import swap_max


def test_error_message_is_one_line() -> None:
    assert str(CgroupError("cannot write 1 to /x: bad\nthing")) == "cannot write 1 to /x: bad thing"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("hutch/abc", "hutch/abc"), ("/hutch/abc", "hutch/abc"), ("/hutch//abc/", "hutch/abc"), ("./a", "a")],
)
def test_path_is_relative_to_the_hierarchy_root(given: str, expected: str) -> None:
    assert normalize_path(given) == expected


@pytest.mark.parametrize("bad", ["hutch/../etc", "..", "/", ""])
def test_path_escaping_or_naming_the_root_is_refused(bad: str) -> None:
    with pytest.raises(CgroupError) as caught:
        new_manager(bad)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("shares", "weight"), [(2, 1), (1024, 39), (512, 20), (262144, 10000), (1, 1), (10**7, 10000)]
)
def test_shares_to_weight_matches_runc(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


def test_swap_max_is_swap_beyond_memory() -> None:
    assert swap_max(100, 60) == 40
    assert swap_max(-1, 60) == -1
    assert swap_max(None, 60) is None
    assert swap_max(None, -1) == -1
    with pytest.raises(CgroupError, match="below the memory limit"):
        swap_max(50, 60)
    with pytest.raises(CgroupError, match="without a memory limit"):
        swap_max(50, None)


def test_v1_unlimited_memory_reads_as_none() -> None:
    assert limit_or_none(9223372036854771712) is None
    assert limit_or_none(52428800) == 52428800


@pytest.mark.parametrize("controllers", [V1_CONTROLLERS, V2_CONTROLLERS], ids=["v1", "v2"])
def test_stats_of_missing_files_are_none(tmp_path: Path, controllers) -> None:
    out = Stats()
    for controller in controllers:
        controller.stats(str(tmp_path), out)
    assert out == Stats()


def test_cpuacct_falls_back_to_clock_ticks(tmp_path: Path) -> None:
    (tmp_path / "cpuacct.stat").write_text("user 250\nsystem 50\n")
    out = Stats()
    CpuAcct().stats(str(tmp_path), out)
    hz = os.sysconf("SC_CLK_TCK")
    assert out.cpu_user_seconds == 250 / hz
    assert out.cpu_system_seconds == 50 / hz


def test_empty_resources_ask_nothing_of_any_controller() -> None:
    assert not any(c.requested(Resources()) for c in (*V1_CONTROLLERS, *V2_CONTROLLERS))
