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

    # What each controller is asked for: the same question on v1 and v2.
    def wants_memory(self) -> bool:
        return any(v is not None for v in (self.memory_limit, self.memory_reservation, self.memory_swap))

    def wants_cpu(self) -> bool:
        return any(v is not None for v in (self.cpu_shares, self.cpu_quota, self.cpu_period))

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
