"""tmpcopyup: a tmpfs that starts as a copy of what the root filesystem had at its destination."""

from __future__ import annotations

import errno
import os
import stat

from hutch.linux import syscalls as sc
from hutch.oci.errors import ContainerError, describe
from hutch.oci.rootfs import mountopts
from hutch.oci.rootfs.paths import fd_path, open_inside

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.oci.config.spec import Mount

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Owners the container's user namespace cannot show (EINVAL), or that the caller may not give (EPERM),
# stay the caller's; xattrs that tmpfs or the caller cannot have are left out.
_SKIP_OWNER = (errno.EINVAL, errno.EPERM)
_SKIP_XATTR = (errno.EOPNOTSUPP, errno.EPERM, errno.EINVAL, errno.EACCES)


def mount_tmpfs(m: Mount, root: str, dest: str, opts: mountopts.MountOptions) -> None:
    """Mount the tmpfs straight on `dest`, then copy into it through a descriptor of the directory opened
    before the mount: a lookup from that descriptor stays in the root filesystem's directory under the
    tmpfs. No scratch directory, no path looked up again: every step is relative to a descriptor, none follows
    a symlink, so nothing is read or written outside the container's root filesystem."""
    lower = open_inside(root, dest, "dir")
    try:
        with mountopts.mount_step("tmpfs", m.destination, m.options, opts.data):
            source = os.open(".", _DIR, dir_fd=lower)
            try:
                # Writable while it is filled; "ro" is applied once the copy is done.
                sc.mount(m.source or "tmpfs", fd_path(lower), "tmpfs", opts.flags & ~sc.MS_RDONLY,
                         opts.data or None)
                _fill(source, root, dest, m, opts)
            finally:
                os.close(source)
    finally:
        os.close(lower)


def _fill(source: int, root: str, dest: str, m: Mount, opts: mountopts.MountOptions) -> None:
    upper = open_inside(root, dest)  # opened afresh: the tmpfs just mounted
    try:
        target = os.open(".", _DIR, dir_fd=upper)
        try:
            _copy_dir(source, target, target, "", {})
            _copy_root_attributes(source, target, opts.data)
        except OSError as exc:
            raise ContainerError(f"cannot copy {m.destination} of the root filesystem into its tmpfs "
                                 f"(tmpcopyup): {describe(exc)}{_name(exc)}") from None
        finally:
            os.close(target)
        if opts.flags & sc.MS_RDONLY:
            flags = sc.MS_BIND | sc.MS_REMOUNT | (opts.flags & ~sc.MS_REC)
            sc.mount(None, fd_path(upper), None, flags | mountopts.locked_flags(fd_path(upper)))
    finally:
        os.close(upper)


def _name(exc: OSError) -> str:
    return f": {exc.filename}" if exc.filename else ""


def _copy_root_attributes(source: int, target: int, data: str) -> None:
    """The tmpfs's root gets the directory's owner and mode, unless the options set them (uid=, mode=)."""
    st = os.fstat(source)
    keys = {word.split("=", 1)[0] for word in data.split(",")}
    if "uid" not in keys and "gid" not in keys:
        _chown(target, st)
    if "mode" not in keys:
        os.fchmod(target, stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_dir(src: int, dst: int, top: int, rel: str, links: dict[tuple[int, int], str]) -> None:
    """Copy the entries of directory `src` into `dst`. `top` is the tmpfs's root and `rel` the path of `dst`
    below it: a file with several links is linked again to its first copy (`links`)."""
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        mode = st.st_mode
        path = f"{rel}{name}"
        try:
            if stat.S_ISDIR(mode):
                os.mkdir(name, 0o700, dir_fd=dst)
                _copy_subdir(src, dst, top, name, path, links)
            elif st.st_nlink > 1 and not stat.S_ISDIR(mode) and (st.st_dev, st.st_ino) in links:
                os.link(links[st.st_dev, st.st_ino], name, src_dir_fd=top, dst_dir_fd=dst,
                        follow_symlinks=False)
                continue
            elif stat.S_ISREG(mode):
                _copy_file(src, dst, name, st)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
                _chown_name(dst, name, st)
                os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
            else:  # devices, FIFOs, sockets
                os.mknod(name, mode, st.st_rdev, dir_fd=dst)
                _chown_name(dst, name, st)
                os.chmod(name, stat.S_IMODE(mode), dir_fd=dst)
                os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst)
        except OSError as exc:
            if not exc.filename:
                exc.filename = path
            raise
        if st.st_nlink > 1 and not stat.S_ISDIR(mode):
            links[st.st_dev, st.st_ino] = path


def _copy_subdir(src: int, dst: int, top: int, name: str, path: str,
                 links: dict[tuple[int, int], str]) -> None:
    inner_src = os.open(name, _DIR, dir_fd=src)
    try:
        inner_dst = os.open(name, _DIR, dir_fd=dst)
        try:
            _copy_dir(inner_src, inner_dst, top, path + "/", links)
            _copy_metadata(inner_src, inner_dst, os.fstat(inner_src))
        finally:
            os.close(inner_dst)
    finally:
        os.close(inner_src)


def _copy_metadata(src: int, dst: int, st: os.stat_result) -> None:
    """Owner, mode, extended attributes and times of `st` (the file open at `src`) onto `dst`."""
    _chown(dst, st)  # before the mode: chown clears the set-id bits
    os.fchmod(dst, stat.S_IMODE(st.st_mode))
    _copy_xattrs(src, dst)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_file(src: int, dst: int, name: str, st: os.stat_result) -> None:
    fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
    try:
        fout = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                       dir_fd=dst)
        try:
            while os.sendfile(fout, fin, None, 1 << 30) > 0:
                pass
            _copy_metadata(fin, fout, st)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _chown(fd: int, st: os.stat_result) -> None:
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except OSError as exc:
        if exc.errno not in _SKIP_OWNER:
            raise


def _chown_name(dirfd: int, name: str, st: os.stat_result) -> None:
    try:
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dirfd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _SKIP_OWNER:
            raise


def _copy_xattrs(src: int, dst: int) -> None:
    try:
        names = os.listxattr(src)
    except OSError as exc:
        if exc.errno in _SKIP_XATTR:
            return
        raise
    for key in names:
        try:
            os.setxattr(dst, key, os.getxattr(src, key))
        except OSError as exc:
            if exc.errno not in _SKIP_XATTR and exc.errno != errno.ENODATA:
                raise
