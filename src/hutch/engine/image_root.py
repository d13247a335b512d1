"""A container's root filesystem from an image: the image's layers as overlayfs lower directories and a fresh
upper and work directory under hutch's --root (containers/NAME/), removed with the container.

The overlay is mounted in a mount namespace of `hutch run`'s own (private, following the host's mounts as a
slave), which the container's namespace is copied from: the mount never appears on the host and goes away
with the last process that uses it, even when hutch is killed. The image config supplies what docker takes
from it: Entrypoint, Cmd, Env, WorkingDir, User (names looked up in the image's /etc/passwd and /etc/group),
StopSignal; `hutch run`'s flags override them as docker's do.
"""

from __future__ import annotations

import json
import os
import shutil

from hutch.files import write_atomic
from hutch.linux import syscalls as sc
from hutch.oci.errors import ContainerError, step
from hutch.record import Record

# mount(2) takes one page of options; each lower directory costs its relative path plus a ":".
MOUNT_DATA_LIMIT = 4096 - 1


class ImageRoot(Record):
    merged: str  # the container's root
    directory: str  # ROOT/containers/NAME: upper/, work/, merged/
    config: dict  # the image config's "config" object (Entrypoint, Cmd, Env, ...)
    lock_fd: int = -1  # flock on ROOT/containers/NAME.lock, held while the container lives


def prepare(store_root: str, image_name: str, name: str) -> ImageRoot:
    """Mount the image's layers for container `name`; the caller removes it with `remove`."""
    from hutch.image.store import Store

    store = Store(store_root)
    record = store.get_image(image_name)
    if record is None:
        raise ContainerError(f"no such image: {image_name}")
    image_config = json.loads(store.read_blob(record.config))
    directory = os.path.join(store_root, "containers", name)
    lock_fd = _claim(directory, name)
    if os.path.exists(directory):
        shutil.rmtree(directory)  # a leftover of a killed `hutch run` of the same name: never reused
    for sub in ("upper", "work", "merged"):
        os.makedirs(os.path.join(directory, sub), mode=0o755)
    try:
        # What `hutch rmi` reads to keep the layers under a live container.
        write_atomic(os.path.join(directory, "layers.json"), json.dumps(record.diff_ids).encode())
        _private_mount_namespace()
        if not record.diff_ids:
            raise ContainerError(f"image {image_name} has no layers")
        _mount(os.path.join(store_root, "layers", "sha256"), record.diff_ids, directory, image_name)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        _release(directory, lock_fd)
        raise
    return ImageRoot(f"{directory}/merged", directory, image_config.get("config") or {}, lock_fd)


def _claim(directory: str, name: str) -> int:
    """The container directory's lock: a second `hutch run --name NAME` must not touch a live one's files."""
    import fcntl

    os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
    fd = os.open(directory + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ContainerError(f"the container name {name} is already in use") from None
    return fd


def layers_in_use(store_root: str) -> set[str]:
    """The diff IDs under every container's root (their containers/NAME/layers.json)."""
    used: set[str] = set()
    directory = os.path.join(store_root, "containers")
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return used
    for name in names:
        try:
            with open(os.path.join(directory, name, "layers.json"), "rb") as f:
                used.update(json.load(f))
        except (OSError, ValueError):
            continue
    return used


def _mount(layers_dir: str, diff_ids: list[str], directory: str, image_name: str) -> None:
    """The overlay: top layer first, as overlayfs wants. The lower directories are given relative to the layer
    store, so that about 55 fit in mount(2)'s one page of options; more go through the new mount API, one
    "lowerdir+" each (Linux 6.8 and later)."""
    names = [f"{d.partition(':')[2]}/diff" for d in reversed(diff_ids)]
    upper, work, merged = f"{directory}/upper", f"{directory}/work", f"{directory}/merged"
    options = f"lowerdir={':'.join(names)},upperdir={upper},workdir={work}"
    if len(options) > MOUNT_DATA_LIMIT:
        try:
            sc.mount_overlay(merged, [f"{layers_dir}/{n}" for n in names], upper, work)
        except OSError as exc:
            raise ContainerError(f"image {image_name} has {len(diff_ids)} layers, more than mount(2) takes, "
                                 f"and this kernel cannot mount them one by one ({exc.strerror}; Linux 6.8 "
                                 "can)") from None
        return
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(layers_dir)
        with step("mount the image's layers"):
            sc.mount("overlay", merged, "overlay", 0, options)
    finally:
        os.fchdir(cwd)
        os.close(cwd)


def remove(root: ImageRoot) -> None:
    try:
        sc.umount2(root.merged, sc.MNT_DETACH)
    except OSError:
        pass
    shutil.rmtree(root.directory, ignore_errors=True)
    _release(root.directory, root.lock_fd)


def _release(directory: str, lock_fd: int) -> None:
    try:
        os.unlink(directory + ".lock")  # while still holding it: the next claimer makes a fresh one
    except FileNotFoundError:
        pass
    os.close(lock_fd)


def _private_mount_namespace() -> None:
    """A mount namespace of this process's own, receiving the host's mounts but sending none back."""
    with step("create a private mount namespace"):
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)


def command(config: dict, entrypoint: str | None, args: list[str]) -> list[str]:
    """docker's rule: ENTRYPOINT + CMD; `--entrypoint` replaces the first and drops the image's CMD; a
    command after the image replaces CMD."""
    if entrypoint is not None:
        head = [entrypoint] if entrypoint else []
        tail = args
    else:
        head = list(config.get("Entrypoint") or [])
        tail = args or list(config.get("Cmd") or [])
    full = head + tail
    if not full:
        raise ContainerError("no command specified: the image has none, give one after the image name")
    return full


def environment(config: dict, overrides: list[str]) -> list[str]:
    """The image's Env, then the -e values (a later value of a key wins)."""
    env: dict[str, str] = {}
    for item in [*(config.get("Env") or []), *overrides]:
        key, _, _ = item.partition("=")
        env[key] = item
    return list(env.values())
