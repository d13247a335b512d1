"""`spec` and `features`: a default config.json as runc writes one, and what this runtime supports."""

from __future__ import annotations

import os

from hutch.oci.config.defaults import DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS
from hutch.oci.container.container import RUNTIME_SPEC_VERSION

_RUNC_SPEC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
_ROOTLESS_DROPPED = ("network",)


def default_config(rootless: bool = False) -> dict:
    """The config runc's `spec` writes: sh on a terminal in ./rootfs, read-only, a few capabilities."""
    caps = list(_RUNC_SPEC_CAPS)
    namespaces = [{"type": kind} for kind in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
    devpts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    sysfs = {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
    linux: dict[str, object] = {}
    if rootless:
        namespaces = [ns for ns in namespaces if ns["type"] not in _ROOTLESS_DROPPED] + [{"type": "user"}]
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        sysfs = {"destination": "/sys", "type": "none", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    else:
        devpts.append("gid=5")
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    linux["namespaces"] = namespaces
    linux["maskedPaths"] = list(MASKED_PATHS)
    linux["readonlyPaths"] = list(READONLY_PATHS)
    return {
        "ociVersion": RUNTIME_SPEC_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [f"PATH={DEFAULT_PATH}", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": list(caps), "permitted": list(caps),
                             "ambient": list(caps)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "hutch",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": devpts},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            sysfs,
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": linux,
    }


def features() -> dict:
    """runtime-spec's features document: exactly what hutch-runtime honours on this host."""
    from hutch import __version__
    from hutch.linux import caps
    from hutch.oci.rootfs import idmap, mountopts

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": RUNTIME_SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mountopts.supported_options(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": list(caps.CAP_NAMES[: caps.last_cap() + 1]),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": _seccomp_features(),
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": idmap.supported()}},
        },
        "annotations": {"io.github.hutch.version": __version__},
    }


def _seccomp_features() -> dict:
    """What the installed libseccomp supports, as runtime-spec's features document lists it."""
    from hutch.linux import seccomp

    try:
        found = seccomp.features()
    except (OSError, seccomp.SeccompError):
        return {"enabled": False}
    known = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
             "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    return {"enabled": True, "actions": found["actions"], "operators": found["operators"],
            "archs": found["archs"], "knownFlags": known, "supportedFlags": found["flags"]}
