"""The config's linux object: namespaces, id maps, devices, seccomp, sysctl, paths and the rest."""

from __future__ import annotations

from hutch.oci.config.limits import Resources
from hutch.oci.config.schema import I64, U32, U64, Factory, Model, fail, show

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")
SECCOMP_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
                   "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")
SECCOMP_OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                     "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
PERSONALITY_DOMAINS = ("LINUX", "LINUX32")


class Namespace(Model):
    type: str
    path: str | None = None
    _choices = {"type": NAMESPACE_TYPES}

    def check(self, where: str) -> None:
        if self.path is not None and not self.path.startswith("/"):
            raise fail(f"{where}.path", f"must be an absolute path, got {show(self.path)}")


class IdMapping(Model):
    container_id: int
    host_id: int
    size: int
    _keys = {"container_id": "containerID", "host_id": "hostID"}
    _ranges = {"container_id": U32, "host_id": U32, "size": U32}


class Device(Model):
    path: str
    type: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    _choices = {"type": ("c", "b", "u", "p")}
    _ranges = {"major": I64, "minor": I64, "file_mode": (0, 0o7777), "uid": U32, "gid": U32}

    def check(self, where: str) -> None:
        if not self.path.startswith("/"):
            raise fail(f"{where}.path", f"must be an absolute path, got {show(self.path)}")
        if self.type != "p" and (self.major < 0 or self.minor < 0):
            raise fail(where, f"{self.path}: a {self.type} device needs its major and minor numbers")


class TimeOffset(Model):
    secs: int = 0
    nanosecs: int = 0
    _ranges = {"secs": I64, "nanosecs": (0, 999_999_999)}


class Personality(Model):
    domain: str
    flags: list[str] = Factory(list)
    _choices = {"domain": PERSONALITY_DOMAINS}


class IntelRdt(Model):
    clos_id: str | None = None
    schemata: list[str] = Factory(list)
    l3_cache_schema: str | None = None
    mem_bw_schema: str | None = None
    enable_cmt: bool | None = None
    enable_mbm: bool | None = None
    _keys = {"clos_id": "closID", "enable_cmt": "enableCMT", "enable_mbm": "enableMBM"}


class NetDevice(Model):
    name: str | None = None


class SeccompArg(Model):
    index: int
    value: int
    value_two: int = 0
    op: str
    _ranges = {"index": (0, 5), "value": U64, "value_two": U64}
    _choices = {"op": SECCOMP_OPERATORS}


class SeccompSyscall(Model):
    names: list[str]
    action: str
    errno_ret: int | None = None
    args: list[SeccompArg] = Factory(list)
    _choices = {"action": SECCOMP_ACTIONS}
    _ranges = {"errno_ret": U32}

    def check(self, where: str) -> None:
        if not self.names:
            raise fail(f"{where}.names", "at least one syscall name is required")


class Seccomp(Model):
    default_action: str
    default_errno_ret: int | None = None
    architectures: list[str] = Factory(list)
    flags: list[str] = Factory(list)
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: list[SeccompSyscall] = Factory(list)
    _choices = {"default_action": SECCOMP_ACTIONS}
    _ranges = {"default_errno_ret": U32}

    def uses_notify(self) -> bool:
        return self.default_action == "SCMP_ACT_NOTIFY" or any(
            rule.action == "SCMP_ACT_NOTIFY" for rule in self.syscalls)

    def check(self, where: str) -> None:
        if self.uses_notify():
            if not self.listener_path:
                raise fail(f"{where}.listenerPath", "SCMP_ACT_NOTIFY needs a listener path")
            if not self.listener_path.startswith("/"):
                raise fail(f"{where}.listenerPath", f"not absolute: {show(self.listener_path)}")
        elif self.listener_path:
            raise fail(f"{where}.listenerPath", "is set but no rule uses SCMP_ACT_NOTIFY")
        if self.default_action == "SCMP_ACT_NOTIFY":
            raise fail(f"{where}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
        for i, rule in enumerate(self.syscalls):
            if rule.action == "SCMP_ACT_NOTIFY" and "sendmsg" in rule.names:
                # The runtime passes the listener on with sendmsg, after the filter is in place.
                raise fail(f"{where}.syscalls[{i}]", "SCMP_ACT_NOTIFY on sendmsg cannot be honoured")


class Linux(Model):
    namespaces: list[Namespace] = Factory(list)
    uid_mappings: list[IdMapping] = Factory(list)
    gid_mappings: list[IdMapping] = Factory(list)
    time_offsets: dict[str, TimeOffset] = Factory(dict)
    devices: list[Device] = Factory(list)
    net_devices: dict[str, NetDevice] = Factory(dict)
    cgroups_path: str | None = None
    resources: Resources = Factory(Resources)
    intel_rdt: IntelRdt | None = None
    sysctl: dict[str, str] = Factory(dict)
    seccomp: Seccomp | None = None
    rootfs_propagation: str | None = None
    masked_paths: list[str] = Factory(list)
    readonly_paths: list[str] = Factory(list)
    mount_label: str | None = None
    personality: Personality | None = None
    _choices = {"rootfs_propagation": PROPAGATIONS}

    def namespace(self, kind: str) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.type == kind), None)

    def check(self, where: str) -> None:
        seen = set()
        for i, ns in enumerate(self.namespaces):
            if ns.type in seen:
                raise fail(f"{where}.namespaces[{i}]", f"the {ns.type} namespace is given twice")
            seen.add(ns.type)
        for clock in self.time_offsets:
            if clock not in ("monotonic", "boottime"):
                raise fail(f"{where}.timeOffsets", f"clock must be monotonic or boottime, got {show(clock)}")
        for kind in ("masked_paths", "readonly_paths"):
            for i, path in enumerate(getattr(self, kind)):
                if not path.startswith("/"):
                    key = "maskedPaths" if kind == "masked_paths" else "readonlyPaths"
                    raise fail(f"{where}.{key}[{i}]", f"must be an absolute path, got {show(path)}")


