"""Rules between a config's sections, and refusing what this host cannot honour, before creating anything."""

from __future__ import annotations

import os

from hutch.oci.config.schema import fail, show

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.oci.config.spec import Spec

# Sysctls that belong to the IPC namespace (besides fs.mqueue.*); net.* belong to the network namespace.
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def check_spec(spec: Spec) -> None:
    """Rules that need more than one field; raise SpecError."""
    _check_user_namespace(spec)
    linux = spec.linux
    if (spec.hostname or spec.domainname) and linux.namespace("uts") is None:
        field = "hostname" if spec.hostname else "domainname"
        raise fail(field, "needs a uts namespace of the container's own (linux.namespaces)")
    if linux.time_offsets:
        time_ns = linux.namespace("time")
        if time_ns is None or time_ns.path:
            raise fail("linux.timeOffsets", "need a new time namespace (linux.namespaces type time, no path)")
    for key in linux.sysctl:
        _check_sysctl(spec, key)
    if linux.personality is not None and linux.personality.flags:
        raise fail("linux.personality.flags", "no personality flag is defined by the runtime spec")
    for i, device in enumerate(linux.devices):
        if os.path.normpath(device.path) in ("/dev", "/") or ".." in device.path.split("/"):
            raise fail(f"linux.devices[{i}].path", f"not a device path inside /dev: {show(device.path)}")
    if linux.net_devices and (linux.namespace("network") is None or linux.namespace("network").path):
        raise fail("linux.netDevices", "need a new network namespace of the container's own")
    for name, device in linux.net_devices.items():
        for value in (name, device.name):
            if value is not None and not _interface_name(value):
                raise fail(f"linux.netDevices.{name}", f"not an interface name: {show(value)}")


def _interface_name(name: str) -> bool:
    return 0 < len(name) < 16 and name not in (".", "..") and not any(c in name for c in "/: \t\n")


def _check_user_namespace(spec: Spec) -> None:
    linux = spec.linux
    user = linux.namespace("user")
    if user is None:
        if linux.uid_mappings or linux.gid_mappings:
            raise fail("linux.uidMappings", "id mappings need a user namespace (linux.namespaces type user)")
        return
    if user.path is None and not (linux.uid_mappings and linux.gid_mappings):
        raise fail("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
    for kind in ("uid_mappings", "gid_mappings"):
        for i, mapping in enumerate(getattr(linux, kind)):
            if mapping.size == 0:
                key = "uidMappings" if kind == "uid_mappings" else "gidMappings"
                raise fail(f"linux.{key}[{i}].size", "must be greater than zero")


def _check_sysctl(spec: Spec, key: str) -> None:
    where = f"linux.sysctl.{key}"
    name = key.replace("/", ".")
    if not name or any(part in ("", "..", ".") for part in name.split(".")):
        raise fail(where, "not a sysctl name")
    linux = spec.linux
    if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
        namespace = "ipc"
    elif name.startswith("net."):
        namespace = "network"
    elif name in ("kernel.domainname", "kernel.hostname"):
        namespace = "uts"
    else:
        raise fail(where, "is not namespaced: setting it would change the host")
    ns = linux.namespace(namespace)
    if ns is None or (ns.path and _is_host_namespace(ns.path, namespace)):
        raise fail(where, f"needs a {namespace} namespace of the container's own")


def _is_host_namespace(path: str, kind: str) -> bool:
    link = {"network": "net"}.get(kind, kind)
    try:
        theirs, ours = os.stat(path), os.stat(f"/proc/self/ns/{link}")
    except OSError:
        return False  # joining it fails later, with its own error
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


# --- what this host can honour --------------------------------------------------------------------------

def check_host(spec: Spec) -> None:
    """Refuse fields this host lacks the kernel feature for, one line each, rather than drop them."""
    proc, linux = spec.process, spec.linux
    if proc.apparmor_profile and not _apparmor_enabled():
        raise fail("process.apparmorProfile", f"{show(proc.apparmor_profile)}: AppArmor is not enabled "
                   "on this host")
    if proc.selinux_label and not _selinux_enabled():
        raise fail("process.selinuxLabel", "SELinux is not enabled on this host")
    if linux.mount_label and not _selinux_enabled():
        raise fail("linux.mountLabel", "SELinux is not enabled on this host")
    if linux.intel_rdt is not None and not os.path.exists("/sys/fs/resctrl/schemata"):
        raise fail("linux.intelRdt", "resctrl is not mounted on this host (no Intel RDT)")
    if linux.namespace("time") is not None and not os.path.exists("/proc/self/ns/time"):
        raise fail("linux.namespaces", "this kernel has no time namespaces")
    if linux.seccomp is not None:
        from hutch.linux import seccomp

        try:
            seccomp.check(_seccomp_profile(linux.seccomp))
        except seccomp.SeccompError as exc:
            raise fail("linux.seccomp", str(exc).removeprefix("seccomp: ")) from None


def _apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y" and os.path.isdir("/sys/kernel/security/apparmor")
    except OSError:
        return False


def _selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def _seccomp_profile(model: object) -> object:
    from hutch.oci.config.seccomp import to_profile

    return to_profile(model)  # type: ignore[arg-type]
