"""Idmapped bind mounts (the idmap and ridmap options, a mount's uidMappings/gidMappings): made detached while
the runtime is still privileged on the host, attached where the spec puts them by the container's init."""

from __future__ import annotations

import errno
import os

from hutch.linux import syscalls as sc
from hutch.oci.errors import ContainerError, describe
from hutch.oci.rootfs import mountopts
from hutch.oci.rootfs.paths import open_inside

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.oci.config.linux import IdMapping
    from hutch.oci.config.spec import Mount, Spec

# id() of a spec mount -> descriptor of its idmapped copy (open_tree). prepare() runs in the runtime's child
# before it enters the container's namespaces; the init, forked from that child, inherits the descriptors
# (close-on-exec) with this table and attach()es each one.
_TREES: dict[int, int] = {}

_SIGKILL = 9
_HINTS = {
    errno.EINVAL: " (does its filesystem support idmapped mounts on this kernel?)",
    errno.EPERM: " (idmapped mounts need a runtime that is root on the host)",
    errno.ENOSYS: " (idmapped mounts need Linux 5.12 or later)",
}


def wanted(m: Mount) -> bool:
    """Whether the mount is idmapped: runc's rule, mappings on the mount imply the "idmap" option."""
    return bool(m.uid_mappings or m.gid_mappings) or "idmap" in m.options or "ridmap" in m.options


def supported() -> bool:
    """Whether the kernel has mount_setattr(2) and with it MOUNT_ATTR_IDMAP (for `features`)."""
    try:
        sc.mount_setattr("", 0, 0, False, dirfd=-1)
    except OSError as exc:
        return exc.errno != errno.ENOSYS
    return True


def prepare(spec: Spec) -> None:
    """Make a detached, idmapped copy of the source of every idmapped mount of the spec.

    Only a process privileged over the source's filesystem (over its user namespace: the host's) may set
    MOUNT_ATTR_IDMAP, and the container's init, root in the container's user namespace only, is not: this
    runs in the runtime's child before it enters that namespace, as runc's parent makes these mounts for its
    init. The sources are looked up in the host's mount namespace, which the container's is a copy of.
    """
    userns: dict[str, int] = {}
    try:
        for m in spec.mounts:
            if wanted(m):
                _TREES[id(m)] = _clone(m, _userns_fd(m, spec, userns))
    except BaseException:
        release()
        raise
    finally:
        for fd in userns.values():
            os.close(fd)


def attach(m: Mount, root: str, dest: str, kind: str) -> None:
    """Put the idmapped copy prepared for `m` on `dest` (a secure_join() result under `root`)."""
    tree = _TREES.pop(id(m), None)
    if tree is None:
        raise ContainerError(f"cannot mount {m.source} on {m.destination}: no idmapped copy was prepared")
    try:
        target = open_inside(root, dest, kind)
        try:
            sc.move_mount(tree, target)
        finally:
            os.close(target)
    except OSError as exc:
        raise ContainerError(f"cannot attach the idmapped mount of {m.source} on {m.destination}: "
                             f"{describe(exc)}") from None
    finally:
        os.close(tree)


def release() -> None:
    """Close the copies not attached (a failed setup)."""
    while _TREES:
        os.close(_TREES.popitem()[1])


def _clone(m: Mount, userns_fd: int) -> int:
    opts = mountopts.parse(m.options)
    source = m.source or ""
    if not (opts.is_bind or m.type == "bind"):
        raise ContainerError(f"cannot make the mount on {m.destination} idmapped: only bind mounts can be "
                             f"(its type is {m.type or 'none'} and its options have no bind or rbind)")
    flags = sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | (sc.AT_RECURSIVE if opts.flags & sc.MS_REC else 0)
    try:
        tree = sc.open_tree(source, flags)
    except OSError as exc:
        raise ContainerError(f"cannot bind {source} on {m.destination}: {describe(exc)}") from None
    try:
        # "ridmap" idmaps every mount of an rbind; "idmap" only the top one, as runc does.
        sc.mount_setattr("", sc.MOUNT_ATTR_IDMAP, 0, opts.idmap == "ridmap", dirfd=tree, userns_fd=userns_fd)
    except OSError as exc:
        os.close(tree)
        raise ContainerError(f"cannot make the mount of {source} on {m.destination} idmapped: "
                             f"{describe(exc)}{_HINTS.get(exc.errno or 0, '')}") from None
    return tree


def _userns_fd(m: Mount, spec: Spec, cache: dict[str, int]) -> int:
    """A user namespace whose mappings are the mount's, else (plain idmap/ridmap) the container's."""
    uids, gids = m.uid_mappings, m.gid_mappings
    if not (uids or gids):
        user = spec.linux.namespace("user")
        option = "ridmap" if "ridmap" in m.options else "idmap"
        if user is None:
            raise ContainerError(f"cannot make the mount on {m.destination} idmapped: {option} without the "
                                 "mount's own uidMappings and gidMappings uses the container's user "
                                 "namespace, and linux.namespaces has none")
        if user.path:
            if user.path not in cache:
                try:
                    cache[user.path] = os.open(user.path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as exc:
                    raise ContainerError(f"cannot open the user namespace {user.path} for the idmapped mount "
                                         f"on {m.destination}: {describe(exc)}") from None
            return cache[user.path]
        uids, gids = spec.linux.uid_mappings, spec.linux.gid_mappings
    maps = (_map_text(uids), _map_text(gids))
    key = "\0".join(maps)
    if key not in cache:
        try:
            cache[key] = _new_userns(*maps)
        except OSError as exc:
            raise ContainerError(f"cannot make a user namespace with the mappings of the idmapped mount on "
                                 f"{m.destination}: {describe(exc)}") from None
    return cache[key]


def _map_text(maps: list[IdMapping]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)


def _new_userns(uid_map: str, gid_map: str) -> int:
    """A descriptor of a new user namespace with these mappings: a child unshares one and waits until its
    parent has written the mappings and opened the namespace, then is killed (the namespace lives on in
    the descriptor)."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _hold(ready_r, ready_w, hold_r, hold_w)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(errno.EPERM, "the child could not unshare a user namespace")
        for name, text in (("uid_map", uid_map), ("gid_map", gid_map)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        try:
            os.kill(pid, _SIGKILL)  # our own child, not yet reaped: the PID cannot be someone else's
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


def _hold(ready_r: int, ready_w: int, hold_r: int, hold_w: int) -> None:
    """The child of _new_userns: never returns into the caller's code."""
    try:
        os.close(ready_r)
        os.close(hold_w)
        sc.unshare(sc.CLONE_NEWUSER)
        os.write(ready_w, b"1")
        os.read(hold_r, 1)  # end of file once the parent is done, or gone
    except BaseException:
        pass
    os._exit(0)
