"""The config's process object: what to run, as whom, with which capabilities, limits and scheduling."""

from __future__ import annotations

from hutch.oci.config.schema import I32, U32, U64, Factory, Model, fail, show

_RLIMIT_TYPES = (
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS",
    "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
)
SCHED_POLICIES = ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE",
                  "SCHED_DEADLINE")
SCHED_FLAGS = ("SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
               "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
               "SCHED_FLAG_UTIL_CLAMP_MAX")
IOPRIO_CLASSES = ("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE")


class User(Model):
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: list[int] = Factory(list)
    username: str | None = None  # Windows only: kept, not used
    _ranges = {"uid": U32, "gid": U32, "umask": (0, 0o7777), "additional_gids": U32}


class Capabilities(Model):
    bounding: list[str] = Factory(list)
    effective: list[str] = Factory(list)
    permitted: list[str] = Factory(list)
    inheritable: list[str] = Factory(list)
    ambient: list[str] = Factory(list)

    def check(self, where: str) -> None:
        from hutch.linux import caps

        for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            for i, name in enumerate(getattr(self, kind)):
                if name not in caps.CAP_NAMES:
                    raise fail(f"{where}.{kind}[{i}]", f"unknown capability {show(name)}")


class Rlimit(Model):
    type: str
    soft: int
    hard: int
    _ranges = {"soft": U64, "hard": U64}
    _choices = {"type": _RLIMIT_TYPES}

    def check(self, where: str) -> None:
        if self.soft > self.hard:
            raise fail(where, f"{self.type}: soft limit {self.soft} is above the hard limit {self.hard}")


class ConsoleSize(Model):
    height: int
    width: int
    _ranges = {"height": (0, 65535), "width": (0, 65535)}


class Scheduler(Model):
    policy: str
    nice: int | None = None
    priority: int | None = None
    flags: list[str] = Factory(list)
    runtime: int | None = None
    deadline: int | None = None
    period: int | None = None
    _ranges = {"nice": (-20, 19), "priority": I32, "runtime": U64, "deadline": U64, "period": U64}
    _choices = {"policy": SCHED_POLICIES, "flags": SCHED_FLAGS}

    def check(self, where: str) -> None:
        realtime = self.policy in ("SCHED_FIFO", "SCHED_RR")
        if realtime and not 1 <= (self.priority or 0) <= 99:
            raise fail(f"{where}.priority", f"{self.policy} needs a priority between 1 and 99")
        if not realtime and self.priority:
            raise fail(f"{where}.priority", f"must be 0 for {self.policy}, got {self.priority}")
        if self.policy == "SCHED_DEADLINE":
            if not self.runtime or not self.deadline:
                raise fail(where, "SCHED_DEADLINE needs runtime and deadline")
            period = self.period or self.deadline
            if not self.runtime <= self.deadline <= period:
                raise fail(where, "SCHED_DEADLINE needs runtime <= deadline <= period")
        elif any((self.runtime, self.deadline, self.period)):
            raise fail(where, f"runtime, deadline and period are for SCHED_DEADLINE, not {self.policy}")


class IoPriority(Model):
    class_: str
    priority: int = 0
    _keys = {"class_": "class"}
    _ranges = {"priority": (0, 7)}
    _choices = {"class_": IOPRIO_CLASSES}


class CpuAffinity(Model):
    initial: str | None = None
    final: str | None = None

    def check(self, where: str) -> None:
        for kind in ("initial", "final"):
            text = getattr(self, kind)
            if text is not None:
                try:
                    cpu_list(text)
                except ValueError:
                    raise fail(f"{where}.{kind}", f"not a CPU list such as 0-3,6, got {show(text)}") from None


def cpu_list(text: str) -> set[int]:
    """The CPUs of a list such as "0-3,6"; ValueError when malformed."""
    out: set[int] = set()
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        lo = int(first)
        hi = int(last) if sep else lo
        if lo < 0 or hi < lo:
            raise ValueError(text)
        out.update(range(lo, hi + 1))
    return out


class Process(Model):
    args: list[str]
    cwd: str = "/"
    env: list[str] = Factory(list)
    terminal: bool = False
    console_size: ConsoleSize | None = None
    user: User = Factory(User)
    capabilities: Capabilities | None = None
    rlimits: list[Rlimit] = Factory(list)
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str | None = None
    selinux_label: str | None = None
    scheduler: Scheduler | None = None
    io_priority: IoPriority | None = None
    exec_cpu_affinity: CpuAffinity | None = None
    command_line: str | None = None  # Windows only: kept, not used
    _keys = {"exec_cpu_affinity": "execCPUAffinity"}
    _ranges = {"oom_score_adj": (-1000, 1000)}

    @classmethod
    def from_dict(cls, raw: dict) -> Process:
        """A process object, as in config.json or in the process.json of `exec --process`."""
        return cls.parse(raw, "process")

    def check(self, where: str) -> None:
        if not self.args:
            raise fail(f"{where}.args", "at least one argument is required")
        if not self.cwd.startswith("/"):
            raise fail(f"{where}.cwd", f"{show(self.cwd)} is not an absolute path")
        for i, item in enumerate(self.env):
            if "=" not in item:
                raise fail(f"{where}.env[{i}]", f"must be KEY=VALUE, got {show(item)}")
        seen = set()
        for i, limit in enumerate(self.rlimits):
            if limit.type in seen:
                raise fail(f"{where}.rlimits[{i}]", f"{limit.type} is given twice")
            seen.add(limit.type)


