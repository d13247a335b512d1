"""The options of a foreground `hutch run`, and their translation into an OCI runtime spec."""

from __future__ import annotations

import os

from hutch.oci.config.defaults import default_spec
from hutch.oci.config.spec import IdMapping, Mount, Namespace, Spec
from hutch.oci.errors import ContainerError
from hutch.record import Factory, Record
from hutch.units import parse_size

INIT_PATH = "/dev/init"  # /dev is always the container's own tmpfs, so the bind target can be created
_INIT_CANDIDATES = ("/usr/bin/tini-static", "/usr/bin/catatonit", "/usr/libexec/podman/catatonit")
DEFAULT_CGROUP_PARENT = "hutch"


class RunOptions(Record):
    args: list[str]
    rootfs: str | None = None  # "/" for the host's root, read-only; None with an image
    image: str | None = None  # an image record's name in the store under store_root
    entrypoint: str | None = None
    stop_signal: str | None = None  # the image's StopSignal
    store_root: str = "/var/lib/hutch"
    read_only: bool = False
    memory: int | str | None = None
    memory_swap: int | str | None = None
    memory_reservation: int | str | None = None
    pids_limit: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    env: list[str] = Factory(list)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    name: str | None = None
    cgroup_parent: str = DEFAULT_CGROUP_PARENT
    init: bool = False
    tty: bool = False
    interactive: bool = False
    uidmap: list[str] = Factory(list)
    gidmap: list[str] = Factory(list)
    network: str = "none"
    report: str | None = None
    timeout: float | None = None
    debug: bool = False


def container_name(opts: RunOptions) -> str:
    if opts.name is None:
        opts.name = os.urandom(6).hex()
    return opts.name


def build_spec(opts: RunOptions) -> tuple[Spec, str]:
    """Return the spec and the host path of the root filesystem ("/" in host mode)."""
    if not opts.args:
        raise ContainerError("no command given")
    name = container_name(opts)
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ContainerError(f"invalid container name {name!r}")
    rootfs = _rootfs(opts)
    args = [INIT_PATH, "--", *opts.args] if opts.init else list(opts.args)
    spec = default_spec(args, rootfs)
    spec.hostname = opts.hostname or name
    spec.root.readonly = opts.read_only or rootfs == "/"
    if rootfs == "/":
        spec.mounts += [Mount("/tmp", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=1777"]),
                        Mount("/run", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=755"])]
    if opts.init:
        spec.mounts.append(Mount(INIT_PATH, "bind", _find_init(), ["bind", "ro"]))
    _process(spec, opts, rootfs)
    _resources(spec, opts)
    _namespaces(spec, opts)
    parent = opts.cgroup_parent.strip("/")
    spec.linux.cgroups_path = f"/{parent}/{name}" if parent else f"/{name}"
    return spec, rootfs


def _rootfs(opts: RunOptions) -> str:
    if opts.rootfs is None:
        raise ContainerError("no root filesystem: give an image, or --rootfs DIR (--rootfs / for the host's)")
    path = os.path.abspath(opts.rootfs)
    if not os.path.isdir(path):
        raise ContainerError(f"root filesystem {opts.rootfs} does not exist or is not a directory")
    return path


def _find_init() -> str:
    for candidate in _INIT_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise ContainerError("--init needs a static init: install tini (tini-static) or catatonit")


def _process(spec: Spec, opts: RunOptions, rootfs: str) -> None:
    proc = spec.process
    proc.terminal = opts.tty
    proc.cwd = opts.workdir or "/"
    if not proc.cwd.startswith("/"):
        raise ContainerError(f"the working directory {opts.workdir} is not an absolute path")
    home = "/root"
    if opts.user:
        proc.user.uid, proc.user.gid, home = _resolve_user(opts.user, rootfs)
    proc.env += [f"HOSTNAME={spec.hostname}", f"HOME={home}"]
    if opts.tty:
        proc.env.append("TERM=xterm")
    for item in opts.env:
        key, eq, _value = item.partition("=")
        if not key:
            raise ContainerError(f"invalid environment variable {item!r}")
        if not eq:
            if key not in os.environ:
                continue
            item = f"{key}={os.environ[key]}"
        proc.env = [e for e in proc.env if e.partition("=")[0] != key] + [item]


def _resolve_user(user: str, rootfs: str) -> tuple[int, int, str]:
    name, _, group = user.partition(":")
    entries = _passwd(rootfs)
    if name.isdigit():
        uid = int(name)
        gid, home = next(((g, h) for n, u, g, h in entries if u == uid), (uid if not group else 0, "/"))
    else:
        match = next(((u, g, h) for n, u, g, h in entries if n == name), None)
        if match is None:
            raise ContainerError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid, home = match
    if group:
        gid = int(group) if group.isdigit() else _group_id(group, rootfs)
    return uid, gid, home


def _group_id(name: str, rootfs: str) -> int:
    try:
        with open(os.path.join(rootfs, "etc/group"), encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) >= 3 and parts[0] == name and parts[2].isdigit():
                    return int(parts[2])
    except OSError:
        pass
    raise ContainerError(f"unable to find group {name}: no matching entries in group file")


def _passwd(rootfs: str) -> list[tuple[str, int, int, str]]:
    entries = []
    try:
        with open(os.path.join(rootfs, "etc/passwd"), encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) >= 6 and parts[2].isdigit() and parts[3].isdigit():
                    entries.append((parts[0], int(parts[2]), int(parts[3]), parts[5]))
    except OSError:
        pass
    return entries


def _resources(spec: Spec, opts: RunOptions) -> None:
    res = spec.linux.resources
    try:
        if opts.memory is not None:
            res.memory.limit = parse_size(opts.memory, "memory limit")
        if opts.memory_reservation is not None:
            res.memory.reservation = parse_size(opts.memory_reservation, "memory reservation")
        if opts.memory_swap is not None:
            res.memory.swap = _swap(opts.memory_swap, res.memory.limit)
        elif res.memory.limit is not None:
            res.memory.swap = 2 * res.memory.limit  # docker: as much swap as memory
    except ValueError as exc:
        raise ContainerError(str(exc)) from None
    if opts.pids_limit is not None:
        res.pids.limit = opts.pids_limit
    if opts.cpus is not None:
        ncpu = os.cpu_count() or 1
        if not 0.01 <= opts.cpus <= ncpu:
            raise ContainerError(f"invalid --cpus {opts.cpus}: the range is 0.01 to {ncpu}")
        res.cpu.period = 100_000
        res.cpu.quota = int(opts.cpus * 100_000)
    if opts.cpu_shares is not None:
        if opts.cpu_shares < 2:
            raise ContainerError(f"invalid --cpu-shares {opts.cpu_shares}: the minimum is 2")
        res.cpu.shares = opts.cpu_shares
    res.cpu.cpus = opts.cpuset_cpus
    res.cpu.mems = opts.cpuset_mems


def _swap(value: int | str, limit: int | None) -> int:
    if limit is None:
        raise ValueError("--memory-swap needs a memory limit (-m) too")
    if str(value).strip() == "-1":
        return -1
    swap = parse_size(value, "memory+swap limit")
    if swap < limit:
        raise ValueError("the memory+swap limit must not be smaller than the memory limit")
    return swap


def _namespaces(spec: Spec, opts: RunOptions) -> None:
    if opts.network == "host":
        spec.linux.namespaces = [ns for ns in spec.linux.namespaces if ns.type != "network"]
        spec.mounts = [m for m in spec.mounts if m.destination != "/sys"] + [
            Mount("/sys", "bind", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"])]
    elif opts.network != "none":
        raise ContainerError(f"unknown network {opts.network!r}: use none or host")
    if opts.uidmap or opts.gidmap:
        spec.linux.namespaces.insert(0, Namespace("user"))
        spec.linux.uid_mappings = [_mapping(m) for m in opts.uidmap or opts.gidmap]
        spec.linux.gid_mappings = [_mapping(m) for m in opts.gidmap or opts.uidmap]


def _mapping(text: str) -> IdMapping:
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or int(parts[2]) == 0:
        raise ContainerError(f"invalid id mapping {text!r}: use CONTAINER:HOST:SIZE")
    return IdMapping(int(parts[0]), int(parts[1]), int(parts[2]))
