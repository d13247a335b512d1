"""Default spec pieces as docker and runc use them: capabilities, mounts, masked and read-only paths."""

from __future__ import annotations

from hutch.oci.config.spec import (
    Capabilities,
    DeviceRule,
    Linux,
    Mount,
    Namespace,
    Process,
    Resources,
    Root,
    Spec,
)

OCI_VERSION = "1.2.0"

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL", "CAP_AUDIT_WRITE",
)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")


def docker_device_rules() -> list[DeviceRule]:
    """docker's default device cgroup rules: nothing but mknod, the standard character devices, ptys, tun."""
    return [
        DeviceRule(False, "a", None, None, "rwm"),
        DeviceRule(True, "c", None, None, "m"),
        DeviceRule(True, "b", None, None, "m"),
        DeviceRule(True, "c", 1, 3, "rwm"),  # null
        DeviceRule(True, "c", 1, 8, "rwm"),  # random
        DeviceRule(True, "c", 1, 7, "rwm"),  # full
        DeviceRule(True, "c", 5, 0, "rwm"),  # tty
        DeviceRule(True, "c", 1, 5, "rwm"),  # zero
        DeviceRule(True, "c", 1, 9, "rwm"),  # urandom
        DeviceRule(True, "c", 136, None, "rwm"),  # /dev/pts/*
        DeviceRule(True, "c", 5, 2, "rwm"),  # ptmx
        DeviceRule(True, "c", 10, 200, "rwm"),  # /dev/net/tun
    ]


def default_mounts() -> list[Mount]:
    return [
        Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount("/dev/pts", "devpts", "devpts",
              ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        Mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        Mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        Mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
    ]


def default_spec(args: list[str], root: str) -> Spec:
    caps = list(DEFAULT_CAPABILITIES)
    return Spec(
        oci_version=OCI_VERSION,
        process=Process(
            args=list(args),
            env=[f"PATH={DEFAULT_PATH}"],
            capabilities=Capabilities(bounding=caps, effective=list(caps), permitted=list(caps)),
            no_new_privileges=True,
        ),
        root=Root(root),
        mounts=default_mounts(),
        linux=Linux(
            namespaces=[Namespace(kind) for kind in NAMESPACES],
            resources=Resources(devices=docker_device_rules()),
            masked_paths=list(MASKED_PATHS),
            readonly_paths=list(READONLY_PATHS),
        ),
    )
