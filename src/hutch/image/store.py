"""The content-addressed store under hutch's --root: verified blobs, layers unpacked once, image records.

    ROOT/blobs/sha256/HEX        manifests, configs and compressed layers, by digest
    ROOT/layers/sha256/HEX/      one directory per layer, by diff ID (the uncompressed digest): diff/ holds
                                 the unpacked files; the directory appears only once they are complete
    ROOT/images/HEX.json         one record per image name (HEX = sha256 of the name)
    ROOT/tmp/                    work in progress (NAME-PID-...); never trusted; what a dead process left
                                 there is removed when the store is next opened
    ROOT/locks/                  flock files: one writer per blob, layer or name at a time

Nothing is trusted before it is verified: a blob is renamed into place only after its digest (sha256 or
sha512) and size matched while it streamed in; a layer only after its diff ID matched. A crash or kill -9
mid-write leaves at most a file in tmp/, which no lookup reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from hutch.files import write_atomic
from hutch.image.compression import open_layer
from hutch.image.errors import ImageError
from hutch.image.reference import check_digest
from hutch.image.unpack import unpack
from hutch.record import Factory, Record

DEFAULT_ROOT = "/var/lib/hutch"
CHUNK = 1 << 20


class StoreError(ImageError):
    """A verification failure or an unusable store; the message names the digest or image."""


class ImageRecord(Record):
    name: str  # docker.io/library/busybox:latest (or name@digest)
    digest: str  # of the manifest
    config: str  # digest of the image config blob
    layers: list[str] = Factory(list)  # compressed layer blob digests, bottom first
    diff_ids: list[str] = Factory(list)  # uncompressed digests, bottom first
    created: str = ""  # when it was stored (RFC 3339, UTC)

    @property
    def id(self) -> str:
        """The image ID, as docker shows it: the config's digest."""
        return self.config


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The image spec's ChainID of each layer: the first is its diff ID, then sha256(parent + " " + diff)."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            chain.append("sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest())
    return chain


class Store:
    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = root
        for sub in ("blobs/sha256", "blobs/sha512", "layers/sha256", "images", "tmp", "locks"):
            os.makedirs(os.path.join(root, sub), mode=0o700, exist_ok=True)
        self._sweep_tmp()

    def _sweep_tmp(self) -> None:
        """Remove work that a crashed or killed writer left (its PID, in the name, is gone)."""
        directory = os.path.join(self.root, "tmp")
        for entry in os.listdir(directory):
            parts = entry.split("-")
            if len(parts) < 3 or not parts[1].isdigit() or os.path.exists(f"/proc/{parts[1]}"):
                continue
            path = os.path.join(directory, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    # -------------------------------------------------------------------------- blobs

    def blob_path(self, digest: str) -> str:
        algorithm, _, hexpart = check_digest(digest).partition(":")
        return os.path.join(self.root, "blobs", algorithm, hexpart)

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def read_blob(self, digest: str) -> bytes:
        with open(self.blob_path(digest), "rb") as f:
            return f.read()

    def put_blob(self, digest: str, source: BinaryIO | bytes, size: int | None = None) -> str:
        """Store a blob from bytes or a stream, verified against `digest` (and `size` if known) on the way in;
        a mismatch or a short stream stores nothing."""
        path = self.blob_path(digest)
        if os.path.exists(path):
            return path
        algorithm, _, expected = digest.partition(":")
        hasher = hashlib.new(algorithm)
        with self._lock("blob-" + expected), self._temporary() as tmp:
            if os.path.exists(path):
                return path  # another writer finished it while we waited
            written = 0
            with open(tmp, "wb") as out:
                for chunk in _chunks(source):
                    hasher.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size is not None and written != size:
                raise StoreError(f"blob {digest}: expected {size} bytes, got {written}")
            if hasher.hexdigest() != expected:
                raise StoreError(f"blob {digest}: content does not match its digest "
                                 f"({algorithm}:{hasher.hexdigest()})")
            os.rename(tmp, path)
        return path

    # -------------------------------------------------------------------------- layers

    def layer_path(self, diff_id: str) -> str:
        algorithm, _, hexpart = check_digest(diff_id).partition(":")
        if algorithm != "sha256":
            raise StoreError(f"diff ID {diff_id}: layers are identified by sha256")
        return os.path.join(self.root, "layers", "sha256", hexpart)

    def has_layer(self, diff_id: str) -> bool:
        return os.path.isdir(self.layer_path(diff_id))

    def unpack_layer(self, blob_digest: str, media_type: str, diff_id: str) -> str:
        """Unpack a stored layer blob once: concurrent callers wait for the first; returns the layer
        directory (its files are in diff/). The unpacked stream must match `diff_id`."""
        final = self.layer_path(diff_id)
        if os.path.isdir(final):
            return final
        with self._lock("layer-" + diff_id.partition(":")[2]):
            if os.path.isdir(final):
                return final
            work = os.path.join(self.root, "tmp", f"layer-{os.getpid()}-{time.monotonic_ns()}")
            os.makedirs(os.path.join(work, "diff"), mode=0o755)
            try:
                with open(self.blob_path(blob_digest), "rb") as raw:
                    result = unpack(open_layer(raw, media_type), os.path.join(work, "diff"))
                if result.diff_id != diff_id:
                    raise StoreError(f"layer {blob_digest}: unpacked content is {result.diff_id}, the image "
                                     f"says {diff_id}")
                write_atomic(os.path.join(work, "size"), str(result.size).encode())
                os.rename(work, final)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
        return final

    # -------------------------------------------------------------------------- images

    def _record_path(self, name: str) -> str:
        return os.path.join(self.root, "images", hashlib.sha256(name.encode()).hexdigest() + ".json")

    def put_image(self, record: ImageRecord) -> None:
        if not record.created:
            record.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._lock("image-" + hashlib.sha256(record.name.encode()).hexdigest()):
            write_atomic(self._record_path(record.name), json.dumps(record._asdict()).encode(), mode=0o600)

    def get_image(self, name: str) -> ImageRecord | None:
        try:
            with open(self._record_path(name), "rb") as f:
                return ImageRecord(**json.load(f))
        except FileNotFoundError:
            return None

    def images(self) -> list[ImageRecord]:
        records = []
        directory = os.path.join(self.root, "images")
        for entry in sorted(os.listdir(directory)):
            if entry.endswith(".json") and not entry.startswith("."):
                with contextlib.suppress(FileNotFoundError), open(os.path.join(directory, entry), "rb") as f:
                    records.append(ImageRecord(**json.load(f)))
        return records

    def remove_image(self, name: str, in_use: Callable[[str], bool] = lambda diff_id: False) -> list[str]:
        """Forget an image; remove the blobs and layers that no remaining image uses and that `in_use` (a
        container's root) does not hold. Returns the digests removed."""
        record = self.get_image(name)
        if record is None:
            raise StoreError(f"no such image: {name}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._record_path(name))
        kept_blobs, kept_layers = set(), set()
        for other in self.images():
            kept_blobs |= {other.digest, other.config, *other.layers}
            kept_layers |= set(other.diff_ids)
        removed = []
        for digest in (record.digest, record.config, *record.layers):
            if digest not in kept_blobs and self.has_blob(digest):
                os.unlink(self.blob_path(digest))
                removed.append(digest)
        for diff_id in record.diff_ids:
            if diff_id not in kept_layers and not in_use(diff_id) and self.has_layer(diff_id):
                self._remove_layer(diff_id)
                removed.append(diff_id)
        return removed

    def _remove_layer(self, diff_id: str) -> None:
        # Renamed out of sight first: a reader never sees a half-removed layer as present.
        doomed = os.path.join(self.root, "tmp", f"rm-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(self.layer_path(diff_id), doomed)
        shutil.rmtree(doomed)

    # -------------------------------------------------------------------------- plumbing

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        fd = os.open(os.path.join(self.root, "locks", name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _temporary(self) -> Iterator[str]:
        path = os.path.join(self.root, "tmp", f"blob-{os.getpid()}-{time.monotonic_ns()}")
        try:
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _chunks(source: BinaryIO | bytes) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield bytes(source)
        return
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            return
        yield chunk
