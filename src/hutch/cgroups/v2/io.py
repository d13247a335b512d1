"""The v2 io controller: weights and io.max from OCI's blkio fields; io.stat in the v1 shape runc reports."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.resources import Resources, Stats
from hutch.cgroups.v1.blkio import missing_throttle_error, write_device_weight

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


def blkio_weight_to_io_weight(weight: int) -> int:
    """Map v1's blkio weight [10, 1000] onto io.weight's [1, 10000] linearly, as runc does."""
    return 1 + (weight - 10) * 9999 // 990


class Io:
    name = "io"

    def requested(self, res: Resources) -> bool:
        return res.wants_blkio()

    def apply(self, directory: str, res: Resources) -> None:
        # Leaf weights were CFQ's and have no v2 counterpart; like runc, they are left out here.
        self._write_weights(directory, res)
        lines: dict[str, list[str]] = {}
        for key, entries in res.throttles().items():
            for entry in entries:
                # v1's (and OCI's) 0 means "no limit": io.max spells that "max" and refuses 0 (ERANGE).
                rate = "max" if entry.rate == 0 else str(entry.rate)
                lines.setdefault(f"{entry.major}:{entry.minor}", []).append(f"{key}={rate}")
        path = f"{directory}/io.max"
        if lines and not fs.exists(path):
            raise missing_throttle_error(path)
        for device, settings in lines.items():
            # One line per device: keys it does not name keep their value.
            fs.write(path, " ".join([device, *settings]))

    @staticmethod
    def _write_weights(directory: str, res: Resources) -> None:
        weighted = [(d, d.weight) for d in res.blkio_weight_device or [] if d.weight is not None]
        if res.blkio_weight is None and not weighted:
            return
        # BFQ's own weight file takes v1's scale unconverted; io.weight is the iocost controller's.
        bfq = f"{directory}/io.bfq.weight"
        if fs.exists(bfq):
            if res.blkio_weight is not None:
                fs.write(bfq, res.blkio_weight)
            for device, weight in weighted:
                write_device_weight(bfq, device, weight)
            return
        weight_file = f"{directory}/io.weight"
        if res.blkio_weight is not None:
            fs.write(weight_file, blkio_weight_to_io_weight(res.blkio_weight))
        for device, weight in weighted:
            write_device_weight(weight_file, device, blkio_weight_to_io_weight(weight))

    def stats(self, directory: str, out: Stats) -> None:
        if out.detail is None:
            return
        text = fs.read_or_none(f"{directory}/io.stat")
        if text:
            out.detail.blkio.update(parse_io_stat(text))
