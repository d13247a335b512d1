"""hutch pull, images, rmi, image inspect, login and logout against real registries, as docker's (host only:
nothing here depends on the cgroup layout)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hutchtest import run_hutch

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures"))
from registrytest import BuiltImage, busybox_files, run_registry, sha

BASE = {**busybox_files(("sh", "echo")), "bin/hello": b"#!/bin/sh\necho hello\n"}
IMAGE = BuiltImage([BASE, {"etc/motd": b"hi\n"}], cmd=["/bin/hello"])
OTHER = BuiltImage([BASE, {"etc/other": b"x\n"}])  # shares the base layer


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("registry")
    with run_registry(work) as host:
        IMAGE.push(work, host, "test/hello:1")
        OTHER.push(work, host, "test/other:1")
        yield host


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("registry-basic")
    with run_registry(work, htpasswd={"alice": "wonderland"}) as host:
        IMAGE.push(work, host, "test/hello:1", creds="alice:wonderland")
        yield host


@pytest.fixture
def auth_file(tmp_path, monkeypatch):
    path = tmp_path / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
    monkeypatch.setenv("HUTCH_REGISTRIES_CONF", str(tmp_path / "absent.toml"))
    return path


def test_pull_images_inspect_rmi(registry, tmp_path, auth_file):
    root = str(tmp_path / "root")
    quiet = run_hutch("--root", root, "pull", "-q", f"{registry}/test/hello:1")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, sha(IMAGE.config) + "\n", "")
    verbose = run_hutch("--root", root, "pull", f"{registry}/test/other:1")
    assert verbose.returncode == 0, verbose.stderr
    lines = verbose.stderr.splitlines()  # not a terminal: one plain line per layer
    assert len(lines) == 2 and "already exists" in lines[0] and "pull complete" in lines[1]
    listing = run_hutch("--root", root, "images", "--format", "json")
    rows = {row["Repository"]: row for row in json.loads(listing.stdout)}
    assert rows[f"{registry}/test/hello"]["Tag"] == "1"
    assert rows[f"{registry}/test/hello"]["ID"] == sha(IMAGE.config)[7:19]
    table = run_hutch("--root", root, "images")
    assert table.stdout.splitlines()[0].split()[:3] == ["REPOSITORY", "TAG", "IMAGE"]
    inspect = run_hutch("--root", root, "image", "inspect", f"{registry}/test/hello:1")
    assert json.loads(inspect.stdout)[0]["Config"]["Cmd"] == ["/bin/hello"]
    removed = run_hutch("--root", root, "rmi", f"{registry}/test/hello:1")
    assert removed.returncode == 0 and sha(IMAGE.tars[1]) in removed.stdout
    assert sha(IMAGE.tars[0]) not in removed.stdout, "the shared layer stays for the other image"
    assert run_hutch("--root", root, "images", "-q").stdout == sha(OTHER.config)[7:19] + "\n"
    assert run_hutch("--root", str(tmp_path / "elsewhere"), "images", "-q").stdout == ""  # roots are apart


@pytest.mark.parametrize(("args", "message"), [
    (["pull", "Bad/Name"], "invalid reference format: Bad/Name: repository name must be lowercase"),
    (["pull", "{registry}/test/nothing:1"], "MANIFEST_UNKNOWN"),
    (["pull", "127.0.0.1:9/test/x:1"], "cannot connect"),
    (["rmi", "nothing"], "no such image: nothing"),
    (["image", "inspect", "nothing"], "no such image: nothing"),
])
def test_bad_input_is_one_line_and_exit_125(registry, tmp_path, auth_file, args, message):
    root = tmp_path / "root"
    result = run_hutch("--root", str(root), *[a.replace("{registry}", registry) for a in args], timeout=120)
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
    if root.exists():
        assert os.listdir(root / "images") == [] and os.listdir(root / "tmp") == []


def test_login_pull_logout(basic_registry, tmp_path, auth_file):
    root = str(tmp_path / "root")
    denied = run_hutch("--root", root, "pull", f"{basic_registry}/test/hello:1")
    assert denied.returncode == 125 and "authentication required" in denied.stderr
    wrong = run_hutch("login", "-u", "alice", "--password-stdin", basic_registry, input="nope\n")
    assert wrong.returncode == 125 and "authentication failed" in wrong.stderr
    assert not auth_file.exists()
    ok = run_hutch("login", "-u", "alice", "--password-stdin", basic_registry, input="wonderland\n")
    assert ok.returncode == 0 and "Login Succeeded" in ok.stdout
    assert oct(auth_file.stat().st_mode & 0o777) == "0o600"
    assert basic_registry in json.loads(auth_file.read_text())["auths"]
    pulled = run_hutch("--root", root, "pull", "-q", f"{basic_registry}/test/hello:1")
    assert pulled.returncode == 0, pulled.stderr
    ran = run_hutch("--root", str(tmp_path / "fresh"), "run", f"{basic_registry}/test/hello:1")
    assert (ran.returncode, ran.stdout) == (0, "hello\n"), ran.stderr  # pulled with the login, then run
    out = run_hutch("logout", basic_registry)
    assert out.returncode == 0 and "Removing login credentials" in out.stdout
    assert json.loads(auth_file.read_text())["auths"] == {}


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    from registrytest import TokenServer

    work = tmp_path_factory.mktemp("registry-token")
    tokens = TokenServer(work, {"bob": "builder"})
    with tokens.running() as realm, run_registry(work, auth_config=tokens.registry_config(realm)) as host:
        IMAGE.push(work, host, "test/hello:1", creds="bob:builder")
        yield host


def test_login_pull_logout_with_token_auth(token_registry, tmp_path, auth_file):
    root = str(tmp_path / "root")
    wrong = run_hutch("login", "-u", "bob", "--password-stdin", token_registry, input="nope\n")
    assert wrong.returncode == 125 and "wrong user name or password" in wrong.stderr
    ok = run_hutch("login", "-u", "bob", "--password-stdin", token_registry, input="builder\n")
    assert ok.returncode == 0, ok.stderr
    pulled = run_hutch("--root", root, "pull", "-q", f"{token_registry}/test/hello:1")
    assert (pulled.returncode, pulled.stdout) == (0, sha(IMAGE.config) + "\n"), pulled.stderr
    ran = run_hutch("--root", str(tmp_path / "fresh"), "run", f"{token_registry}/test/hello:1")
    assert (ran.returncode, ran.stdout) == (0, "hello\n"), ran.stderr
    assert run_hutch("logout", token_registry).returncode == 0
    again = run_hutch("--root", str(tmp_path / "other"), "pull", f"{token_registry}/test/hello:1")
    assert again.returncode == 125 and "authentication failed" in again.stderr


BIG = BuiltImage([{"big": os.urandom(3 << 20)}])


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs as hutch's --root: a pull of a 3 MiB layer fills it."""
    import subprocess

    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(registry, tmp_path, auth_file, small_disk):
    work = tmp_path / "push"
    work.mkdir()
    BIG.push(work, registry, "test/big:1")
    result = run_hutch("--root", str(small_disk), "pull", f"{registry}/test/big:1", timeout=120)
    assert result.returncode == 125 and "No space left on device" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert os.listdir(small_disk / "images") == [] and os.listdir(small_disk / "tmp") == []
    assert os.listdir(small_disk / "layers" / "sha256") == []


def test_on_a_terminal_pull_draws_a_bar_per_layer_and_a_total(registry, tmp_path, auth_file):
    import subprocess

    from hutchtest import HUTCH

    master, slave = os.openpty()
    try:
        argv = [*HUTCH, "--root", str(tmp_path / "root"), "pull", f"{registry}/test/hello:1"]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        slave = -1
        out, _ = proc.communicate(timeout=120)
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0 and b"pulled" in out
    text = drawn.decode(errors="replace")
    assert text.count("[" + "=" * 30 + "] done") >= 2  # one full bar per layer
    assert "total" in text and "/s ETA" in text and "\x1b[F" in text  # redrawn in place
