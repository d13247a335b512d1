"""The v2 io controller: io.stat's byte and operation counts, in the v1 shape runc reports (no limits yet)."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.detail import BlkioEntry

# io.stat key -> (v1 statistic it stands for, v1 operation name), as runc converts them. The other keys
# (dbytes, dios: discards) have no v1 counterpart in runc's shape and are left out.
_V1_NAMES = {
    "rbytes": ("io_service_bytes_recursive", "Read"),
    "wbytes": ("io_service_bytes_recursive", "Write"),
    "rios": ("io_serviced_recursive", "Read"),
    "wios": ("io_serviced_recursive", "Write"),
}


def parse_io_stat(text: str) -> dict[str, list[BlkioEntry]]:
    """io.stat lines, "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N", in v1's tables."""
    from hutch.cgroups.detail import BlkioEntry, int_or_none

    tables: dict[str, list[BlkioEntry]] = {}
    for line in text.splitlines():
        device, *pairs = line.split() or [""]
        major, _, minor = device.partition(":")
        if not (major.isdigit() and minor.isdigit()):
            continue
        for pair in pairs:
            key, _, value = pair.partition("=")
            target = _V1_NAMES.get(key)
            number = int_or_none(value)
            if target is not None and number is not None:
                stat, op = target
                tables.setdefault(stat, []).append(BlkioEntry(int(major), int(minor), op, number))
    return tables


class Io:
    name = "io"

    def requested(self, res: Resources) -> bool:
        return False

    def apply(self, directory: str, res: Resources) -> None:
        pass

    def stats(self, directory: str, out: Stats) -> None:
        if out.detail is None:
            return
        text = fs.read_or_none(f"{directory}/io.stat")
        if text:
            out.detail.blkio.update(parse_io_stat(text))
