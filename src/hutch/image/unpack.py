"""Layer unpacking that a hostile image cannot abuse: one streaming pass from a tar to a layer directory.

Entries keep their ownership, modes (setuid, setgid and sticky bits included), mtimes, xattrs (including
security.capability), hard links, symlinks, device nodes and FIFOs. Whiteouts become overlayfs whiteouts:
`.wh.NAME` a 0/0 character device NAME, `.wh..wh..opq` the trusted.overlay.opaque xattr on its directory.

An entry that would land outside the layer directory is refused with an error naming it: an absolute path or a
`..` component, a path through a symlink (the layer's own included: every directory on the way is opened
with O_NOFOLLOW from the layer's root, never looked up by a path the layer can redirect), a hard link to
anything outside. Symlink targets are kept as they are, absolute ones included: they are resolved in the
container's root, not here.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from hutch.image.errors import ImageError
from hutch.record import Record

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnpackError(ImageError):
    """A layer that cannot be unpacked safely or at all; the message names the entry."""


class Unpacked(Record):
    diff_id: str  # sha256 of the uncompressed tar stream, "sha256:<hex>"
    size: int  # bytes of the uncompressed stream
    entries: int


class _HashingReader:
    """The uncompressed stream as tarfile reads it, hashed on the way: the diff ID needs no second pass."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """tarfile stops at the end-of-archive blocks; the digest covers the whole stream, padding too."""
        while self.read(CHUNK):
            pass


def unpack(stream: BinaryIO, dest: str) -> Unpacked:
    """Unpack the uncompressed tar `stream` into the existing, empty directory `dest`."""
    reader = _HashingReader(stream)
    root = os.open(dest, _DIR_FLAGS)
    dirs = _Directories(root)
    count = 0
    try:
        directories: list[tuple[str, tarfile.TarInfo]] = []
        try:
            archive = tarfile.open(fileobj=reader, mode="r|", bufsize=CHUNK)  # type: ignore[call-overload]  # noqa: SIM115
        except tarfile.TarError as exc:
            raise UnpackError(f"not a tar archive: {exc}") from None
        with archive:
            for member in _members(archive):
                count += 1
                _extract(archive, member, dirs, directories)
        reader.drain()
        # A directory's mtime changes with every entry made in it: set them last, deepest first.
        for name, member in sorted(directories, key=lambda d: -d[0].count("/")):
            _apply_directory_times(dirs, name, member)
    finally:
        dirs.close()
    return Unpacked("sha256:" + reader.digest.hexdigest(), reader.size, count)


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    try:
        yield from archive
    except tarfile.TarError as exc:
        raise UnpackError(f"corrupt tar archive: {exc}") from None


def _clean_name(raw: str) -> str:
    """The entry's path relative to the layer root; refuses absolute paths and `..` components."""
    if raw.startswith("/"):
        raise UnpackError(f"refusing entry {raw!r}: an absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnpackError(f"refusing entry {raw!r}: a '..' component would leave the layer")
    return "/".join(parts)


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, dirs: _Directories,
             directories: list[tuple[str, tarfile.TarInfo]]) -> None:
    name = _clean_name(member.name)
    if not name:
        return  # the layer's root itself ("./"): its directory already exists
    parent_path, _, base = name.rpartition("/")
    parent = dirs.open(parent_path, member.name)
    try:
        if base == OPAQUE_MARKER:
            os.setxattr(f"/proc/self/fd/{parent}", OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_PREFIX):
            hidden = base[len(WHITEOUT_PREFIX) :]
            if not hidden or hidden in (".", ".."):
                raise UnpackError(f"refusing entry {member.name!r}: a whiteout of {hidden!r}, not a name")
            _replace(dirs, parent, hidden, f"{parent_path}/{hidden}" if parent_path else hidden)
            os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)
            return
        _create(archive, member, dirs, parent, base, name)
        if member.islnk():
            return  # the target's inode, with its metadata: a chown would drop its security.capability
        if member.isdir():
            directories.append((name, member))
        if not member.issym():
            _apply_metadata(parent, base, member)
        if not member.isdir():
            _apply_times(parent, base, member)
    except OSError as exc:
        raise UnpackError(f"cannot unpack {member.name!r}: {exc.strerror}") from None
    except tarfile.TarError as exc:
        raise UnpackError(f"corrupt or truncated layer at {member.name!r}: {exc}") from None


class _Directories:
    """Directory descriptors by path below the layer root, each opened once: walked one component at a time
    from the root without following a symlink, missing ones made (0755, as docker does). An entry that
    replaces or removes something first forgets that path and everything cached below it."""

    def __init__(self, root: int) -> None:
        self.fds: dict[str, int] = {"": root}

    def open(self, path: str, entry: str) -> int:
        fd = self.fds.get(path)
        if fd is not None:
            return fd
        parent_path, _, component = path.rpartition("/")
        parent = self.open(parent_path, entry)
        try:
            fd = os.open(component, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            os.mkdir(component, 0o755, dir_fd=parent)
            fd = os.open(component, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnpackError(f"refusing entry {entry!r}: {component!r} on its path is not a "
                                  "directory (a symlink would lead out of the layer)") from None
            raise
        self.fds[path] = fd
        return fd

    def forget(self, path: str) -> None:
        below = path + "/"
        for key in [k for k in self.fds if k == path or k.startswith(below)]:
            if key:
                os.close(self.fds.pop(key))

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _replace(dirs: _Directories, parent: int, base: str, name: str) -> None:
    """Clear the way for a new entry at `name`: a directory there is forgotten by the cache, then removed."""
    try:
        st = os.stat(base, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        dirs.forget(name)
    _remove(parent, base)


def _remove(parent: int, name: str) -> None:
    """Remove what is at name (a later entry replaces an earlier one), a directory tree included."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        try:
            for child in os.listdir(fd):
                _remove(fd, child)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def _create(archive: tarfile.TarFile, member: tarfile.TarInfo, dirs: _Directories, parent: int, base: str,
            name: str) -> None:
    if member.isdir():
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                return  # an existing directory keeps its contents
            os.unlink(base, dir_fd=parent)
        except FileNotFoundError:
            pass
        os.mkdir(base, 0o700, dir_fd=parent)
        return
    _replace(dirs, parent, base, name)
    if member.isreg():
        _write_file(archive, member, parent, base)
    elif member.issym():
        os.symlink(member.linkname, base, dir_fd=parent)
    elif member.islnk():
        _hard_link(member, dirs, parent, base, name)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(base, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent)
    elif member.isfifo():
        os.mkfifo(base, 0o600, dir_fd=parent)
    else:
        raise UnpackError(f"refusing entry {member.name!r}: unsupported tar entry type {member.type!r}")


def _write_file(archive: tarfile.TarFile, member: tarfile.TarInfo, parent: int, base: str) -> None:
    source = archive.extractfile(member)
    fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=parent)
    try:
        if source is not None:
            remaining = member.size
            while remaining:
                data = source.read(min(CHUNK, remaining))
                if not data:
                    raise UnpackError(f"truncated layer: {member.name!r} ends early")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                remaining -= len(data)
    finally:
        os.close(fd)


def _hard_link(member: tarfile.TarInfo, dirs: _Directories, parent: int, base: str, name: str) -> None:
    try:
        target = _clean_name(member.linkname)
    except UnpackError:
        raise UnpackError(f"refusing entry {member.name!r}: a hard link to {member.linkname!r}, outside "
                          "the layer") from None
    if not target or target == name:
        raise UnpackError(f"refusing entry {member.name!r}: a hard link to {member.linkname!r}")
    target_dir, _, target_base = target.rpartition("/")
    source_parent = dirs.open(target_dir, member.name)
    # follow_symlinks=False: a link to a symlink links the symlink itself, never what it points to.
    os.link(target_base, base, src_dir_fd=source_parent, dst_dir_fd=parent, follow_symlinks=False)


def _apply_metadata(parent: int, base: str, member: tarfile.TarInfo) -> None:
    """Ownership, then mode (chown clears setuid and setgid), then xattrs. The path goes through the verified
    parent's descriptor, and the last component is never followed."""
    path = f"/proc/self/fd/{parent}/{base}"
    os.chown(path, member.uid, member.gid, follow_symlinks=False)
    os.chmod(path, member.mode & 0o7777)  # never a symlink: this entry was just made, and symlinks skip this
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
            os.setxattr(path, key[len("SCHILY.xattr.") :], raw, follow_symlinks=False)


def _apply_directory_times(dirs: _Directories, name: str, member: tarfile.TarInfo) -> None:
    """Through the same walk as the entries: a later entry may have replaced the directory by a symlink."""
    parent_path, _, base = name.rpartition("/")
    try:
        parent = dirs.open(parent_path, member.name)
        st = os.stat(base, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            _apply_times(parent, base, member)
    except (UnpackError, OSError):
        return  # replaced by a later entry: its times went with it


def _apply_times(parent: int, base: str, member: tarfile.TarInfo) -> None:
    mtime = int(member.mtime * 1_000_000_000)
    os.utime(f"/proc/self/fd/{parent}/{base}", ns=(mtime, mtime), follow_symlinks=False)
