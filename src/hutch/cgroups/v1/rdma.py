"""The rdma controller (same rdma.max in v1 and v2): per-device caps on RDMA handles and objects."""

from __future__ import annotations

import errno

from hutch.cgroups import fs
from hutch.cgroups.resources import CgroupError, Resources, Stats


class Rdma:
    name = "rdma"

    def requested(self, res: Resources) -> bool:
        return res.wants_rdma()

    def apply(self, directory: str, res: Resources) -> None:
        for device, limits in (res.rdma or {}).items():
            if not device or any(c.isspace() for c in device):
                raise CgroupError(f"invalid RDMA device name {device!r}")
            settings = [
                f"{key}={value}"
                for key, value in (("hca_handle", limits.hca_handles), ("hca_object", limits.hca_objects))
                if value is not None
            ]
            if settings:  # both unset: nothing to change for this device
                _write(f"{directory}/rdma.max", device, " ".join([device, *settings]))

    def stats(self, directory: str, out: Stats) -> None:
        pass


def _write(path: str, device: str, line: str) -> None:
    try:
        fs.write(path, line)
    except CgroupError as exc:
        if exc.errno != errno.ENODEV:
            raise
        message = f"cannot write {line} to {path}: this host has no RDMA device {device!r}"
        raise CgroupError(message, exc.errno) from None
