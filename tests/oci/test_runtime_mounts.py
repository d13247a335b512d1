"""runc's mount options table in real containers: recursive attributes over submounts (mount_setattr),
tmpcopyup, idmapped bind mounts (idmap, ridmap, a mount's uidMappings/gidMappings), and the one-line errors
for options nothing honours."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from runtimetest import Bundle, Runtime

from hutch.linux import syscalls as sc
from hutch.oci.rootfs import mountopts


@contextmanager
def host_tmpfs(path: Path, options: str = "") -> Iterator[Path]:
    """A tmpfs mounted on the host under the test's tmp dir, detached again whatever happens."""
    path.mkdir(parents=True, exist_ok=True)
    flags = sc.MS_NOEXEC if "noexec" in options.split(",") else 0
    sc.mount("tmpfs", str(path), "tmpfs", flags | sc.MS_NODEV, "size=4m")
    try:
        yield path
    finally:
        sc.umount2(str(path), sc.MNT_DETACH)


def _run(runtime: Runtime, bundle: Bundle, cid: str, script: str, **process: object) -> str:
    bundle.write(args=["sh", "-c", script], **process)
    result = runtime("run", "-b", str(bundle.path), cid)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _fail(runtime: Runtime, bundle: Bundle, cid: str) -> str:
    """The error line of a container that must not start."""
    bundle.write(args=["true"])
    result = runtime("run", "-b", str(bundle.path), cid)
    assert result.returncode != 0, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def _mount_options(mountinfo: str) -> dict[str, set[str]]:
    """Mount point -> its per-mount options, from /proc/self/mountinfo lines."""
    return {line.split()[4]: set(line.split()[5].split(",")) for line in mountinfo.splitlines()
            if len(line.split()) > 5 and line.split()[4].startswith("/")}


def _add_mount(bundle: Bundle, **mount: object) -> None:
    bundle.config["mounts"].append(mount)


def test_recursive_options_parse_as_runcs_table() -> None:
    opts = mountopts.parse(["rbind", "rro", "rnoexec", "rrw", "rnoatime", "rexec", "rnosymfollow"])
    assert opts.flags == sc.MS_BIND | sc.MS_REC and opts.data == ""
    assert opts.attr_set == sc.MOUNT_ATTR_NOATIME | sc.MOUNT_ATTR_NOSYMFOLLOW
    assert opts.attr_clr == sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOEXEC | sc.MOUNT_ATTR__ATIME
    assert mountopts.parse(["rstrictatime"]).attr_set == sc.MOUNT_ATTR_STRICTATIME
    assert mountopts.parse(["idmap", "tmpcopyup", "z", "U"]) == mountopts.MountOptions(idmap="idmap",
                                                                                        tmpcopyup=True)
    assert mountopts.parse(["tmpcopyup", "notmpcopyup", "x-unknown"]).data == "x-unknown"
    assert {"rro", "rnosymfollow", "ratime", "tmpcopyup", "idmap", "ridmap", "silent"} <= set(
        mountopts.supported_options())


def test_features_list_the_options_and_idmapped_mounts(runtime: Runtime) -> None:
    features = json.loads(runtime("features", check=True).stdout)
    assert {"rro", "rnoexec", "rnosymfollow", "tmpcopyup", "idmap", "ridmap"} <= set(features["mountOptions"])
    assert "z" not in features["mountOptions"]  # accepted, but nothing is done for it
    assert features["linux"]["mountExtensions"] == {"idmap": {"enabled": True}}  # Linux >= 5.12 here


def test_rro_and_rnoexec_reach_the_submounts_of_an_rbind(runtime: Runtime, writable_bundle: Bundle, cid: str,
                                                         tmp_path: Path, static_hello: Path) -> None:
    volume = tmp_path / "volume"
    with host_tmpfs(volume / "sub") as sub:
        shutil.copy2(static_hello, volume / "hello")
        shutil.copy2(static_hello, sub / "hello")
        _add_mount(writable_bundle, destination="/vol", type="bind", source=str(volume),
                   options=["rbind", "rro", "rnoexec", "rnosuid"])
        _add_mount(writable_bundle, destination="/plain", type="bind", source=str(volume), options=["rbind"])
        out = _run(runtime, writable_bundle, cid,
                   "for d in /vol /vol/sub /plain/sub; do"
                   "  touch $d/new 2>/dev/null && echo wrote $d; $d/hello >/dev/null 2>&1 && echo ran $d; "
                   "done; cat /proc/self/mountinfo")
        # The control: the same tree bound without the options takes writes and runs programs.
        assert "wrote /plain/sub" in out and "ran /plain/sub" in out
        assert "wrote /vol" not in out and "ran /vol" not in out, out
        options = _mount_options(out)
        for point in ("/vol", "/vol/sub"):
            assert {"ro", "noexec", "nosuid"} <= options[point], (point, options[point])
        assert "ro" not in options["/plain/sub"] and "noexec" not in options["/plain/sub"]
        assert not (volume / "new").exists()


def test_recursive_clearing_and_atime_options(runtime: Runtime, writable_bundle: Bundle, cid: str,
                                             tmp_path: Path, static_hello: Path) -> None:
    """A submount that is noexec on the host runs programs with rexec; rnoatime reaches it too."""
    volume = tmp_path / "volume"
    with host_tmpfs(volume / "sub", "noexec") as sub:
        shutil.copy2(static_hello, sub / "hello")
        _add_mount(writable_bundle, destination="/vol", type="bind", source=str(volume),
                   options=["rbind", "rexec", "rnoatime"])
        _add_mount(writable_bundle, destination="/plain", type="bind", source=str(volume), options=["rbind"])
        out = _run(runtime, writable_bundle, cid,
                   "/vol/sub/hello; /plain/sub/hello 2>/dev/null || echo plain-refused; "
                   "cat /proc/self/mountinfo")
        assert "hello" in out and "plain-refused" in out
        options = _mount_options(out)
        assert "noexec" not in options["/vol/sub"] and "noexec" in options["/plain/sub"]
        assert "noatime" in options["/vol"] and "noatime" in options["/vol/sub"]
        assert "noatime" not in options["/plain/sub"]


def test_tmpcopyup_fills_the_tmpfs_with_the_root_filesystems_files(runtime: Runtime, writable_bundle: Bundle,
                                                                   cid: str) -> None:
    data = writable_bundle.rootfs / "data"
    (data / "sub").mkdir(parents=True)
    (data / "file").write_text("from the image\n")
    (data / "sub" / "secret").write_text("mode and owner kept\n")
    os.chown(data / "sub" / "secret", 1000, 1001)
    os.chmod(data / "sub" / "secret", 0o604)  # the container's root has no CAP_DAC_OVERRIDE
    os.symlink("file", data / "link")
    os.link(data / "file", data / "hardlink")
    os.chmod(data, 0o751)
    (writable_bundle.rootfs / "frozen").mkdir()
    (writable_bundle.rootfs / "frozen" / "kept").write_text("read-only copy\n")
    _add_mount(writable_bundle, destination="/data", type="tmpfs", source="tmpfs",
               options=["tmpcopyup", "nosuid", "size=1m"])
    _add_mount(writable_bundle, destination="/frozen", type="tmpfs", source="tmpfs",
               options=["tmpcopyup", "ro"])
    _add_mount(writable_bundle, destination="/empty", type="tmpfs", source="tmpfs", options=["size=1m"])
    out = _run(runtime, writable_bundle, cid,
               "cat /data/file /data/sub/secret /frozen/kept; stat -c '%a %u %g' /data /data/sub/secret; "
               "readlink /data/link; stat -c 'links %h' /data/hardlink; "
               "echo changed > /data/file; echo new > /data/new; cat /data/file; "
               "touch /frozen/x 2>/dev/null || echo frozen-refused; "
               "grep -E ' /(data|frozen|empty) ' /proc/self/mountinfo")
    lines = out.splitlines()
    assert lines[:3] == ["from the image", "mode and owner kept", "read-only copy"], out
    assert lines[3:7] == ["751 0 0", "604 1000 1001", "file", "links 2"], out
    assert lines[7] == "changed" and "frozen-refused" in out
    tmpfs = {line.split()[4]: line for line in lines if " - tmpfs " in line}
    assert set(tmpfs) == {"/data", "/frozen", "/empty"}, out
    assert " ro," in tmpfs["/frozen"] and "nosuid" in tmpfs["/data"].split()[5]
    # The writes stayed in the tmpfs.
    assert (data / "file").read_text() == "from the image\n" and not (data / "new").exists()


def _require_idmap(path: Path) -> None:
    """Skip where the kernel cannot idmap the filesystem of `path` (tmpfs before Linux 6.3: the v2 VM's /tmp);
    the failure is then the one-line error that test_an_idmapped_mount_..._names_the_mount checks."""
    from hutch.oci.rootfs import idmap

    userns = idmap._new_userns("0 1000 1\n", "0 1000 1\n")
    tree = sc.open_tree(str(path), sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC)
    try:
        sc.mount_setattr("", sc.MOUNT_ATTR_IDMAP, 0, False, dirfd=tree, userns_fd=userns)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        pytest.skip(f"Linux {os.uname().release} cannot idmap the filesystem of {path}")
    finally:
        os.close(tree)
        os.close(userns)


def _owned_dir(path: Path, uid: int) -> Path:
    _require_idmap(path.parent)
    path.mkdir()
    os.chown(path, uid, uid)
    (path / "theirs").write_text("x")
    os.chown(path / "theirs", uid, uid)
    (path / "roots").write_text("x")
    return path


def test_a_mounts_own_mappings_make_an_idmapped_bind(runtime: Runtime, writable_bundle: Bundle, cid: str,
                                                     tmp_path: Path) -> None:
    """Mappings on the mount, no user namespace: the host's uid 1000 is root on the mount, and root's files
    land as uid 1000 on the host."""
    volume = _owned_dir(tmp_path / "volume", 1000)
    mapping = [{"containerID": 1000, "hostID": 0, "size": 1}]
    _add_mount(writable_bundle, destination="/vol", type="bind", source=str(volume), options=["bind"],
               uidMappings=mapping, gidMappings=mapping)
    _add_mount(writable_bundle, destination="/plain", type="bind", source=str(volume), options=["bind"])
    out = _run(runtime, writable_bundle, cid,
               "stat -c '%u %g' /vol /vol/theirs /vol/roots /plain/theirs; touch /vol/made-inside; "
               "grep ' /vol ' /proc/self/mountinfo")
    lines = out.splitlines()
    assert lines[:4] == ["0 0", "0 0", "65534 65534", "1000 1000"], out
    assert "idmapped" in lines[4].split()[5], out
    made = os.stat(volume / "made-inside")
    assert (made.st_uid, made.st_gid) == (1000, 1000)


def test_idmap_uses_the_containers_user_namespace(runtime: Runtime, writable_bundle: Bundle, cid: str,
                                                  tmp_path: Path) -> None:
    """idmap without mappings: the container's own, so files show inside with the ids they have on disk
    (without it, the host's uid 1000 is no one in the container), and files made inside by uid 1000 are uid
    1000's on the host."""
    volume = _owned_dir(tmp_path / "volume", 1000)
    config = writable_bundle.config
    config["linux"]["namespaces"].append({"type": "user"})
    ids = [{"containerID": 0, "hostID": 0, "size": 1}, {"containerID": 1, "hostID": 200001, "size": 65535}]
    config["linux"]["uidMappings"] = ids
    config["linux"]["gidMappings"] = ids
    _add_mount(writable_bundle, destination="/vol", type="bind", source=str(volume),
               options=["bind", "idmap"])
    _add_mount(writable_bundle, destination="/plain", type="bind", source=str(volume), options=["bind"])
    out = _run(runtime, writable_bundle, cid,
               "stat -c '%u %g' /vol/theirs /plain/theirs; id -u; touch /vol/made-inside",
               user={"uid": 1000, "gid": 1000})
    assert out.splitlines() == ["1000 1000", "65534 65534", "1000"], out
    made = os.stat(volume / "made-inside")
    assert (made.st_uid, made.st_gid) == (1000, 1000)


def test_ridmap_maps_the_submounts_of_an_rbind(runtime: Runtime, writable_bundle: Bundle, cid: str,
                                              tmp_path: Path) -> None:
    volume = _owned_dir(tmp_path / "volume", 1000)
    with host_tmpfs(volume / "sub") as sub:
        os.chown(sub, 1000, 1000)
        _require_idmap(sub)
        mapping = [{"containerID": 1000, "hostID": 0, "size": 1}]
        for dest, option in (("/r", "ridmap"), ("/i", "idmap")):
            _add_mount(writable_bundle, destination=dest, type="bind", source=str(volume),
                       options=["rbind", option], uidMappings=mapping, gidMappings=mapping)
        out = _run(runtime, writable_bundle, cid, "stat -c '%n %u' /r/sub /i/sub")
        # idmap maps the top mount only (as runc): the submount shows the host's ids.
        assert out.splitlines() == ["/r/sub 0", "/i/sub 1000"], out


def test_idmap_without_mappings_or_user_namespace_is_refused(runtime: Runtime, writable_bundle: Bundle,
                                                             cid: str, tmp_path: Path) -> None:
    _add_mount(writable_bundle, destination="/vol", type="bind", source=str(tmp_path),
               options=["bind", "idmap"])
    error = _fail(runtime, writable_bundle, cid)
    assert "/vol" in error and "idmap" in error and "user namespace" in error, error


def test_an_idmapped_mount_of_a_filesystem_without_support_names_the_mount(
        runtime: Runtime, writable_bundle: Bundle, cid: str) -> None:
    mapping = [{"containerID": 0, "hostID": 1000, "size": 1}]
    _add_mount(writable_bundle, destination="/hostproc", type="bind", source="/proc", options=["bind"],
               uidMappings=mapping, gidMappings=mapping)
    error = _fail(runtime, writable_bundle, cid)
    assert "/proc on /hostproc idmapped" in error and "idmapped mounts" in error, error


@pytest.mark.parametrize(("mount", "words"), [
    ({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "bogus=1"]},
     ["/data", "nosuid,bogus=1", "Invalid argument"]),
    ({"destination": "/data", "type": "bind", "source": "/tmp",
      "options": ["rbind", "nosuid", "mode=755", "bogus"]},
     ["/data", "bogus", "unknown mount option"]),
])
def test_an_option_nothing_knows_fails_naming_the_mount(runtime: Runtime, writable_bundle: Bundle, cid: str,
                                                        mount: dict, words: list[str]) -> None:
    _add_mount(writable_bundle, **mount)
    error = _fail(runtime, writable_bundle, cid)
    assert all(word in error for word in words), error
