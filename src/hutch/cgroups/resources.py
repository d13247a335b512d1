"""The resource limits a caller asks for, the usage a cgroup reports, and the one error type."""

from __future__ import annotations

from hutch.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.detail import StatsDetail


class CgroupError(Exception):
    """A cgroup operation failed; str() is always a single line naming the file and the reason."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        # Callers print this in one log line; a stray newline from a kernel message must not split it.
        super().__init__(" ".join(message.split("\n")))
        self.errno = errno


class DeviceRule(Record):
    """One OCI linux.resources.devices entry: allow or deny some access to devices of a type and number."""

    allow: bool
    # "a" (every device: the rule resets the whole list to allow-all or deny-all), "c" or "b".
    type: str = "a"
    # -1 means any number.
    major: int = -1
    minor: int = -1
    # A non-empty subset of "rwm": read, write, mknod.
    access: str = "rwm"


class WeightDevice(Record):
    """A per-device proportional I/O weight (OCI blockIO.weightDevice): 10..1000 as v1's, None leaves it."""

    major: int
    minor: int
    weight: int | None = None
    # CFQ's weight among the cgroup's own tasks against its children; no kernel since 5.0 has it.
    leaf_weight: int | None = None


class ThrottleDevice(Record):
    """A per-device I/O cap (OCI blockIO.throttle*Device): bytes or operations per second; 0 lifts the cap."""

    major: int
    minor: int
    rate: int


class HugepageLimit(Record):
    """OCI hugepageLimits entry: page size as the kernel names it ("2MB", "1GB") and a limit in bytes."""

    page_size: str
    limit: int


class InterfacePriority(Record):
    """OCI network.priorities entry: the net_prio priority of traffic from the cgroup on one interface."""

    name: str
    priority: int


class RdmaLimit(Record):
    """OCI rdma entry for one device (e.g. "mlx5_1"); None leaves that counter's limit as it is."""

    hca_handles: int | None = None
    hca_objects: int | None = None


class Resources(Record):
    """Limits to set; None leaves the current value alone. Values follow the OCI runtime spec."""

    memory_limit: int | None = None
    memory_reservation: int | None = None
    # Memory plus swap, as in OCI and cgroup v1; -1 means unlimited.
    memory_swap: int | None = None
    # Zero or negative means unlimited.
    pids_limit: int | None = None
    cpu_shares: int | None = None
    # Microseconds per period; -1 means unlimited.
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    # The complete device rule list, applied in order to "nothing allowed", later rules overriding earlier
    # ones, as runc applies an OCI list; it replaces the cgroup's previous rules.
    devices: list[DeviceRule] | None = None

    # 0..100 (v1 only; -1 means unset, as in runc). cgroup v2 has no per-cgroup swappiness: refused there.
    memory_swappiness: int | None = None
    # v1 kernel memory limits, written where the kernel still has the file (ignored on v2, as by runc).
    memory_kernel: int | None = None
    memory_kernel_tcp: int | None = None
    # v1 memory.oom_control; cgroup v2 has no such switch and runc ignores it there, as hutch does.
    memory_disable_oom_killer: bool | None = None
    # v1 memory.use_hierarchy; v2 is always hierarchical, so False is refused there (and by Linux 5.16+ v1).
    memory_use_hierarchy: bool | None = None
    # Refuse a memory (or memory+swap) limit at or below what the cgroup already uses, instead of letting the
    # kernel reclaim or OOM-kill to get under it.
    memory_check_before_update: bool = False
    # Microseconds a cgroup may run over its quota in a period, from unused quota (v1 cfs_burst_us, v2
    # cpu.max.burst).
    cpu_burst: int | None = None
    # Real-time scheduling budget (v1 only): microseconds of RT runtime per period; refused on v2.
    cpu_rt_runtime: int | None = None
    cpu_rt_period: int | None = None
    # 1 makes the cgroup SCHED_IDLE-like (cpu.idle, Linux 5.15+); 0 undoes it.
    cpu_idle: int | None = None
    # 10..1000, as OCI and v1; v2's io.weight gets runc's conversion to 1..10000.
    blkio_weight: int | None = None
    # CFQ's (before Linux 5.0): left out where the kernel has no leaf weights, on v2 too, as runc does.
    blkio_leaf_weight: int | None = None
    blkio_weight_device: list[WeightDevice] | None = None
    blkio_throttle_read_bps: list[ThrottleDevice] | None = None
    blkio_throttle_write_bps: list[ThrottleDevice] | None = None
    blkio_throttle_read_iops: list[ThrottleDevice] | None = None
    blkio_throttle_write_iops: list[ThrottleDevice] | None = None
    # Also sets the reservation limit where there is one (Linux 5.7+), as runc; on a hybrid host whose hugetlb
    # controller is in the cgroup2 tree, the limit goes there.
    hugepage_limits: list[HugepageLimit] | None = None
    # v1-only controllers: refused on v2 and where their hierarchy is not mounted.
    net_cls_classid: int | None = None
    net_prio_ifpriomap: list[InterfacePriority] | None = None
    # Device name -> limits.
    rdma: dict[str, RdmaLimit] | None = None
    # Raw cgroup v2 files ("memory.high" -> "1G"), written last so they override the fields above. Refused on
    # v1; on a hybrid host only cgroup.* and the files of controllers in its cgroup2 tree.
    unified: dict[str, str] | None = None

    # What each controller is asked for: the same question on v1 and v2.
    def wants_memory(self) -> bool:
        return self.memory_swappiness not in (None, -1) or any(
            v is not None
            for v in (
                self.memory_limit, self.memory_reservation, self.memory_swap, self.memory_kernel,
                self.memory_kernel_tcp, self.memory_disable_oom_killer, self.memory_use_hierarchy,
            )
        )

    def wants_cpu(self) -> bool:
        return any(
            v is not None
            for v in (
                self.cpu_shares, self.cpu_quota, self.cpu_period, self.cpu_burst, self.cpu_rt_runtime,
                self.cpu_rt_period, self.cpu_idle,
            )
        )

    def wants_blkio(self) -> bool:
        """The v1 blkio or v2 io controller."""
        weights = self.blkio_weight is not None or self.blkio_leaf_weight is not None
        return weights or bool(self.blkio_weight_device) or any(self.throttles().values())

    def throttles(self) -> dict[str, list[ThrottleDevice]]:
        """The four throttle lists, keyed by v2's io.max key ("rbps": OCI throttleReadBpsDevice...)."""
        return {
            "rbps": self.blkio_throttle_read_bps or [], "wbps": self.blkio_throttle_write_bps or [],
            "riops": self.blkio_throttle_read_iops or [], "wiops": self.blkio_throttle_write_iops or [],
        }

    def wants_hugetlb(self) -> bool:
        return bool(self.hugepage_limits)

    def wants_net_cls(self) -> bool:
        return self.net_cls_classid is not None

    def wants_net_prio(self) -> bool:
        return bool(self.net_prio_ifpriomap)

    def wants_rdma(self) -> bool:
        return bool(self.rdma)

    def wants_unified(self) -> bool:
        return bool(self.unified)

    def wants_cpuset(self) -> bool:
        return self.cpuset_cpus is not None or self.cpuset_mems is not None

    def wants_pids(self) -> bool:
        return self.pids_limit is not None

    def wants_devices(self) -> bool:
        return self.devices is not None


class Stats(Record):
    """Usage of one cgroup; a field is None when the kernel does not report it."""

    memory_usage: int | None = None
    memory_peak: int | None = None
    # None when the cgroup has no memory limit.
    memory_limit: int | None = None
    oom_kills: int = 0
    cpu_user_seconds: float | None = None
    cpu_system_seconds: float | None = None
    pids_current: int | None = None
    # Only from Manager.stats(detailed=True): everything runc's `events` reports (hutch.cgroups.detail).
    detail: StatsDetail | None = None
