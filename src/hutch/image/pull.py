"""Pulling an image: reference -> registry (mirrors first) -> manifest (the platform's, from an index) ->
config and layers fetched in parallel, verified into the store, unpacked once -> the image record."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor

from hutch.image import auth
from hutch.image.errors import ImageError
from hutch.image.reference import Reference
from hutch.image.registries import Registries
from hutch.image.registry import Client, RegistryError
from hutch.image.store import ImageRecord, Store, StoreError
from hutch.record import Record

INDEX_TYPES = frozenset({"application/vnd.oci.image.index.v1+json",
                         "application/vnd.docker.distribution.manifest.list.v2+json"})
MANIFEST_TYPES = frozenset({"application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"})
PARALLEL_LAYERS = 3  # docker's default for concurrent downloads
RESUME_ATTEMPTS = 5
_MACHINES = {"x86_64": ("amd64", ""), "aarch64": ("arm64", "v8"), "armv7l": ("arm", "v7"),
             "armv6l": ("arm", "v6"), "i686": ("386", ""), "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""),
             "riscv64": ("riscv64", "")}


class PullError(ImageError):
    """A pull that failed; one line, the store as it was (nothing unverified is kept)."""


class Platform(Record):
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    machine = os.uname().machine
    arch, variant = _MACHINES.get(machine, (machine, ""))
    return Platform("linux", arch, variant)


def parse_platform(text: str) -> Platform:
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise PullError(f"invalid platform {text!r}: use OS/ARCH[/VARIANT]")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


class Progress:
    """What a pull reports as it goes; the CLI draws bars from it. Called from the download threads."""

    def layer_started(self, digest: str, size: int) -> None: ...
    def layer_advanced(self, digest: str, done: int) -> None: ...
    def layer_finished(self, digest: str, size: int, cached: bool) -> None: ...


def pull(text: str, store: Store, registries: Registries, platform: Platform | None = None,
         progress: Progress | None = None, backoff: float = 0.5) -> ImageRecord:
    """Pull `text` (a reference, short names searched as configured) into `store`; returns its record.
    `backoff`: the first retry's delay (doubling) after a 429, a 5xx or a failed connection."""
    progress = progress or Progress()
    candidates = registries.candidates(text)
    failures = []
    for reference in candidates:
        try:
            return _pull_one(reference, store, registries, platform or host_platform(), progress, backoff)
        except RegistryError as exc:
            failures.append(str(exc))  # a short name: the next search registry may have it
        except StoreError as exc:
            raise PullError(str(exc)) from None
    if len(failures) == 1:
        raise PullError(failures[0])
    raise PullError(f"{text}: not pulled from any search registry: " + "; ".join(failures))


def _pull_one(reference: Reference, store: Store, registries: Registries, platform: Platform,
              progress: Progress, backoff: float) -> ImageRecord:
    last: RegistryError | None = None
    for endpoint in registries.endpoints(reference.domain):
        credentials = auth.lookup(endpoint.host) or auth.lookup(reference.domain)
        client = Client(endpoint.host, insecure=endpoint.insecure, credentials=credentials, backoff=backoff)
        try:
            return _fetch(client, reference, store, platform, progress)
        except RegistryError as exc:
            last = exc  # a mirror that fails: the next, then the registry itself
        finally:
            client.close()
    assert last is not None
    raise last


def _fetch(client: Client, reference: Reference, store: Store, platform: Platform,
           progress: Progress) -> ImageRecord:
    repo = reference.path
    media_type, body, digest = _manifest(client, repo, reference.digest or reference.tag or "latest",
                                         reference.digest)
    if media_type in INDEX_TYPES:
        chosen = _choose(json.loads(body), platform, reference)
        media_type, body, digest = _manifest(client, repo, chosen, chosen)
    if media_type not in MANIFEST_TYPES:
        raise PullError(f"{reference}: unsupported manifest type {media_type!r}")
    manifest = json.loads(body)
    config_desc, layers = manifest["config"], manifest.get("layers", [])
    _fetch_blob(client, repo, store, config_desc, None)
    config = json.loads(store.read_blob(config_desc["digest"]))
    image_platform = Platform(config.get("os", ""), config.get("architecture", ""), config.get("variant", ""))
    if (image_platform.os, image_platform.architecture) != (platform.os, platform.architecture):
        raise PullError(f"{reference}: the image is for {image_platform}, not {platform}")
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if len(diff_ids) != len(layers):
        raise PullError(f"{reference}: the config lists {len(diff_ids)} layers, the manifest {len(layers)}")
    with ThreadPoolExecutor(PARALLEL_LAYERS) as pool:
        jobs = [pool.submit(_fetch_layer, client, repo, store, desc, diff_id, progress)
                for desc, diff_id in zip(layers, diff_ids, strict=True)]
        for job in jobs:
            job.result()
    store.put_blob(digest, body)
    record = ImageRecord(str(reference), digest, config_desc["digest"], [d["digest"] for d in layers],
                         list(diff_ids))
    store.put_image(record)
    return record


def _manifest(client: Client, repo: str, ref: str, expected: str | None) -> tuple[str, bytes, str]:
    media_type, body = client.get_manifest(repo, ref)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if expected is not None:
        algorithm, _, hexpart = expected.partition(":")
        if hashlib.new(algorithm, body).hexdigest() != hexpart:
            raise PullError(f"{client.host}/{repo}@{expected}: the manifest does not match its digest")
        digest = expected
    if not media_type or media_type == "application/octet-stream":
        media_type = json.loads(body).get("mediaType", "")
    return media_type, body, digest


def _choose(index: dict, platform: Platform, reference: Reference) -> str:
    available = []
    for entry in index.get("manifests", []):
        p = entry.get("platform") or {}
        candidate = Platform(p.get("os", ""), p.get("architecture", ""), p.get("variant", ""))
        available.append(str(candidate))
        if candidate.os == platform.os and candidate.architecture == platform.architecture and (
                not platform.variant or candidate.variant in (platform.variant, "")):
            return entry["digest"]
    raise PullError(f"{reference}: no image for {platform} (the index has {', '.join(available) or 'none'})")


def _fetch_layer(client: Client, repo: str, store: Store, desc: dict, diff_id: str,
                 progress: Progress) -> None:
    cached = store.has_blob(desc["digest"]) or store.has_layer(diff_id)
    progress.layer_started(desc["digest"], desc.get("size", 0))
    if not store.has_layer(diff_id):
        _fetch_blob(client, repo, store, desc, progress)
        store.unpack_layer(desc["digest"], desc.get("mediaType", ""), diff_id)
    progress.layer_finished(desc["digest"], desc.get("size", 0), cached)


def _fetch_blob(client: Client, repo: str, store: Store, desc: dict, progress: Progress | None) -> None:
    if store.has_blob(desc["digest"]):
        return
    reader = _ResumingReader(client, repo, desc["digest"], desc.get("size"), progress)
    try:
        store.put_blob(desc["digest"], reader, size=desc.get("size"))
    finally:
        reader.close()


class _ResumingReader:
    """A blob as one stream; a connection that breaks mid-body is reopened with Range where it stopped."""

    def __init__(self, client: Client, repo: str, digest: str, size: int | None,
                 progress: Progress | None) -> None:
        self.client, self.repo, self.digest, self.size = client, repo, digest, size
        self.progress = progress
        self.offset = 0
        self.attempts = 0
        self.response = client.open_blob(repo, digest)

    def read(self, n: int = -1) -> bytes:
        import urllib3

        while True:
            try:
                data = self.response.read(n if n and n > 0 else 1 << 20, decode_content=False)
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, OSError) as exc:
                data, error = b"", exc
            else:
                error = None
            if data:
                self.offset += len(data)
                if self.progress is not None:
                    self.progress.layer_advanced(self.digest, self.offset)
                return data
            if error is None and (self.size is None or self.offset >= self.size):
                return b""
            # Cut short (an error, or an end before the size): resume where it stopped.
            self.attempts += 1
            if self.attempts > RESUME_ATTEMPTS:
                reason = f": {error}" if error else ""
                raise RegistryError(f"{self.client.host}: blob {self.digest}: the transfer broke off at byte "
                                    f"{self.offset}{reason}")
            self.response.release_conn()
            self.response = self.client.open_blob(self.repo, self.digest, offset=self.offset)

    def close(self) -> None:
        self.response.release_conn()

