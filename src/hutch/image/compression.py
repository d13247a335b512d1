"""Layer media types and their streaming decompression: gzip, zstd and uncompressed tar."""

from __future__ import annotations

import zlib
from typing import BinaryIO

from hutch.image.errors import ImageError

CHUNK = 1 << 20

GZIP_TYPES = frozenset({
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
})
ZSTD_TYPES = frozenset({
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
})
TAR_TYPES = frozenset({
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
})


class CompressionError(ImageError):
    """An unknown layer media type or a stream that does not decompress."""


class _GzipReader:
    """gzip decompression as a read(n) stream, members concatenated as gzip(1) allows; a stream that stops
    inside a member is an error, never a silently short layer."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.inflate = zlib.decompressobj(wbits=31)
        self.fed = False  # the current member has had input
        self.members = 0
        self.buffer = bytearray()
        self.done = False

    def read(self, n: int = -1) -> bytes:
        want = CHUNK if n is None or n < 0 else n
        while len(self.buffer) < want and not self.done:
            self._step(want)
        data = bytes(self.buffer[:want])
        del self.buffer[:want]
        return data

    def _step(self, want: int) -> None:
        chunk = self.inflate.unconsumed_tail or self.raw.read(CHUNK)
        if not chunk:
            if self.fed or not self.members:
                raise CompressionError("truncated gzip stream")
            self.done = True
            return
        self._feed(chunk, want)

    def _feed(self, chunk: bytes, want: int) -> None:
        self.fed = True
        try:
            self.buffer += self.inflate.decompress(chunk, max(want, CHUNK))
        except zlib.error as exc:
            raise CompressionError(f"corrupt gzip stream: {exc}") from None
        if self.inflate.eof:
            self.members += 1
            rest = self.inflate.unused_data
            self.inflate = zlib.decompressobj(wbits=31)
            self.fed = False
            if rest:
                self._feed(rest, want)


def open_layer(raw: BinaryIO, media_type: str) -> BinaryIO:
    """The uncompressed tar stream of a layer blob of `media_type`."""
    if media_type in TAR_TYPES:
        return raw
    if media_type in GZIP_TYPES:
        return _GzipReader(raw)  # type: ignore[return-value]
    if media_type in ZSTD_TYPES:
        try:
            import zstandard
        except ImportError:
            raise CompressionError("zstd layers need the zstandard package") from None
        return zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK)
    raise CompressionError(f"unsupported layer media type {media_type!r}")
