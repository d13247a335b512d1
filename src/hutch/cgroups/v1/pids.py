"""The pids controller (same files in v1 and v2): pids.max and pids.current."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats


class Pids:
    name = "pids"

    def requested(self, res: Resources) -> bool:
        return res.wants_pids()

    def apply(self, directory: str, res: Resources) -> None:
        if res.pids_limit is not None:
            value = "max" if res.pids_limit <= 0 else str(res.pids_limit)
            fs.write(f"{directory}/pids.max", value)

    def stats(self, directory: str, out: Stats) -> None:
        out.pids_current = fs.read_int_or_none(f"{directory}/pids.current")
        if out.detail is not None:
            out.detail.pids_limit = fs.read_int_or_none(f"{directory}/pids.max")  # "max" -> None
