"""The OCI runtime-spec config model: config.json parsed and validated into typed records, and written back.

The model is split by the spec's own sections: process (config/process.py), linux (config/linux.py) and
linux.resources (config/limits.py); schema.py reads and checks every field from its type hint. The names are
all re-exported here.
"""

from __future__ import annotations

from hutch.oci.config.limits import (  # noqa: F401
    BlockIO,
    Cpu,
    DeviceRule,
    HugepageLimit,
    InterfacePriority,
    Memory,
    Network,
    Pids,
    Rdma,
    Resources,
    ThrottleDevice,
    WeightDevice,
)
from hutch.oci.config.linux import (  # noqa: F401
    Device,
    IdMapping,
    IntelRdt,
    Linux,
    Namespace,
    NetDevice,
    Personality,
    Seccomp,
    SeccompArg,
    SeccompSyscall,
    TimeOffset,
)
from hutch.oci.config.process import (  # noqa: F401
    Capabilities,
    ConsoleSize,
    CpuAffinity,
    IoPriority,
    Process,
    Rlimit,
    Scheduler,
    User,
)
from hutch.oci.config.schema import Factory, Model, SpecError, fail, show

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


class Root(Model):
    path: str
    readonly: bool = False

    def check(self, where: str) -> None:
        if not self.path:
            raise fail(f"{where}.path", "missing")


class Mount(Model):
    destination: str
    type: str | None = None
    source: str | None = None
    options: list[str] = Factory(list)
    uid_mappings: list[IdMapping] = Factory(list)
    gid_mappings: list[IdMapping] = Factory(list)

    def check(self, where: str) -> None:
        if not self.destination:
            raise fail(f"{where}.destination", "missing")
        if bool(self.uid_mappings) != bool(self.gid_mappings):
            raise fail(where, "uidMappings and gidMappings must be given together")


class Hook(Model):
    path: str
    args: list[str] = Factory(list)
    env: list[str] = Factory(list)
    timeout: int | None = None

    def check(self, where: str) -> None:
        if not self.path.startswith("/"):
            raise fail(f"{where}.path", f"must be an absolute path, got {show(self.path)}")
        if self.timeout is not None and self.timeout <= 0:
            raise fail(f"{where}.timeout", f"must be greater than zero, got {self.timeout}")


class Hooks(Model):
    prestart: list[Hook] = Factory(list)
    create_runtime: list[Hook] = Factory(list)
    create_container: list[Hook] = Factory(list)
    start_container: list[Hook] = Factory(list)
    poststart: list[Hook] = Factory(list)
    poststop: list[Hook] = Factory(list)

    def of(self, kind: str) -> list[Hook]:
        """The hooks of a kind named as in config.json (createRuntime...)."""
        return getattr(self, {"createRuntime": "create_runtime", "createContainer": "create_container",
                              "startContainer": "start_container"}.get(kind, kind))


def _supported_version(version: str) -> bool:
    """SemVer MAJOR.MINOR.PATCH with an optional -pre-release/+build, major 1 (the versions of this spec)."""
    core = version.split("+", 1)[0].split("-", 1)[0]
    parts = core.split(".")
    return len(parts) == 3 and all(p.isdigit() and (p == "0" or not p.startswith("0")) for p in parts) \
        and parts[0] == "1"


class Spec(Model):
    oci_version: str
    process: Process
    root: Root
    hostname: str | None = None
    domainname: str | None = None
    mounts: list[Mount] = Factory(list)
    hooks: Hooks = Factory(Hooks)
    linux: Linux = Factory(Linux)
    annotations: dict[str, str] = Factory(dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Spec:
        if not isinstance(raw, dict):
            raise SpecError("config: must be an object")
        return cls.parse(raw, "")

    def to_dict(self) -> dict[str, Any]:
        out = self.dump()
        out.setdefault("process", {})["terminal"] = self.process.terminal
        return out

    def check(self, where: str) -> None:
        if not _supported_version(self.oci_version):
            raise fail("ociVersion", f"{show(self.oci_version)} is not a runtime-spec 1.x version (SemVer)")
        from hutch.oci.config.validate import check_spec

        check_spec(self)
