"""Shared pieces of the interop tests: the image, leftover scans, a pty driver, the runtime-call logger.

The engines (podman_engine.py, containerd_engine.py) run real daemons and monitors that daemonize (conmon,
containerd-shim-runc-v2), so the test process's own descendants are not enough to find what a test left
behind. Leftovers are found instead by what they mention: every process, mount and state path an engine
instance makes names its private base directory, its socket, or a container ID of the test.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import platform
import select
import signal
import struct
import subprocess
import sys
import tarfile
import termios
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from hutchtest import MNT_DETACH, TIME_SCALE, CgroupFs, libc, remove_cgroup

from hutch.linux.mountinfo import read as read_mountinfo

IMAGE = "localhost/hutch-busybox:latest"
IMAGE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
LOGGER_TEMPLATE = Path(__file__).parent / "runtime_logger.py"


def short_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def run(argv: list[str], timeout: float = 60, check: bool = False, **kw) -> subprocess.CompletedProcess:
    """Run a command with text output captured; a hang fails the test instead of stalling it."""
    kw.setdefault("stdin", None if "input" in kw else subprocess.DEVNULL)
    kw.setdefault("capture_output", True)
    result = subprocess.run(argv, text=True, timeout=timeout * TIME_SCALE, check=False, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}: {result.stderr.strip()}")
    return result


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            if not value:
                raise AssertionError(
                    f"timed out after {timeout * TIME_SCALE:.0f}s waiting for {what or predicate}"
                )
            return value
        time.sleep(0.05)


# -------------------------------------------------------------------------------- the image


def oci_arch() -> str:
    machine = platform.machine()
    return {
        "x86_64": "amd64",
        "aarch64": "arm64",
        "armv7l": "arm",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
    }.get(machine, machine)


def write_layer_tar(rootfs: Path, out: Path) -> Path:
    """An uncompressed image layer of `rootfs`: paths relative to its root, owned by root, sorted."""

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = Path(dirpath) / name
                tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False, filter=owned_by_root)
    return out


def write_oci_archive(layer: Path, out: Path, name: str = IMAGE) -> Path:
    """An OCI image-layout tar (one layer) for `ctr images import`, named by containerd's annotation."""
    layer_bytes = layer.read_bytes()

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def dumps(obj: object) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    config = dumps(
        {
            "architecture": oci_arch(),
            "os": "linux",
            "config": {"Env": IMAGE_ENV, "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [digest(layer_bytes)]},
        }
    )
    manifest = dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer_bytes),
                    "size": len(layer_bytes),
                }
            ],
        }
    )
    index = dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": oci_arch(), "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
                    },
                }
            ],
        }
    )
    with tarfile.open(out, "w") as tar:
        for arcname, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)] + [
            (f"blobs/sha256/{digest(blob)[7:]}", blob) for blob in (config, manifest, layer_bytes)
        ]:
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


# -------------------------------------------------------------------------------- the runtime under test


def logging_runtime(runtime: Path, log: Path, directory: Path) -> Path:
    """A wrapper that logs every call (argv, cwd, fds, environment) to `log`, then runs `runtime`.

    It gets the runtime's own file name: podman decides from the name whether a runtime accepts
    `--log-format=json` (containers.conf runtime_supports_json), so a renamed wrapper changes podman's calls.
    """
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / runtime.name
    text = LOGGER_TEMPLATE.read_text()
    text = text.replace("@PYTHON@", sys.executable).replace("@REAL@", str(runtime)).replace("@LOG@", str(log))
    wrapper.write_text(text)
    wrapper.chmod(0o755)
    return wrapper


def runtime_state_exists(runtime: Path, container_id: str, root: Path | None = None) -> bool:
    """Whether the runtime still knows the container: its `state` succeeds."""
    argv = [str(runtime)] + (["--root", str(root)] if root else []) + ["state", container_id]
    return run(argv, timeout=30).returncode == 0


def force_delete(runtime: Path, container_ids: Iterable[str], root: Path | None = None) -> None:
    """Make the runtime forget containers it still knows (teardown after a failed test)."""
    for cid in container_ids:
        if runtime_state_exists(runtime, cid, root):
            root_args = ["--root", str(root)] if root else []
            run([str(runtime), *root_args, "delete", "--force", cid], timeout=30)


# -------------------------------------------------------------------------------- leftovers


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def all_pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def processes_mentioning(needles: Iterable[str], ignore: set[int] = frozenset()) -> dict[int, str]:
    """Live (not zombie) processes whose command line contains any of `needles`."""
    needles = [n for n in needles if n]
    found = {}
    for pid in all_pids() - ignore - {os.getpid()}:
        text = cmdline(pid)
        if text and any(n in text for n in needles) and not is_zombie(pid):
            found[pid] = text
    return found


def is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def mounts_mentioning(needles: Iterable[str]) -> list[str]:
    """Mount points (host mount namespace) whose mount point, root or source contains any of `needles`."""
    needles = [n for n in needles if n]
    return [
        m.mount_point
        for m in read_mountinfo()
        if any(n in f"{m.mount_point} {m.root} {m.source}" for n in needles)
    ]


def mounted_at(path: Path) -> bool:
    return any(m.mount_point == str(path) for m in read_mountinfo())


def cgroup_dirs(cg: CgroupFs, relative: str) -> list[Path]:
    """The directory of cgroup `relative` (e.g. "hutch/podman-x") in every hierarchy where it exists."""
    relative = relative.strip("/")
    return [h.mountpoint / relative for h in cg.hierarchies if (h.mountpoint / relative).is_dir()]


def cgroup_tree(cg: CgroupFs, relative: str) -> list[Path]:
    """Every cgroup directory at or below `relative`, in every hierarchy."""
    found = []
    for top in cgroup_dirs(cg, relative):
        for dirpath, _, _ in os.walk(top):
            found.append(Path(dirpath))
    return found


def cgroup_procs(cg: CgroupFs, relative: str) -> list[int]:
    pids: set[int] = set()
    for path in cgroup_tree(cg, relative):
        with contextlib.suppress(OSError):
            pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
    return sorted(pids)


def process_cgroup(pid: int, controller: str | None) -> str:
    """The cgroup path of `pid` in the hierarchy of `controller` (v1), or the unified one (None)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if (controller is None and controllers == "") or (
                controller and controller in controllers.split(",")
            ):
                return path
    raise LookupError(f"process {pid} has no {controller or 'unified'} cgroup")


def is_frozen(cg: CgroupFs, pid: int) -> bool:
    """Whether the freezer holds `pid`'s cgroup frozen: v1 freezer.state, else v2 cgroup.events."""
    try:
        hierarchy = cg.hierarchy("freezer")
    except LookupError:
        hierarchy = next(h for h in cg.hierarchies if h.version == 2)
    if hierarchy.version == 1:
        path = hierarchy.mountpoint / process_cgroup(pid, "freezer").lstrip("/")
        return (path / "freezer.state").read_text().strip() == "FROZEN"
    path = hierarchy.mountpoint / process_cgroup(pid, None).lstrip("/")
    return "frozen 1" in (path / "cgroup.events").read_text()


def kill_pids(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def detach_mounts(mount_points: Iterable[str]) -> list[str]:
    """Detach mounts, deepest first; returns the ones that could not be detached."""
    failed = []
    for mp in sorted(set(mount_points), key=len, reverse=True):
        if libc.umount2(os.fsencode(mp), MNT_DETACH) != 0:
            failed.append(mp)
    return failed


def remove_cgroup_tree(cg: CgroupFs, relative: str) -> None:
    for path in cgroup_dirs(cg, relative):
        remove_cgroup(path)


# -------------------------------------------------------------------------------- terminals


def run_in_pty(argv: list[str], timeout: float = 30, **kw) -> tuple[int, str]:
    """Run `argv` with a new pty as its stdin, stdout and stderr; return its exit code and all it printed."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, **kw)
    finally:
        os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout * TIME_SCALE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every slave descriptor is closed
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"{argv} did not finish within {timeout}s; output so far: {bytes(output)!r}")
        return proc.wait(timeout=10), output.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -------------------------------------------------------------------------------- a counter to watch


def counter_script(path: str) -> str:
    """Shell that appends a line to `path` every 20 ms, forever: a paused container stops adding lines.

    Appending (not rewriting) means a container frozen in the middle of an iteration never leaves the file
    empty or half-written.
    """
    return f"while :; do echo tick >> {path}; usleep 20000; done"


def read_counter(path: Path) -> int:
    """How many lines the counter has written so far."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
