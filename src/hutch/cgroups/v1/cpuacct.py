"""The v1 cpuacct controller: user and system CPU time, in total and per CPU (it enforces nothing)."""

from __future__ import annotations

import os

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.detail import StatsDetail

_NS_PER_SECOND = 1_000_000_000


class CpuAcct:
    name = "cpuacct"

    def requested(self, res: Resources) -> bool:
        return False

    def apply(self, directory: str, res: Resources) -> None:
        pass

    def stats(self, directory: str, out: Stats) -> None:
        user_ns, system_ns = _user_and_system_ns(directory)
        if user_ns is not None and system_ns is not None:
            out.cpu_user_seconds = user_ns / _NS_PER_SECOND
            out.cpu_system_seconds = system_ns / _NS_PER_SECOND
        if out.detail is not None:
            out.detail.cpu_user, out.detail.cpu_kernel = user_ns, system_ns
            _detail(directory, out.detail)


def _user_and_system_ns(directory: str) -> tuple[int | None, int | None]:
    user_ns = fs.read_int_or_none(f"{directory}/cpuacct.usage_user")
    system_ns = fs.read_int_or_none(f"{directory}/cpuacct.usage_sys")
    if user_ns is not None and system_ns is not None:
        return user_ns, system_ns
    # Kernels before 4.7 only have cpuacct.stat, counted in clock ticks.
    ticks = fs.read_keyed(f"{directory}/cpuacct.stat")
    if ticks.get("user", "").isdigit() and ticks.get("system", "").isdigit():
        hz = os.sysconf("SC_CLK_TCK")
        return int(ticks["user"]) * _NS_PER_SECOND // hz, int(ticks["system"]) * _NS_PER_SECOND // hz
    return None, None


def _detail(directory: str, detail: StatsDetail) -> None:
    from hutch.cgroups.detail import read_int_list

    detail.cpu_total = fs.read_int_or_none(f"{directory}/cpuacct.usage")
    detail.cpu_percpu = read_int_list(f"{directory}/cpuacct.usage_percpu")
    # cpuacct.usage_all (Linux 4.16+): a header line, then "CPU USER SYSTEM" per CPU, in nanoseconds.
    text = fs.read_or_none(f"{directory}/cpuacct.usage_all") or ""
    rows = [line.split() for line in text.splitlines()[1:]]
    if rows and all(len(row) == 3 and row[1].isdigit() and row[2].isdigit() for row in rows):
        detail.cpu_percpu_user = [int(row[1]) for row in rows]
        detail.cpu_percpu_kernel = [int(row[2]) for row in rows]
