"""The v1 cpuacct controller: user and system CPU time (it enforces nothing)."""

from __future__ import annotations

import os

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats

_NS_PER_SECOND = 1_000_000_000


class CpuAcct:
    name = "cpuacct"

    def requested(self, res: Resources) -> bool:
        return False

    def apply(self, directory: str, res: Resources) -> None:
        pass

    def stats(self, directory: str, out: Stats) -> None:
        user_ns = fs.read_int_or_none(f"{directory}/cpuacct.usage_user")
        system_ns = fs.read_int_or_none(f"{directory}/cpuacct.usage_sys")
        if user_ns is not None and system_ns is not None:
            out.cpu_user_seconds = user_ns / _NS_PER_SECOND
            out.cpu_system_seconds = system_ns / _NS_PER_SECOND
            return
        # Kernels before 4.7 only have cpuacct.stat, counted in clock ticks.
        ticks = fs.read_keyed(f"{directory}/cpuacct.stat")
        if ticks.get("user", "").isdigit() and ticks.get("system", "").isdigit():
            hz = os.sysconf("SC_CLK_TCK")
            out.cpu_user_seconds = int(ticks["user"]) / hz
            out.cpu_system_seconds = int(ticks["system"]) / hz
