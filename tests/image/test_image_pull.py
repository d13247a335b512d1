"""Pulls from a real registry into a real store: layers, digests, platforms, tampering, short names."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures"))
from registrytest import BuiltImage, BuiltIndex, blob_file, run_registry, sha

from hutch.image.pull import Platform, PullError, pull
from hutch.image.registries import Registries
from hutch.image.store import Store

TWO_LAYERS = BuiltImage([{"bin/hello": b"#!/bin/sh\necho hello\n", "etc/motd": b"old\n"},
                         {"etc/motd": b"new\n", "etc/.wh.gone": b""}])
AMD64 = BuiltImage([{"arch": b"amd64\n"}])
ARM64 = BuiltImage([{"arch": b"arm64\n"}], architecture="arm64", variant="v8")
TAMPERED = BuiltImage([{"payload": b"genuine bytes\n" * 100}])


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("registry")
    with run_registry(work) as host:
        TWO_LAYERS.push(work, host, "test/two:1")
        BuiltIndex([AMD64, ARM64]).push(work, host, "test/multi:1")
        BuiltIndex([AMD64, ARM64]).push(work, host, "test/dockerlist:1", docker=True)
        ARM64.push(work, host, "test/armonly:1")
        TAMPERED.push(work, host, "test/tampered:1")
        data = blob_file(work / "storage", sha(TAMPERED.blobs[0]))
        raw = bytearray(data.read_bytes())
        raw[-20] ^= 0xFF  # same size, other bytes: what a compromised registry or a bit flip would serve
        data.write_bytes(bytes(raw))
        yield host


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "root"))


def _entries(store: Store) -> dict[str, list[str]]:
    root = Path(store.root)
    return {d: sorted(os.listdir(root / d)) for d in ("blobs/sha256", "layers/sha256", "images", "tmp")}


def test_a_two_layer_image_is_pulled_verified_and_unpacked(registry, store):
    record = pull(f"{registry}/test/two:1", store, Registries())
    assert record.name == f"{registry}/test/two:1"
    assert record.digest == sha(TWO_LAYERS.manifest) and record.config == sha(TWO_LAYERS.config)
    assert record.diff_ids == [sha(t) for t in TWO_LAYERS.tars]
    top = Path(store.layer_path(record.diff_ids[1])) / "diff"
    assert (top / "etc/motd").read_bytes() == b"new\n"
    assert os.major((top / "etc/gone").lstat().st_rdev) == 0  # the whiteout, as overlayfs wants it
    assert store.get_image(record.name) == record
    again = pull(f"{registry}/test/two:1", store, Registries())
    assert again.digest == record.digest


def test_a_pull_by_digest_checks_the_manifest(registry, store):
    record = pull(f"{registry}/test/two@{sha(TWO_LAYERS.manifest)}", store, Registries())
    assert record.digest == sha(TWO_LAYERS.manifest)


@pytest.mark.parametrize(("platform", "expected"), [
    (None, b"amd64\n"), (Platform("linux", "arm64"), b"arm64\n"),
    (Platform("linux", "arm64", "v8"), b"arm64\n")])
def test_an_index_gives_the_platforms_image(registry, store, platform, expected):
    if platform is None and os.uname().machine != "x86_64":
        pytest.skip("the default platform is this machine's")
    record = pull(f"{registry}/test/multi:1", store, Registries(), platform=platform)
    assert (Path(store.layer_path(record.diff_ids[0])) / "diff/arch").read_bytes() == expected


def test_a_platform_that_is_not_there_is_an_error_and_stores_no_record(registry, store):
    with pytest.raises(PullError, match=r"no image for linux/s390x \(the index has linux/amd64, linux/arm64"):
        pull(f"{registry}/test/multi:1", store, Registries(), platform=Platform("linux", "s390x"))
    with pytest.raises(PullError, match="the image is for linux/arm64/v8, not linux/amd64"):
        pull(f"{registry}/test/armonly:1", store, Registries(), platform=Platform("linux", "amd64"))
    assert _entries(store)["images"] == [] and _entries(store)["layers/sha256"] == []


def test_a_tampered_blob_is_detected_and_nothing_of_it_is_stored(registry, store):
    with pytest.raises(PullError, match="does not match its digest"):
        pull(f"{registry}/test/tampered:1", store, Registries())
    entries = _entries(store)
    assert sha(TAMPERED.blobs[0])[7:] not in entries["blobs/sha256"]
    assert entries["layers/sha256"] == [] and entries["images"] == [] and entries["tmp"] == []


def test_short_names_go_through_the_search_registries(registry, store):
    config = Registries(search=["127.0.0.2:1", registry])  # the first is down, the second has it
    record = pull("test/two:1", store, config, backoff=0.01)
    assert record.name == f"{registry}/test/two:1"
    with pytest.raises(PullError, match=r"test/none:1: not pulled from any search registry: 127.0.0.2:1"):
        pull("test/none:1", store, config, backoff=0.01)


def test_an_unknown_image_is_one_clear_error(registry, store):
    with pytest.raises(PullError, match=r"MANIFEST_UNKNOWN|NAME_UNKNOWN"):
        pull(f"{registry}/test/nothing:1", store, Registries())
    assert json.dumps(_entries(store)["images"]) == "[]"


def test_a_mirror_is_tried_before_the_registry(registry, store, tmp_path):
    conf = tmp_path / "registries.toml"
    conf.write_text(f'[[registry]]\nlocation = "127.0.0.2:1"\n[[registry.mirror]]\nlocation = "{registry}"\n')
    from hutch.image.registries import load

    record = pull("127.0.0.2:1/test/two:1", store, load(str(conf)), backoff=0.01)
    assert record.name == "127.0.0.2:1/test/two:1" and record.digest == sha(TWO_LAYERS.manifest)
    down = tmp_path / "down.toml"
    down.write_text('[[registry]]\nlocation = "127.0.0.2:1"\n[[registry.mirror]]\nlocation = "127.0.0.3:1"\n')
    # The mirror failed, then the registry: the last error is the registry's.
    with pytest.raises(PullError, match=r"127\.0\.0\.2:1: cannot connect"):
        pull("127.0.0.2:1/test/two:1", store, load(str(down)), backoff=0.01)


def test_a_docker_manifest_list_gives_the_platforms_image(registry, store):
    record = pull(f"{registry}/test/dockerlist:1", store, Registries(), platform=Platform("linux", "arm64"))
    assert "vnd.docker.distribution.manifest.v2+json" in store.read_blob(record.digest).decode()
    assert (Path(store.layer_path(record.diff_ids[0])) / "diff/arch").read_bytes() == b"arm64\n"
