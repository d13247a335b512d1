"""The content store on a real directory: verified blobs, layers unpacked once, records, rmi and sharing."""

from __future__ import annotations

import gzip
import hashlib
import io
import multiprocessing
import os
import tarfile

import pytest

from hutch.image.compression import CompressionError, open_layer
from hutch.image.store import ImageRecord, Store, StoreError, chain_ids

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR = "application/vnd.oci.image.layer.v1.tar"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "root"))


def test_a_blob_is_stored_only_when_its_digest_and_size_match(store):
    data = b"manifest bytes"
    path = store.put_blob(sha(data), io.BytesIO(data), size=len(data))
    assert store.read_blob(sha(data)) == data and os.path.basename(path) == sha(data)[7:]
    other = b"tampered"
    with pytest.raises(StoreError, match="does not match its digest"):
        store.put_blob(sha(b"original"), io.BytesIO(other))
    assert not store.has_blob(sha(b"original"))
    with pytest.raises(StoreError, match="expected 100 bytes"):
        store.put_blob(sha(b"short"), io.BytesIO(b"short"), size=100)
    assert not store.has_blob(sha(b"short"))
    assert os.listdir(os.path.join(store.root, "tmp")) == []


def test_sha512_digests_are_verified_too(store):
    data = b"x" * 10
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    store.put_blob(digest, data)
    assert store.read_blob(digest) == data


def _put(root: str, data: bytes) -> None:
    Store(root).put_blob(sha(data), io.BytesIO(data))


def test_concurrent_writers_of_one_blob_end_with_one_copy(tmp_path):
    root = str(tmp_path / "root")
    data = os.urandom(3 << 20)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_put, args=(root, data)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = Store(root)
    assert store.read_blob(sha(data)) == data
    assert os.listdir(os.path.join(root, "tmp")) == []


def test_a_gzip_layer_is_unpacked_once_and_checked_against_its_diff_id(store):
    tar = layer_tar({"etc/hello": b"hi\n"})
    blob = gzip.compress(tar)
    store.put_blob(sha(blob), blob)
    path = store.unpack_layer(sha(blob), GZIP, sha(tar))
    with open(os.path.join(path, "diff/etc/hello"), "rb") as f:
        assert f.read() == b"hi\n"
    assert store.unpack_layer(sha(blob), GZIP, sha(tar)) == path  # once
    wrong = "sha256:" + "0" * 64
    with pytest.raises(StoreError, match="unpacked content is"):
        store.unpack_layer(sha(blob), GZIP, wrong)
    assert not store.has_layer(wrong)
    assert os.listdir(os.path.join(store.root, "tmp")) == []


def test_work_left_by_a_killed_writer_is_swept_and_never_trusted(tmp_path):
    root = str(tmp_path / "root")
    Store(root)
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=os._exit, args=(0,))
    child.start()
    child.join()
    stale = os.path.join(root, "tmp", f"layer-{child.pid}-1")
    os.makedirs(os.path.join(stale, "diff"))
    Store(root)
    assert not os.path.exists(stale)


@pytest.mark.parametrize("cut", [10, 200])
def test_a_truncated_gzip_layer_is_an_error(cut):
    blob = gzip.compress(layer_tar({"f": os.urandom(4096)}))
    reader = open_layer(io.BytesIO(blob[:cut]), GZIP)
    with pytest.raises(CompressionError):
        while reader.read(1 << 16):
            pass


def test_concatenated_gzip_members_and_plain_tar():
    data = os.urandom(100_000)
    reader = open_layer(io.BytesIO(gzip.compress(data[:50_000]) + gzip.compress(data[50_000:])), GZIP)
    out = b""
    while chunk := reader.read(7000):
        out += chunk
    assert out == data
    assert open_layer(io.BytesIO(b"abc"), TAR).read() == b"abc"
    with pytest.raises(CompressionError, match="unsupported layer media type"):
        open_layer(io.BytesIO(b""), "application/x-rar")


def test_chain_ids_follow_the_image_spec():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a]) == [a]
    assert chain_ids([a, b]) == [a, sha(f"{a} {b}".encode())]


def test_rmi_removes_only_what_no_other_image_or_container_uses(store):
    base, top, other_top = (layer_tar({name: name.encode()}) for name in ("base", "top", "other"))
    for tar in (base, top, other_top):
        store.put_blob(sha(tar), tar)
        store.unpack_layer(sha(tar), TAR, sha(tar))
    for blob in (b"m1", b"c1", b"m2", b"c2"):
        store.put_blob(sha(blob), blob)
    store.put_image(ImageRecord("localhost/one:1", sha(b"m1"), sha(b"c1"), [sha(base), sha(top)],
                                [sha(base), sha(top)]))
    store.put_image(ImageRecord("localhost/two:1", sha(b"m2"), sha(b"c2"), [sha(base), sha(other_top)],
                                [sha(base), sha(other_top)]))
    assert [r.name for r in store.images()] != [] and len(store.images()) == 2
    removed = store.remove_image("localhost/one:1", in_use=lambda diff_id: False)
    assert set(removed) == {sha(b"m1"), sha(b"c1"), sha(top)}
    assert store.has_layer(sha(base)) and not store.has_layer(sha(top))
    removed = store.remove_image("localhost/two:1", in_use=lambda diff_id: diff_id == sha(base))
    assert store.has_layer(sha(base)), "a layer under a container's root stays"
    assert not store.has_layer(sha(other_top)) and store.images() == []
    with pytest.raises(StoreError, match="no such image"):
        store.remove_image("localhost/two:1")


def test_a_zstd_layer_is_unpacked(store):
    import zstandard

    tar = layer_tar({"usr/share/z": b"zstd\n" * 1000})
    blob = zstandard.ZstdCompressor().compress(tar)
    store.put_blob(sha(blob), blob)
    path = store.unpack_layer(sha(blob), "application/vnd.oci.image.layer.v1.tar+zstd", sha(tar))
    with open(os.path.join(path, "diff/usr/share/z"), "rb") as f:
        assert f.read() == b"zstd\n" * 1000
