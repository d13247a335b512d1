"""The config's linux.resources object (also `update`'s LinuxResources document): every cgroup limit."""

from __future__ import annotations

from hutch.oci.config.schema import I64, U32, U64, Factory, Model, fail, show


class DeviceRule(Model):
    """One entry of linux.resources.devices; None for major/minor means any."""

    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"
    _choices = {"type": ("a", "c", "b")}

    def check(self, where: str) -> None:
        if not self.access or not set(self.access) <= set("rwm"):
            raise fail(f"{where}.access", f"must be made of r, w and m, got {show(self.access)}")


class Memory(Model):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    kernel_tcp: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None
    _keys = {"kernel_tcp": "kernelTCP", "disable_oom_killer": "disableOOMKiller"}
    _ranges = {"limit": I64, "reservation": I64, "swap": I64, "kernel": I64, "kernel_tcp": I64,
               "swappiness": U64}

    def check(self, where: str) -> None:
        if self.swappiness is not None and self.swappiness > 100:
            raise fail(f"{where}.swappiness", f"must be between 0 and 100, got {self.swappiness}")
        if self.limit is not None and self.swap is not None and self.swap > 0 and 0 < self.swap < self.limit:
            raise fail(f"{where}.swap", f"memory+swap {self.swap} is below the memory limit {self.limit}")


class Cpu(Model):
    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: int | None = None
    _ranges = {"shares": U64, "quota": I64, "burst": U64, "period": U64, "realtime_runtime": I64,
               "realtime_period": U64, "idle": (0, 1)}


class Pids(Model):
    limit: int | None = None
    _ranges = {"limit": I64}


class WeightDevice(Model):
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None
    _ranges = {"major": I64, "minor": I64, "weight": (10, 1000), "leaf_weight": (10, 1000)}


class ThrottleDevice(Model):
    major: int
    minor: int
    rate: int
    _ranges = {"major": I64, "minor": I64, "rate": U64}


class BlockIO(Model):
    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: list[WeightDevice] = Factory(list)
    throttle_read_bps_device: list[ThrottleDevice] = Factory(list)
    throttle_write_bps_device: list[ThrottleDevice] = Factory(list)
    throttle_read_iops_device: list[ThrottleDevice] = Factory(list)
    throttle_write_iops_device: list[ThrottleDevice] = Factory(list)
    _keys = {"throttle_read_iops_device": "throttleReadIOPSDevice",
             "throttle_write_iops_device": "throttleWriteIOPSDevice"}
    # 0 is how engines say "unset"; the kernel takes 10..1000.
    _ranges = {"weight": (0, 1000), "leaf_weight": (0, 1000)}


class HugepageLimit(Model):
    page_size: str
    limit: int
    _ranges = {"limit": U64}

    def check(self, where: str) -> None:
        size = self.page_size
        if not (size[:-2].isdigit() and size[-2:] in ("KB", "MB", "GB")):
            raise fail(f"{where}.pageSize", f"must be a size such as 2MB or 1GB, got {show(size)}")


class InterfacePriority(Model):
    name: str
    priority: int
    _ranges = {"priority": U32}


class Network(Model):
    class_id: int | None = None
    priorities: list[InterfacePriority] = Factory(list)
    _keys = {"class_id": "classID"}
    _ranges = {"class_id": U32}


class Rdma(Model):
    hca_handles: int | None = None
    hca_objects: int | None = None
    _ranges = {"hca_handles": U32, "hca_objects": U32}


class Resources(Model):
    devices: list[DeviceRule] | None = None  # None: leave the cgroup's device rules alone
    memory: Memory = Factory(Memory)
    cpu: Cpu = Factory(Cpu)
    pids: Pids = Factory(Pids)
    block_io: BlockIO = Factory(BlockIO)
    hugepage_limits: list[HugepageLimit] = Factory(list)
    network: Network = Factory(Network)
    rdma: dict[str, Rdma] = Factory(dict)
    unified: dict[str, str] = Factory(dict)
    _keys = {"block_io": "blockIO"}

    @classmethod
    def from_dict(cls, raw: dict, where: str = "resources") -> Resources:
        """linux.resources, or the LinuxResources document that `update -r` reads."""
        return cls.parse(raw, where)

    def check(self, where: str) -> None:
        for key in self.unified:
            if "/" in key or key.startswith(".") or "." not in key:
                raise fail(f"{where}.unified", f"not a cgroup v2 file name: {show(key)}")
