"""The container's mount namespace: root preparation, spec mounts, devices, pivot_root, masked paths."""

from __future__ import annotations

import os
import stat

from hutch.linux import syscalls as sc
from hutch.oci.config.spec import Mount, Spec
from hutch.oci.errors import ContainerError, step
from hutch.oci.process import steps
from hutch.oci.rootfs import mountopts
from hutch.oci.rootfs.devices import create_devices, create_symlinks
from hutch.oci.rootfs.paths import ensure_dir, fd_path, open_inside, secure_join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

HOST_STAGING = "/tmp"  # in the private mount namespace a tmpfs here holds the new root of host mode
_HOST_ROOT = "/tmp/.hutch-root"


def setup(spec: Spec, rootfs: str, in_userns: bool, cgroup_dirs: list[tuple[str, str]] | None = None,
          no_pivot: bool = False, before_pivot: Callable[[], None] | None = None) -> None:
    """Build the container's filesystem view in the current (new) mount namespace and pivot into it.

    `cgroup_dirs` are the container's own cgroup directories on the host, each with the name of its hierarchy
    under /sys/fs/cgroup ("" on a pure v2 host): a spec's `cgroup` mount shows them. `before_pivot` runs
    once every mount is made, while the host's root is still the root (the createContainer hooks).
    """
    propagation = _make_private(spec.linux.rootfs_propagation)
    if propagation and rootfs != "/" and (propagation & sc.MS_SHARED or not propagation & sc.MS_REC):
        # Some mounts may still be peers of the host's: keep the root filesystem's bind, and every mount made
        # on it, off the host (as runc does); pivot_root refuses a shared parent anyway.
        _make_parent_private(rootfs)
    root = _prepare_root(rootfs, spec.root.readonly)
    if rootfs == "/":
        _detach_covered_mounts(root, spec.mounts)
    _populate(spec, root, in_userns, cgroup_dirs or [], before_pivot)
    # From the pivot on, a module not yet imported (or a source file read for a --debug traceback of a
    # failure below) would come from the container's files: close the import system first.
    steps.seal_imports()
    if no_pivot:
        _move_root(root)
    else:
        _pivot(root)
    if propagation:
        with step(f"set the propagation of / to {spec.linux.rootfs_propagation}"):
            sc.mount(None, "/", None, propagation)
    if spec.root.readonly and rootfs != "/":
        with step("remount the root filesystem read-only"):
            flags = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | mountopts.locked_flags("/")
            sc.mount(None, "/", None, flags)


def setup_without_namespace(spec: Spec, rootfs: str, in_userns: bool,
                            cgroup_dirs: list[tuple[str, str]] | None = None,
                            before_pivot: Callable[[], None] | None = None) -> None:
    """No mount namespace of the container's own (none in the spec, or one joined by path): as runc does,
    the spec's mounts are made under the root filesystem where it is, and the process chroots into it.
    Nothing is made private or pivoted, so nothing changes for the other processes of that namespace;
    `delete` detaches the mounts (detach_container_mounts)."""
    if spec.root.readonly:
        raise ContainerError("root.readonly needs a mount namespace of the container's own")
    root = os.path.realpath(rootfs)
    _populate(spec, root, in_userns, cgroup_dirs or [], before_pivot)
    steps.seal_imports()
    with step(f"chroot into {root}"):
        os.chroot(root)
        os.chdir("/")


def _populate(spec: Spec, root: str, in_userns: bool, cgroup_dirs: list[tuple[str, str]],
              before_pivot: Callable[[], None] | None) -> None:
    """The spec's mounts and devices under `root`, then `before_pivot` (the createContainer hooks)."""
    for m in spec.mounts:
        mount_entry(root, m, cgroup_dirs)
    if _has_dev_tmpfs(spec):
        create_devices(root, spec.linux.devices, bind=in_userns)
        create_symlinks(root)
    elif spec.linux.devices:
        create_devices(root, spec.linux.devices, bind=True)
    if before_pivot is not None:
        before_pivot()


def detach_container_mounts(rootfs: str) -> None:
    """Detach every mount below `rootfs` (those setup_without_namespace made in a shared namespace)."""
    from hutch.linux import mountinfo

    root = os.path.realpath(rootfs)
    if root == "/":
        return  # the host's root: nothing below it is the container's alone
    prefix = root + "/"
    points = sorted({e.mount_point for e in mountinfo.read() if e.mount_point.startswith(prefix)},
                    key=len, reverse=True)
    for point in points:
        try:
            sc.umount2(point, sc.MNT_DETACH)
        except OSError:
            pass  # gone with a parent detached before it


def protect_paths(spec: Spec) -> None:
    """The spec's masked and read-only paths, once the init has set its sysctls (under /proc/sys)."""
    for path in spec.linux.masked_paths:
        _mask(path)
    for path in spec.linux.readonly_paths:
        _make_readonly(path)


def _make_private(propagation: str | None) -> int:
    """Apply the spec's rootfsPropagation (default: rprivate) to all mounts; return its flags (0: default)."""
    flags = mountopts.parse([propagation]).propagation if propagation else 0
    # An unbindable root could not be bound to itself: it becomes unbindable after the pivot.
    early = flags if flags and not flags & sc.MS_UNBINDABLE else sc.MS_REC | sc.MS_PRIVATE
    with step("make the mounts private"):
        sc.mount(None, "/", None, early)
    return flags


def _make_parent_private(path: str) -> None:
    """Make the mount that holds `path` private if it is shared (the topmost one at the longest prefix)."""
    from hutch.linux import mountinfo

    path = os.path.realpath(path)
    parent = None
    for entry in mountinfo.read():
        point = entry.mount_point
        if (path == point or path.startswith(point.rstrip("/") + "/")) and (
                parent is None or len(point) >= len(parent.mount_point)):
            parent = entry
    if parent is not None and any(f.startswith("shared:") for f in parent.optional_fields):
        with step(f"make the mount {parent.mount_point} private"):
            sc.mount(None, parent.mount_point, None, sc.MS_PRIVATE)


def _prepare_root(rootfs: str, readonly: bool) -> str:
    """Make `rootfs` a mount point to pivot into; "/" means the host's own root (read-only in host mode)."""
    if rootfs == "/":
        with step(f"mount a staging tmpfs on {HOST_STAGING}"):
            sc.mount("tmpfs", HOST_STAGING, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "mode=0700,size=16k")
            os.mkdir(_HOST_ROOT, 0o755)
        with step("bind the host's root filesystem"):
            sc.mount("/", _HOST_ROOT, None, sc.MS_BIND | sc.MS_REC)
        if readonly:
            with step("make the host's root filesystem read-only"):
                sc.mount_setattr(_HOST_ROOT, sc.MOUNT_ATTR_RDONLY, recursive=True)
        return _HOST_ROOT
    with step(f"access the root filesystem {rootfs}"):
        if not stat.S_ISDIR(os.stat(rootfs).st_mode):
            raise ContainerError(f"root filesystem {rootfs} is not a directory")
    with step(f"bind the root filesystem {rootfs}"):
        sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    return rootfs


def _detach_covered_mounts(root: str, mounts: list[Mount]) -> None:
    """Host mode: drop the host's mounts (and their submounts) that the spec mounts over anyway."""
    from hutch.linux import mountinfo

    covered = {root + m.destination.rstrip("/") for m in mounts if m.type != "bind"}
    for entry in mountinfo.read():
        if entry.mount_point in covered:
            try:
                sc.umount2(entry.mount_point, sc.MNT_DETACH)
            except OSError:
                pass  # already gone with a parent that was detached first
            covered.discard(entry.mount_point)


def _has_dev_tmpfs(spec: Spec) -> bool:
    return any(m.destination.rstrip("/") == "/dev" and m.type == "tmpfs" for m in spec.mounts)


def prepare_mounts(spec: Spec) -> None:
    """In the runtime's child, before it enters the container's namespaces: the mounts that only the host's
    privileges can make (idmapped ones, see idmap.py), for mount_entry to attach."""
    if any(m.uid_mappings or m.gid_mappings or {"idmap", "ridmap"} & set(m.options) for m in spec.mounts):
        from hutch.oci.rootfs import idmap

        idmap.prepare(spec)


def mount_entry(root: str, m: Mount, cgroup_dirs: list[tuple[str, str]]) -> None:
    opts = mountopts.parse(m.options)
    dest = secure_join(root, m.destination)
    if opts.is_bind or m.type == "bind":
        mountopts.refuse_data(f"bind {m.source} on {m.destination}", "bind", opts)
        _bind_mount(m, root, dest, opts)
    elif m.type == "cgroup":
        mountopts.refuse_data(f"mount the container's cgroups on {m.destination}", "cgroup", opts)
        _mount_cgroup(m, root, dest, opts, cgroup_dirs)
    elif opts.tmpcopyup and m.type == "tmpfs":
        from hutch.oci.rootfs import copyup  # only here, before the pivot: imported from the host

        copyup.mount_tmpfs(m, root, dest, opts)
    else:
        with mountopts.mount_step(m.type or m.source or "", m.destination, m.options, opts.data):
            _mount_inside(root, dest, "dir", m.source or m.type, m.type, opts.flags, opts.data or None)
    if opts.attr_set or opts.attr_clr:
        with step(f"set the recursive mount attributes of {m.destination}"):
            _set_attributes(root, dest, opts.attr_set, opts.attr_clr)
    if opts.propagation:
        with step(f"set the propagation of {m.destination}"):
            _mount_inside(root, dest, "", None, None, opts.propagation)


def _mount_inside(root: str, dest: str, create: str, source: str | None, fstype: str | None, flags: int,
                  data: str | None = None) -> None:
    """mount(2) on `dest` through a descriptor opened inside `root` without following symlinks, so that a
    directory of the path swapped for a symlink meanwhile cannot send the mount out of the root
    (CVE-2021-30465). Opened afresh, the descriptor is what is mounted there already: remounts go there."""
    fd = open_inside(root, dest, create)
    try:
        target = fd_path(fd)
        if flags & sc.MS_REMOUNT and flags & sc.MS_BIND:
            flags |= mountopts.locked_flags(target)
        sc.mount(source, target, fstype, flags, data)
    finally:
        os.close(fd)


def _bind_mount(m: Mount, root: str, dest: str, opts: mountopts.MountOptions) -> None:
    source = m.source or ""
    with step(f"bind {source} on {m.destination}"):
        kind = "dir" if os.path.isdir(source) else "file"
        if opts.idmap or m.uid_mappings or m.gid_mappings:
            from hutch.oci.rootfs import idmap  # imported by prepare_mounts already

            idmap.attach(m, root, dest, kind)
        else:
            _mount_inside(root, dest, kind, source, None, sc.MS_BIND | (opts.flags & sc.MS_REC))
        extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
        if extra:
            _mount_inside(root, dest, "", None, None, sc.MS_BIND | sc.MS_REMOUNT | extra)
        if opts.flags & sc.MS_RDONLY and opts.flags & sc.MS_REC and not opts.attr_clr & sc.MOUNT_ATTR_RDONLY:
            _set_attributes(root, dest, sc.MOUNT_ATTR_RDONLY, 0)  # "rbind,ro": the submounts too


def _set_attributes(root: str, dest: str, attr_set: int, attr_clr: int) -> None:
    """mount_setattr(AT_RECURSIVE) on the mount at `dest` and every mount below it."""
    fd = open_inside(root, dest)
    try:
        sc.mount_setattr("", attr_set, attr_clr, recursive=True, dirfd=fd)
    finally:
        os.close(fd)


def _mount_cgroup(m: Mount, root: str, dest: str, opts: mountopts.MountOptions,
                  cgroup_dirs: list[tuple[str, str]]) -> None:
    """Show the container its own cgroups, as runc does: bind mounts of the container's cgroup directories.

    Pure v2: the one directory on `dest`. v1 and hybrid: a tmpfs on `dest` with one bind mount per hierarchy,
    named as on the host (cpu,cpuacct, memory, ..., unified), plus symlinks for co-mounted controllers
    (cpu -> cpu,cpuacct). Read-only when the spec says "ro", as specs do.
    """
    flags = opts.flags & (sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    with step(f"mount the container's cgroups on {m.destination}"):
        if len(cgroup_dirs) == 1 and not cgroup_dirs[0][0]:
            _mount_inside(root, dest, "dir", cgroup_dirs[0][1], None, sc.MS_BIND)
            _mount_inside(root, dest, "", None, None, sc.MS_BIND | sc.MS_REMOUNT | flags)
            return
        tmpfs_flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
        _mount_inside(root, dest, "dir", "tmpfs", "tmpfs", tmpfs_flags, "mode=755")
        fd = open_inside(root, dest)
        try:
            _fill_cgroup_tmpfs(fd_path(fd), cgroup_dirs, flags)
        finally:
            os.close(fd)


def _fill_cgroup_tmpfs(tmpfs: str, cgroup_dirs: list[tuple[str, str]], flags: int) -> None:
    """The tmpfs just mounted is hutch's alone: paths below its descriptor's path need no more care."""
    names = [name for name, _ in cgroup_dirs]
    for name, directory in cgroup_dirs:
        ensure_dir(f"{tmpfs}/{name}")
        _bind_readonly(directory, f"{tmpfs}/{name}", flags)
        for alias in name.split(","):
            if alias != name and alias not in names and not os.path.lexists(f"{tmpfs}/{alias}"):
                os.symlink(name, f"{tmpfs}/{alias}")
    if flags & sc.MS_RDONLY:
        locked = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
        sc.mount(None, tmpfs, None, sc.MS_REMOUNT | locked, "mode=755")


def _bind_readonly(source: str, dest: str, flags: int) -> None:
    sc.mount(source, dest, None, sc.MS_BIND)
    sc.mount(None, dest, None, sc.MS_BIND | sc.MS_REMOUNT | flags | mountopts.locked_flags(dest))


def _move_root(root: str) -> None:
    """--no-pivot: move the root over / and chroot into it (a rootfs on a ramdisk cannot be pivoted)."""
    with step(f"move the root filesystem {root} to /"):
        os.chdir(root)
        sc.mount(root, "/", None, sc.MS_MOVE)
        os.chroot(".")
        os.chdir("/")


def _pivot(root: str) -> None:
    with step(f"pivot_root into {root}"):
        os.chdir(root)
        sc.pivot_root(".", ".")
        # The old root now sits on top of the new one: detach it without propagating to the host.
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")


def _mask(path: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    with step(f"mask {path}"):
        if stat.S_ISDIR(st.st_mode):
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY, None)
        else:
            _bind_null(path)


_NULL_DEVICE = os.makedev(1, 3)


def _bind_null(path: str) -> None:
    """Bind the container's /dev/null over `path`, and only the null device: the image or a mount may have
    made /dev/null a symlink or another node, and a bind of that, say of /proc/sys/kernel/core_pattern, would
    be a writable copy of what the mask should hide (CVE-2025-31133). The bind goes through the descriptor
    that was checked; what is at `path` afterwards is checked again, for a /proc that is not the kernel's."""
    null = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _require_null(os.fstat(null), path, "/dev/null")
        source = fd_path(null)
        sc.mount(source if os.path.exists(source) else "/dev/null", path, None, sc.MS_BIND)
    finally:
        os.close(null)
    _require_null(os.stat(path), path, "what was bound over it")


def _require_null(st: os.stat_result, path: str, what: str) -> None:
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != _NULL_DEVICE:
        raise ContainerError(f"cannot mask {path}: {what} is not the null device")


def _make_readonly(path: str) -> None:
    if not os.path.exists(path):
        return
    with step(f"make {path} read-only"):
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
        flags = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | mountopts.locked_flags(path)
        sc.mount(None, path, None, flags)
