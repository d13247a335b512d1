"""Layer unpacking on the real filesystem: what is preserved, whiteouts, and every escape refused."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from hutch.image.unpack import OPAQUE_XATTR, UnpackError, unpack

MTIME = 1_600_000_000


def _entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"",
           **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = MTIME
    info.mode = attrs.pop("mode", 0o755 if kind == tarfile.DIRTYPE else 0o644)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _tar(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def _unpack(tmp_path: Path, data: bytes):
    dest = tmp_path / "layer"
    dest.mkdir(exist_ok=True)
    return unpack(io.BytesIO(data), str(dest)), dest


def test_files_keep_content_owner_mode_times_links_devices_and_xattrs(tmp_path):
    cap = b"\x01\x00\x00\x02\x00\x20\x00\x00" + b"\x00" * 12  # security.capability: cap_net_bind_service
    data = _tar(
        _entry("./", tarfile.DIRTYPE),
        _entry("bin/", tarfile.DIRTYPE, mode=0o755),
        _entry("bin/tool", data=b"#!/bin/sh\n", mode=0o4755, uid=1234, gid=5678,
               pax_headers={"SCHILY.xattr.security.capability": cap.decode("latin-1"),
                            "SCHILY.xattr.user.note": "hello"}),
        _entry("bin/again", tarfile.LNKTYPE, linkname="bin/tool", mode=0o4755, uid=1234, gid=5678),
        _entry("etc/alternatives/sh", tarfile.SYMTYPE, linkname="/bin/tool"),  # parents made on the way
        _entry("tmp/", tarfile.DIRTYPE, mode=0o1777),
        _entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        _entry("run/fifo", tarfile.FIFOTYPE, mode=0o620),
    )
    result, layer = _unpack(tmp_path, data)
    assert result.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert result.size == len(data) and result.entries == 8
    tool = (layer / "bin/tool").lstat()
    assert (layer / "bin/tool").read_bytes() == b"#!/bin/sh\n"
    assert (tool.st_uid, tool.st_gid, stat.S_IMODE(tool.st_mode)) == (1234, 5678, 0o4755)
    assert tool.st_mtime == MTIME and tool.st_nlink == 2
    assert (layer / "bin/again").lstat().st_ino == tool.st_ino
    assert os.getxattr(layer / "bin/tool", "user.note") == b"hello"
    assert os.getxattr(layer / "bin/tool", "security.capability") == cap
    assert os.readlink(layer / "etc/alternatives/sh") == "/bin/tool"  # absolute targets are kept
    assert stat.S_IMODE((layer / "etc").stat().st_mode) == 0o755
    assert stat.S_IMODE((layer / "tmp").stat().st_mode) == 0o1777
    assert (layer / "bin").stat().st_mtime == MTIME  # set after its entries were made
    null = (layer / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    assert stat.S_ISFIFO((layer / "run/fifo").lstat().st_mode)


def test_whiteouts_become_overlayfs_whiteouts(tmp_path):
    _, layer = _unpack(tmp_path, _tar(
        _entry("etc/", tarfile.DIRTYPE),
        _entry("etc/.wh.motd"),
        _entry("var/cache/", tarfile.DIRTYPE),
        _entry("var/cache/.wh..wh..opq"),
        _entry("var/cache/new", data=b"x"),
    ))
    motd = (layer / "etc/motd").lstat()
    assert stat.S_ISCHR(motd.st_mode) and motd.st_rdev == os.makedev(0, 0)
    assert not (layer / "etc/.wh.motd").exists()
    assert os.getxattr(layer / "var/cache", OPAQUE_XATTR) == b"y"
    assert (layer / "var/cache/new").read_bytes() == b"x"
    assert sorted(p.name for p in (layer / "var/cache").iterdir()) == ["new"]


def test_a_later_entry_replaces_an_earlier_one(tmp_path):
    _, layer = _unpack(tmp_path, _tar(
        _entry("a/", tarfile.DIRTYPE), _entry("a/inner", data=b"1"),
        _entry("a", data=b"now a file"),
        _entry("b", data=b"old"), _entry("b", data=b"new"),
    ))
    assert (layer / "a").read_bytes() == b"now a file"
    assert (layer / "b").read_bytes() == b"new"


@pytest.fixture
def outside(tmp_path):
    """A directory beside the layer that every attack aims at; it must stay as it is."""
    target = tmp_path / "outside"
    target.mkdir()
    (target / "secret").write_text("host data\n")
    os.utime(target, (1, 1))
    return target


def _assert_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "host data\n"
    assert outside.stat().st_mtime == 1


@pytest.mark.parametrize(("entries", "why"), [
    ([_entry("../outside/evil", data=b"x")], "'..' component"),
    ([_entry("a/../../outside/evil", data=b"x")], "'..' component"),
    ([_entry("/outside/evil", data=b"x")], "absolute path"),
    ([_entry("link", tarfile.SYMTYPE, linkname="../outside"), _entry("link/evil", data=b"x")],
     "is not a directory"),
    ([_entry("link", tarfile.SYMTYPE, linkname="{outside}"), _entry("link/evil", data=b"x")],
     "is not a directory"),
    ([_entry("d/", tarfile.DIRTYPE), _entry("d/link", tarfile.SYMTYPE, linkname="{outside}"),
      _entry("d/link/secret", data=b"overwritten")], "is not a directory"),
    ([_entry("hard", tarfile.LNKTYPE, linkname="../outside/secret")], "outside the layer"),
    ([_entry("hard", tarfile.LNKTYPE, linkname="{outside}/secret")], "outside the layer"),
    ([_entry("link", tarfile.SYMTYPE, linkname="{outside}"),
      _entry("hard", tarfile.LNKTYPE, linkname="link/secret")], "is not a directory"),
    ([_entry("x/", tarfile.DIRTYPE), _entry("x/.wh...", data=b"")], "a whiteout of '..'"),
    ([_entry("link", tarfile.SYMTYPE, linkname="{outside}"), _entry("link/.wh.secret")],
     "is not a directory"),
    ([_entry("link", tarfile.SYMTYPE, linkname="{outside}"), _entry("link/.wh..wh..opq")],
     "is not a directory"),
])
def test_every_escape_is_refused_with_the_entry_named(tmp_path, outside, entries, why):
    fixed = []
    for info, data in entries:
        info.linkname = info.linkname.replace("{outside}", str(outside))
        fixed.append((info, data))
    with pytest.raises(UnpackError) as caught:
        _unpack(tmp_path, _tar(*fixed))
    assert why in str(caught.value) and repr(fixed[-1][0].name) in str(caught.value)
    _assert_untouched(outside)


def test_a_directory_replaced_by_a_symlink_does_not_lead_its_times_outside(tmp_path, outside):
    _unpack(tmp_path, _tar(
        _entry("d/", tarfile.DIRTYPE), _entry("d/f", data=b"x"),
        _entry("d", tarfile.SYMTYPE, linkname=str(outside)),
    ))
    _assert_untouched(outside)


def test_a_directory_entry_replaces_a_symlink_in_place(tmp_path, outside):
    _, layer = _unpack(tmp_path, _tar(
        _entry("link", tarfile.SYMTYPE, linkname=str(outside)),
        _entry("link/", tarfile.DIRTYPE, mode=0o777),
        _entry("link/new", data=b"inside"),
    ))
    assert (layer / "link").is_dir() and not (layer / "link").is_symlink()
    assert (layer / "link/new").read_bytes() == b"inside"
    _assert_untouched(outside)


def test_a_link_to_a_symlink_links_the_symlink_itself(tmp_path, outside):
    _, layer = _unpack(tmp_path, _tar(
        _entry("link", tarfile.SYMTYPE, linkname=str(outside / "secret")),
        _entry("hard", tarfile.LNKTYPE, linkname="link"),
    ))
    assert os.readlink(layer / "hard") == str(outside / "secret")
    assert (layer / "hard").lstat().st_ino == (layer / "link").lstat().st_ino
    _assert_untouched(outside)


@pytest.mark.parametrize("cut", [700, 1024 + 100])
def test_a_truncated_or_corrupt_layer_is_an_error(tmp_path, cut):
    data = _tar(_entry("big", data=b"z" * 4096), _entry("after", data=b"y"))
    with pytest.raises(UnpackError):
        _unpack(tmp_path, data[:cut])


def test_garbage_is_not_a_tar(tmp_path):
    with pytest.raises(UnpackError, match="tar"):
        _unpack(tmp_path, b"\x89PNG" + b"\0" * 1020)
