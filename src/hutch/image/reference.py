"""Image references as docker parses them: `busybox` is docker.io/library/busybox:latest.

    reference := [domain "/"] path [":" tag] ["@" digest]
    domain    := host [":" port]       the first component, when it has a "." or a ":" or is "localhost"
    path      := component ("/" component)*, lowercase letters and digits joined by ".", "_", "__" or "-"s
    tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest    := "sha256:" 64 hex digits | "sha512:" 128 hex digits (lowercase)

Hand-written rather than with `re`: `hutch run IMAGE` parses one on the container start path.
"""

from __future__ import annotations

from hutch.image.errors import ImageError
from hutch.record import Record

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 255
DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}

_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_TAG_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_TAG_REST = _TAG_FIRST | frozenset(".-")
_HEX = frozenset("0123456789abcdef")
_HOST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


class ReferenceError(ImageError, ValueError):
    """A malformed image reference; the message names the reference and what is wrong with it."""


class Reference(Record):
    domain: str  # registry host[:port], e.g. docker.io, localhost:5000
    path: str  # repository path, e.g. library/busybox
    tag: str | None = None
    digest: str | None = None  # "sha256:<hex>"

    @property
    def name(self) -> str:
        """domain/path: the repository, without tag or digest."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += ":" + self.tag
        if self.digest is not None:
            text += "@" + self.digest
        return text

    def familiar(self) -> str:
        """The short form docker shows: busybox:latest, user/app:1, localhost:5000/app@sha256:..."""
        path = self.path
        if self.domain == DEFAULT_DOMAIN:
            path = path.removeprefix(OFFICIAL_NAMESPACE + "/")
            text = path
        else:
            text = f"{self.domain}/{path}"
        if self.tag is not None:
            text += ":" + self.tag
        if self.digest is not None:
            text += "@" + self.digest
        return text


def parse(text: str, default_tag: bool = True) -> Reference:
    """Parse and normalise a reference as docker does; the tag defaults to latest unless a digest is given
    (or `default_tag` is false)."""
    if not text:
        raise ReferenceError("invalid reference format: the reference is empty")
    remainder, digest = _split_digest(text)
    name, tag = _split_tag(text, remainder)
    if len(name) > MAX_NAME_LENGTH:
        raise ReferenceError(f"invalid reference format: {text}: repository name must not be longer than "
                             f"{MAX_NAME_LENGTH} characters")
    domain, path = _split_domain(name)
    if domain is not None:
        _check_domain(text, domain)
    _check_path(text, path)
    if domain is None or domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"{OFFICIAL_NAMESPACE}/{path}"
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def has_domain(text: str) -> bool:
    """Whether a reference names its registry (`localhost:5000/app`) or is a short name (`busybox`)."""
    name = text.partition("@")[0]
    return _split_domain(name)[0] is not None


def check_digest(digest: str) -> str:
    """Return `digest` if it is a valid sha256 or sha512 digest; raise ReferenceError otherwise."""
    algorithm, sep, hexpart = digest.partition(":")
    length = DIGEST_LENGTHS.get(algorithm)
    if not sep or length is None:
        raise ReferenceError(f"invalid digest {digest!r}: the algorithm must be sha256 or sha512")
    if len(hexpart) != length or not set(hexpart) <= _HEX:
        raise ReferenceError(f"invalid digest {digest!r}: expected {length} lowercase hex digits")
    return digest


def _split_digest(text: str) -> tuple[str, str | None]:
    remainder, sep, digest = text.partition("@")
    if not sep:
        return text, None
    try:
        return remainder, check_digest(digest)
    except ReferenceError as exc:
        raise ReferenceError(f"invalid reference format: {text}: {exc}") from None


def _split_tag(text: str, remainder: str) -> tuple[str, str | None]:
    # A ":" after the last "/" starts the tag; one before it belongs to a host:port.
    colon = remainder.rfind(":")
    if colon <= remainder.rfind("/"):
        return remainder, None
    name, tag = remainder[:colon], remainder[colon + 1 :]
    if not tag or len(tag) > 128 or tag[0] not in _TAG_FIRST or not set(tag) <= _TAG_REST:
        raise ReferenceError(f"invalid reference format: {text}: invalid tag {tag!r}")
    return name, tag


def _split_domain(name: str) -> tuple[str | None, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return None, name


def _check_domain(text: str, domain: str) -> None:
    if domain.startswith("["):  # an IPv6 address: [::1] or [::1]:5000
        close = domain.find("]")
        host, port = domain[: close + 1], domain[close + 1 :]
        if close < 0 or not set(host[1:-1]) <= frozenset("0123456789abcdefABCDEF:."):
            raise ReferenceError(f"invalid reference format: {text}: invalid registry host {domain!r}")
        if port and (port[0] != ":" or not port[1:].isdigit() or not port.isascii()):
            raise ReferenceError(f"invalid reference format: {text}: invalid port in {domain!r}")
        return
    host, sep, port = domain.partition(":")
    if sep and (not port.isdigit() or not port.isascii()):
        raise ReferenceError(f"invalid reference format: {text}: invalid port in {domain!r}")
    for label in host.split("."):
        if not label or not set(label) <= _HOST_CHARS or label[0] == "-" or label[-1] == "-":
            raise ReferenceError(f"invalid reference format: {text}: invalid registry host {host!r}")


def _check_path(text: str, path: str) -> None:
    if not path:
        raise ReferenceError(f"invalid reference format: {text}: the repository name is empty")
    if path != path.lower():
        raise ReferenceError(f"invalid reference format: {text}: repository name must be lowercase")
    for component in path.split("/"):
        if not _valid_component(component):
            raise ReferenceError(f"invalid reference format: {text}: invalid repository name component "
                                 f"{component!r}")


def _valid_component(component: str) -> bool:
    """Lowercase letters and digits, separated by one ".", one or two "_", or any number of "-"."""
    if not component or component[0] not in _LOWER_ALNUM or component[-1] not in _LOWER_ALNUM:
        return False
    i, n = 0, len(component)
    while i < n:
        ch = component[i]
        if ch in _LOWER_ALNUM:
            i += 1
            continue
        j = i
        while j < n and component[j] not in _LOWER_ALNUM:
            j += 1
        separator = component[i:j]
        if separator not in (".", "_", "__") and set(separator) != {"-"}:
            return False
        i = j
    return True
