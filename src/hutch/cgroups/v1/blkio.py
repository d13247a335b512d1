"""The v1 blkio controller: proportional weights and throttles; statistics from the best files there are."""

from __future__ import annotations

import errno

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats, WeightDevice

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


# io.max key (Resources.throttles()) -> v1 file.
_THROTTLE_FILES = {
    "rbps": "blkio.throttle.read_bps_device", "wbps": "blkio.throttle.write_bps_device",
    "riops": "blkio.throttle.read_iops_device", "wiops": "blkio.throttle.write_iops_device",
}


def write_device_weight(path: str, device: WeightDevice, value: int) -> None:
    try:
        fs.write(path, f"{device.major}:{device.minor} {value}")
    except CgroupError as exc:
        if exc.errno != errno.EOPNOTSUPP:
            raise
        raise CgroupError(
            f"cannot set I/O weight {value} for device {device.major}:{device.minor} in {path}: the device's"
            " I/O scheduler has no per-cgroup weights (select bfq in /sys/block/DEVICE/queue/scheduler)",
            exc.errno,
        ) from None


def missing_throttle_error(path: str) -> CgroupError:
    return CgroupError(f"cannot throttle block I/O: {path} is absent (no CONFIG_BLK_DEV_THROTTLING)")


def _weight_files(directory: str) -> tuple[str, str]:
    """CFQ's files (before Linux 5.0), else BFQ's, as runc picks them."""
    if fs.exists(f"{directory}/blkio.weight"):
        return f"{directory}/blkio.weight", f"{directory}/blkio.weight_device"
    if fs.exists(f"{directory}/blkio.bfq.weight"):
        return f"{directory}/blkio.bfq.weight", f"{directory}/blkio.bfq.weight_device"
    raise CgroupError(
        f"cannot set a block I/O weight: {directory} has neither blkio.weight nor blkio.bfq.weight"
        " (no CFQ in this kernel and the bfq I/O scheduler is not loaded)"
    )


def _write_leaf(path: str, value: str) -> None:
    # Leaf weights were CFQ's; BFQ has none, so on kernels since 5.0 there is nothing to set.
    if fs.exists(path):
        fs.write(path, value)


class Blkio:
    name = "blkio"

    def requested(self, res: Resources) -> bool:
        return res.wants_blkio()

    def apply(self, directory: str, res: Resources) -> None:
        devices = res.blkio_weight_device or []
        if res.blkio_weight is not None or any(d.weight is not None for d in devices):
            weight_file, device_file = _weight_files(directory)
            if res.blkio_weight is not None:
                fs.write(weight_file, res.blkio_weight)
            for device in devices:
                if device.weight is not None:
                    write_device_weight(device_file, device, device.weight)
        if res.blkio_leaf_weight is not None:
            _write_leaf(f"{directory}/blkio.leaf_weight", str(res.blkio_leaf_weight))
        for device in devices:
            if device.leaf_weight is not None:
                leaf = f"{device.major}:{device.minor} {device.leaf_weight}"
                _write_leaf(f"{directory}/blkio.leaf_weight_device", leaf)
        for key, entries in res.throttles().items():
            path = f"{directory}/{_THROTTLE_FILES[key]}"
            if entries and not fs.exists(path):
                raise missing_throttle_error(path)
            for entry in entries:
                # A rate of 0 removes the device's rule, as OCI and v1 mean it.
                fs.write(path, f"{entry.major}:{entry.minor} {entry.rate}")

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
