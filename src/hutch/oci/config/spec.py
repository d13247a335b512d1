"""The OCI runtime-spec config model: typed records parsed from and written to config.json dicts."""

from __future__ import annotations

from hutch.record import Factory, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class SpecError(ValueError):
    """An invalid config; str() is one line naming the offending field."""


class User(Record):
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = Factory(list)
    umask: int | None = None


class Capabilities(Record):
    bounding: list[str] = Factory(list)
    effective: list[str] = Factory(list)
    permitted: list[str] = Factory(list)
    inheritable: list[str] = Factory(list)
    ambient: list[str] = Factory(list)


class Rlimit(Record):
    type: str
    soft: int
    hard: int


class Process(Record):
    args: list[str]
    cwd: str = "/"
    env: list[str] = Factory(list)
    terminal: bool = False
    user: User = Factory(User)
    capabilities: Capabilities | None = None
    rlimits: list[Rlimit] = Factory(list)
    no_new_privileges: bool = False
    oom_score_adj: int | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Process:
        """A process object, as in config.json or in the process.json of `exec --process`."""
        if not isinstance(raw, dict):
            raise SpecError("process: expected a JSON object")
        return _parse_process(raw)


class Root(Record):
    path: str
    readonly: bool = False


class Mount(Record):
    destination: str
    type: str | None = None
    source: str | None = None
    options: list[str] = Factory(list)


class Namespace(Record):
    type: str
    path: str | None = None


class IdMapping(Record):
    container_id: int
    host_id: int
    size: int


class Device(Record):
    path: str
    type: str
    major: int
    minor: int
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


class Memory(Record):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None


class Cpu(Record):
    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    cpus: str | None = None
    mems: str | None = None


class DeviceRule(Record):
    """One entry of linux.resources.devices; None for major/minor means any."""

    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"


class Resources(Record):
    memory: Memory = Factory(Memory)
    cpu: Cpu = Factory(Cpu)
    pids_limit: int | None = None
    devices: list[DeviceRule] | None = None  # None: leave the cgroup's device rules alone

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "resources") -> Resources:
        """linux.resources, or the LinuxResources document that `update -r` reads."""
        if not isinstance(raw, dict):
            raise SpecError(f"{where}: expected a JSON object")
        return _parse_resources(raw, where)


class Linux(Record):
    namespaces: list[Namespace] = Factory(list)
    uid_mappings: list[IdMapping] = Factory(list)
    gid_mappings: list[IdMapping] = Factory(list)
    devices: list[Device] = Factory(list)
    resources: Resources = Factory(Resources)
    cgroups_path: str | None = None
    masked_paths: list[str] = Factory(list)
    readonly_paths: list[str] = Factory(list)
    sysctl: dict[str, str] = Factory(dict)
    rootfs_propagation: str | None = None

    def namespace(self, kind: str) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.type == kind), None)


class Spec(Record):
    oci_version: str
    process: Process
    root: Root
    hostname: str | None = None
    mounts: list[Mount] = Factory(list)
    linux: Linux = Factory(Linux)
    annotations: dict[str, str] = Factory(dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Spec:
        return _parse_spec(raw)

    def to_dict(self) -> dict[str, Any]:
        return _dump_spec(self)


# --- parsing -------------------------------------------------------------------------------------------

def _get(raw: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = None) -> Any:
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise SpecError(f"{where}.{key}: expected {names}, got {type(value).__name__}")
    return value


def _obj(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    return _get(raw, key, dict, where, {})


def _strings(raw: dict[str, Any], key: str, where: str) -> list[str]:
    items = _get(raw, key, list, where, [])
    if not all(isinstance(item, str) for item in items):
        raise SpecError(f"{where}.{key}: expected a list of strings")
    return list(items)


def _parse_spec(raw: dict[str, Any]) -> Spec:
    if not isinstance(raw, dict):
        raise SpecError("config: expected a JSON object")
    version = _get(raw, "ociVersion", str, "config")
    if not version:
        raise SpecError("config.ociVersion: missing")
    root_raw = _obj(raw, "root", "config")
    if not root_raw.get("path"):
        raise SpecError("config.root.path: missing")
    proc_raw = _obj(raw, "process", "config")
    return Spec(
        oci_version=version,
        process=_parse_process(proc_raw),
        root=Root(_get(root_raw, "path", str, "root"), _get(root_raw, "readonly", bool, "root", False)),
        hostname=_get(raw, "hostname", str, "config"),
        mounts=[_parse_mount(m, i) for i, m in enumerate(_get(raw, "mounts", list, "config", []))],
        linux=_parse_linux(_obj(raw, "linux", "config")),
        annotations=dict(_get(raw, "annotations", dict, "config", {})),
    )


def _parse_process(raw: dict[str, Any]) -> Process:
    where = "process"
    args = _strings(raw, "args", where)
    if not args:
        raise SpecError("process.args: at least one argument is required")
    user_raw = _obj(raw, "user", where)
    caps_raw = raw.get("capabilities")
    caps = None
    if caps_raw is not None:
        caps = Capabilities(**{k: _strings(caps_raw, k, "process.capabilities")
                               for k in ("bounding", "effective", "permitted", "inheritable", "ambient")})
    rlimits = []
    for item in _get(raw, "rlimits", list, where, []):
        rlimits.append(Rlimit(_get(item, "type", str, "process.rlimits"),
                              _get(item, "soft", int, "process.rlimits", 0),
                              _get(item, "hard", int, "process.rlimits", 0)))
    cwd = _get(raw, "cwd", str, where, "/")
    if not cwd.startswith("/"):
        raise SpecError(f"process.cwd: {cwd!r} is not an absolute path")
    return Process(
        args=args,
        cwd=cwd,
        env=_strings(raw, "env", where),
        terminal=_get(raw, "terminal", bool, where, False),
        user=User(
            uid=_get(user_raw, "uid", int, "process.user", 0),
            gid=_get(user_raw, "gid", int, "process.user", 0),
            additional_gids=list(_get(user_raw, "additionalGids", list, "process.user", [])),
            umask=_get(user_raw, "umask", int, "process.user"),
        ),
        capabilities=caps,
        rlimits=rlimits,
        no_new_privileges=_get(raw, "noNewPrivileges", bool, where, False),
        oom_score_adj=_get(raw, "oomScoreAdj", int, where),
    )


def _parse_mount(raw: Any, index: int) -> Mount:
    where = f"mounts[{index}]"
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected an object")
    dest = _get(raw, "destination", str, where)
    if not dest:
        raise SpecError(f"{where}.destination: missing")
    return Mount(dest, _get(raw, "type", str, where), _get(raw, "source", str, where),
                 _strings(raw, "options", where))


def _parse_mappings(raw: dict[str, Any], key: str) -> list[IdMapping]:
    out = []
    for item in _get(raw, key, list, "linux", []):
        out.append(IdMapping(_get(item, "containerID", int, f"linux.{key}", 0),
                             _get(item, "hostID", int, f"linux.{key}", 0),
                             _get(item, "size", int, f"linux.{key}", 0)))
    return out


_NAMESPACES = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"}


def _parse_linux(raw: dict[str, Any]) -> Linux:
    namespaces = []
    for item in _get(raw, "namespaces", list, "linux", []):
        kind = _get(item, "type", str, "linux.namespaces")
        if kind not in _NAMESPACES:
            raise SpecError(f"linux.namespaces: unknown namespace type {kind!r}")
        namespaces.append(Namespace(kind, _get(item, "path", str, "linux.namespaces")))
    devices = []
    for item in _get(raw, "devices", list, "linux", []):
        w = "linux.devices"
        devices.append(Device(_get(item, "path", str, w), _get(item, "type", str, w),
                              _get(item, "major", int, w, 0), _get(item, "minor", int, w, 0),
                              _get(item, "fileMode", int, w), _get(item, "uid", int, w),
                              _get(item, "gid", int, w)))
    resources = _parse_resources(_obj(raw, "resources", "linux"))
    return Linux(
        namespaces=namespaces,
        uid_mappings=_parse_mappings(raw, "uidMappings"),
        gid_mappings=_parse_mappings(raw, "gidMappings"),
        devices=devices,
        resources=resources,
        cgroups_path=_get(raw, "cgroupsPath", str, "linux"),
        masked_paths=_strings(raw, "maskedPaths", "linux"),
        readonly_paths=_strings(raw, "readonlyPaths", "linux"),
        sysctl=dict(_get(raw, "sysctl", dict, "linux", {})),
        rootfs_propagation=_get(raw, "rootfsPropagation", str, "linux"),
    )


def _parse_resources(res_raw: dict[str, Any], where: str = "linux.resources") -> Resources:
    mem = _obj(res_raw, "memory", where)
    cpu = _obj(res_raw, "cpu", where)
    pids = _obj(res_raw, "pids", where)
    where_mem, where_cpu = f"{where}.memory", f"{where}.cpu"
    devices = None
    if res_raw.get("devices") is not None:
        devices = [_parse_device_rule(item, f"{where}.devices[{i}]")
                   for i, item in enumerate(_get(res_raw, "devices", list, where, []))]
    return Resources(
        memory=Memory(_get(mem, "limit", int, where_mem), _get(mem, "reservation", int, where_mem),
                      _get(mem, "swap", int, where_mem)),
        cpu=Cpu(_get(cpu, "shares", int, where_cpu), _get(cpu, "quota", int, where_cpu),
                _get(cpu, "period", int, where_cpu), _get(cpu, "cpus", str, where_cpu),
                _get(cpu, "mems", str, where_cpu)),
        pids_limit=_get(pids, "limit", int, f"{where}.pids"),
        devices=devices,
    )


def _parse_device_rule(raw: Any, where: str) -> DeviceRule:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected an object")
    allow = raw.get("allow")
    if not isinstance(allow, bool):
        raise SpecError(f"{where}.allow: expected true or false")
    kind = _get(raw, "type", str, where, "a")
    if kind not in ("a", "c", "b"):
        raise SpecError(f"{where}.type: must be a, c or b, got {kind!r}")
    access = _get(raw, "access", str, where, "rwm")
    if not access or not set(access) <= set("rwm"):
        raise SpecError(f"{where}.access: must be made of r, w and m, got {access!r}")
    return DeviceRule(allow, kind, _get(raw, "major", int, where), _get(raw, "minor", int, where), access)


# --- dumping -------------------------------------------------------------------------------------------

def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _dump_spec(spec: Spec) -> dict[str, Any]:
    p, lx, res = spec.process, spec.linux, spec.linux.resources
    caps = None
    if p.capabilities is not None:
        caps = {k: getattr(p.capabilities, k)
                for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    out = {
        "ociVersion": spec.oci_version,
        "process": {
            "terminal": p.terminal,
            "user": {"uid": p.user.uid, "gid": p.user.gid, "additionalGids": p.user.additional_gids,
                     "umask": p.user.umask},
            "args": p.args, "env": p.env, "cwd": p.cwd, "capabilities": caps,
            "rlimits": [{"type": r.type, "hard": r.hard, "soft": r.soft} for r in p.rlimits],
            "noNewPrivileges": p.no_new_privileges, "oomScoreAdj": p.oom_score_adj,
        },
        "root": {"path": spec.root.path, "readonly": spec.root.readonly},
        "hostname": spec.hostname,
        "mounts": [{"destination": m.destination, "type": m.type, "source": m.source, "options": m.options}
                   for m in spec.mounts],
        "linux": {
            "namespaces": [{"type": ns.type, "path": ns.path} for ns in lx.namespaces],
            "uidMappings": [{"containerID": m.container_id, "hostID": m.host_id, "size": m.size}
                            for m in lx.uid_mappings],
            "gidMappings": [{"containerID": m.container_id, "hostID": m.host_id, "size": m.size}
                            for m in lx.gid_mappings],
            "devices": [{"path": d.path, "type": d.type, "major": d.major, "minor": d.minor,
                         "fileMode": d.file_mode, "uid": d.uid, "gid": d.gid} for d in lx.devices],
            "resources": {
                "memory": {"limit": res.memory.limit, "reservation": res.memory.reservation,
                           "swap": res.memory.swap},
                "cpu": {"shares": res.cpu.shares, "quota": res.cpu.quota, "period": res.cpu.period,
                        "cpus": res.cpu.cpus, "mems": res.cpu.mems},
                "pids": {"limit": res.pids_limit},
                "devices": None if res.devices is None else [
                    {"allow": d.allow, "type": d.type, "major": d.major, "minor": d.minor, "access": d.access}
                    for d in res.devices],
            },
            "cgroupsPath": lx.cgroups_path,
            "maskedPaths": lx.masked_paths, "readonlyPaths": lx.readonly_paths,
            "sysctl": lx.sysctl, "rootfsPropagation": lx.rootfs_propagation,
        },
        "annotations": spec.annotations,
    }
    pruned = _prune(out)
    pruned["process"]["terminal"] = p.terminal
    return pruned
