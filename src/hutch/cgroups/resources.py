"""The resource limits a caller asks for, the usage a cgroup reports, and the one error type."""

from __future__ import annotations

from hutch.record import Record


class CgroupError(Exception):
    """A cgroup operation failed; str() is always a single line naming the file and the reason."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        # Callers print this in one log line; a stray newline from a kernel message must not split it.
        super().__init__(" ".join(message.split("\n")))
        self.errno = errno


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

    # What each controller is asked for: the same question on v1 and v2.
    def wants_memory(self) -> bool:
        return any(v is not None for v in (self.memory_limit, self.memory_reservation, self.memory_swap))

    def wants_cpu(self) -> bool:
        return any(v is not None for v in (self.cpu_shares, self.cpu_quota, self.cpu_period))

    def wants_cpuset(self) -> bool:
        return self.cpuset_cpus is not None or self.cpuset_mems is not None

    def wants_pids(self) -> bool:
        return self.pids_limit is not None


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
