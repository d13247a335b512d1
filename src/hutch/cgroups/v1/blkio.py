"""The v1 blkio controller: block I/O statistics, from the best set of files this kernel offers."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats

# Statistic name (as runc's libcontainer names it) -> file name after the prefix, for the full CFQ/BFQ set.
_FULL = (
    ("sectors_recursive", "sectors_recursive"),
    ("io_service_time_recursive", "io_service_time_recursive"),
    ("io_wait_time_recursive", "io_wait_time_recursive"),
    ("io_merged_recursive", "io_merged_recursive"),
    ("io_queue_recursive", "io_queued_recursive"),
    ("io_time_recursive", "time_recursive"),
    ("io_serviced_recursive", "io_serviced_recursive"),
    ("io_service_bytes_recursive", "io_service_bytes_recursive"),
)
_COUNTS = (
    ("io_serviced_recursive", "io_serviced_recursive"),
    ("io_service_bytes_recursive", "io_service_bytes_recursive"),
)
_COUNTS_LOCAL = (("io_serviced_recursive", "io_serviced"), ("io_service_bytes_recursive", "io_service_bytes"))

# Best first, as runc: BFQ's debug set, BFQ, CFQ (gone since Linux 5.0), then the throttle layer's counters,
# which count only I/O to devices that have a throttle rule in this cgroup or above.
_SOURCES = (
    ("blkio.bfq.", _FULL),
    ("blkio.bfq.", _COUNTS),
    ("blkio.", _FULL),
    ("blkio.throttle.", _COUNTS),
    ("blkio.throttle.", _COUNTS_LOCAL),
)


class Blkio:
    name = "blkio"

    def requested(self, res: Resources) -> bool:
        return False

    def apply(self, directory: str, res: Resources) -> None:
        pass

    def stats(self, directory: str, out: Stats) -> None:
        if out.detail is None:
            return
        from hutch.cgroups.detail import parse_blkio

        for prefix, files in _SOURCES:
            # A set counts when its first file has per-device lines; "Total 0" alone means nothing to show.
            first = parse_blkio(fs.read_or_none(f"{directory}/{prefix}{files[0][1]}") or "")
            if not first:
                continue
            out.detail.blkio[files[0][0]] = first
            for stat, file in files[1:]:
                entries = parse_blkio(fs.read_or_none(f"{directory}/{prefix}{file}") or "")
                if entries:
                    out.detail.blkio[stat] = entries
            return
