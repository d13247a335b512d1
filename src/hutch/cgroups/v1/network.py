"""The v1 network controllers: net_cls's class id (for tc, iptables) and net_prio's interface priorities."""

# One module for both: they are usually mounted together, rarely used, and so cost the start path one import.

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats


class NetCls:
    name = "net_cls"

    def requested(self, res: Resources) -> bool:
        return res.wants_net_cls()

    def apply(self, directory: str, res: Resources) -> None:
        if res.net_cls_classid is not None:
            fs.write(f"{directory}/net_cls.classid", res.net_cls_classid)

    def stats(self, directory: str, out: Stats) -> None:
        pass


class NetPrio:
    name = "net_prio"

    def requested(self, res: Resources) -> bool:
        return res.wants_net_prio()

    def apply(self, directory: str, res: Resources) -> None:
        for entry in res.net_prio_ifpriomap or []:
            # One "IFNAME PRIO" per write; a space or newline in the name would smuggle in another entry.
            if not entry.name or any(c.isspace() for c in entry.name):
                raise CgroupError(f"invalid network interface name {entry.name!r} for net_prio")
            fs.write(f"{directory}/net_prio.ifpriomap", f"{entry.name} {entry.priority}")

    def stats(self, directory: str, out: Stats) -> None:
        pass
