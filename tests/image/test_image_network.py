"""Pulls over a network that fails: a transfer cut mid-blob and resumed, 429 answers retried, two pulls of one
image at once, a pull killed with SIGKILL and pulled again; and the other formats: Docker schema 2, zstd."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures"))
from hutchtest import HUTCH, TIME_SCALE
from registrytest import BuiltImage, FaultyProxy, run_registry, sha

from hutch.image.pull import pull
from hutch.image.registries import Registries
from hutch.image.store import Store

BIG = BuiltImage([{"big": os.urandom(3 << 20)}, {"small": b"s\n"}])


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("registry")
    with run_registry(work) as host:
        BIG.push(work, host, "test/big:1")
        yield host, work


def test_a_transfer_cut_mid_blob_is_resumed_with_range(registry, tmp_path):
    host, _ = registry
    proxy = FaultyProxy(host, cut=1, cut_after=100_000)
    with proxy.running() as via:
        record = pull(f"{via}/test/big:1", Store(str(tmp_path / "root")), Registries(), backoff=0.01)
    assert record.diff_ids == [sha(t) for t in BIG.tars]
    ranges = [r for _, r, status in proxy.log if r]
    assert ranges == ["bytes=100000-"], proxy.log  # resumed where the cut left it


def test_429_is_retried(registry, tmp_path):
    host, _ = registry
    proxy = FaultyProxy(host, throttle=3)
    with proxy.running() as via:
        record = pull(f"{via}/test/big:1", Store(str(tmp_path / "root")), Registries(), backoff=0.01)
    assert record.digest == sha(BIG.manifest)
    assert [status for _, _, status in proxy.log].count(429) == 3


def _pull_process(root: Path, ref: str) -> subprocess.Popen:
    return subprocess.Popen([*HUTCH, "--root", str(root), "pull", "-q", ref], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_pulls_of_one_image_at_once_both_succeed_with_one_copy(registry, tmp_path):
    host, _ = registry
    root = tmp_path / "root"
    procs = [_pull_process(root, f"{host}/test/big:1") for _ in range(2)]
    results = [p.communicate(timeout=120 * TIME_SCALE) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert all(out == sha(BIG.config) + "\n" for out, _ in results)
    assert sorted(os.listdir(root / "layers" / "sha256")) == sorted(sha(t)[7:] for t in BIG.tars)
    assert os.listdir(root / "tmp") == []


def test_a_pull_killed_mid_blob_leaves_nothing_trusted_and_the_next_pull_completes(registry, tmp_path):
    host, _ = registry
    root = tmp_path / "root"
    proxy = FaultyProxy(host, delay=0.05)  # ~1.3 MiB/s: the big layer takes a few seconds
    with proxy.running() as via:
        victim = _pull_process(root, f"{via}/test/big:1")
        deadline = time.monotonic() + 30 * TIME_SCALE
        while not any(name.startswith("blob-") for name in _listdir(root / "tmp")):
            assert time.monotonic() < deadline and victim.poll() is None
            time.sleep(0.02)
        time.sleep(0.3)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
    store = Store(str(root))  # opening the store sweeps what the killed pull left in tmp/
    assert not store.has_blob(sha(BIG.blobs[0])) and store.images() == []
    assert os.listdir(root / "tmp") == []
    again = _pull_process(root, f"{host}/test/big:1")
    out, err = again.communicate(timeout=120 * TIME_SCALE)
    assert (again.returncode, out) == (0, sha(BIG.config) + "\n"), err


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("fmt", ["v2s2", "zstd"])
def test_docker_schema_2_and_zstd_images(registry, tmp_path, fmt):
    host, work = registry
    image = BuiltImage([{"hello": b"hello " + fmt.encode() + b"\n"}])
    layout = work / f"layout-{fmt}"
    image.write_layout(layout, "1")
    argv = ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:1",
            f"docker://{host}/test/{fmt}:1"]
    argv[4:4] = (["--format", "v2s2"] if fmt == "v2s2"
                 else ["--dest-compress-format", "zstd", "--format", "oci"])
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    store = Store(str(tmp_path / "root"))
    record = pull(f"{host}/test/{fmt}:1", store, Registries())
    manifest = store.read_blob(record.digest).decode()
    wanted = "vnd.docker.distribution.manifest.v2" if fmt == "v2s2" else "tar+zstd"
    assert wanted in manifest
    hello = Path(store.layer_path(record.diff_ids[0])) / "diff/hello"
    assert hello.read_bytes() == b"hello " + fmt.encode() + b"\n"
