"""The OCI distribution client: ping, anonymous, basic and bearer-token auth, manifests and blob streams.

urllib3 (not the standard library's urllib): connection pooling across the many requests of a pull, streamed
bodies with Range, and control over redirects, which are followed here by hand so that the registry's
credentials never go to another host (blob storage behind a redirect gets none).

Bearer tokens come from the realm a `WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge
names (Docker Hub's flow), with the login's credentials sent there as basic auth when there are any, and are
cached per scope until they expire. 429 and 5xx answers are retried with exponential backoff.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from urllib.parse import urlencode, urljoin, urlsplit

from hutch.image.auth import Credentials
from hutch.image.errors import ImageError
from hutch.record import Record

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5


class RegistryError(ImageError):
    """A registry that is down, refuses us, or answers what it should not; one line naming the registry."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Challenge(Record):
    scheme: str  # "basic" or "bearer"
    params: dict


def parse_challenge(header: str) -> Challenge:
    """`Bearer realm="https://auth",service="registry",scope="repository:a/b:pull"` -> its parts (values
    may hold commas inside their quotes)."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " ,":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().lower()
        i = eq + 1
        if i < n and rest[i] == '"':
            end = i + 1
            value = []
            while end < n and rest[end] != '"':
                if rest[end] == "\\" and end + 1 < n:
                    end += 1
                value.append(rest[end])
                end += 1
            params[key] = "".join(value)
            i = end + 1
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            params[key] = rest[i:end].strip()
            i = end
    return Challenge(scheme.lower(), params)


class Client:
    """One registry (host[:port]); thread-safe for the parallel blob fetches of a pull."""

    def __init__(self, host: str, *, insecure: bool = False, credentials: Credentials | None = None,
                 timeout: float = 30.0, retries: int = 4, backoff: float = 0.5) -> None:
        import urllib3

        self.host = host
        self.insecure = insecure
        self.credentials = credentials
        self.retries = retries
        self.backoff = backoff
        self.scheme = "https"
        self.pool = urllib3.PoolManager(maxsize=8, retries=False,
                                        timeout=urllib3.Timeout(connect=timeout, read=timeout))
        self.tokens: dict[str, tuple[str, float]] = {}
        self.basic = False  # the registry asked for basic auth

    # -------------------------------------------------------------------------- API

    def close(self) -> None:
        """Close the pooled connections."""
        self.pool.clear()

    def ping(self) -> None:
        """GET /v2/: the registry is there and speaks the protocol (a 401 counts: it wants a login)."""
        response = self._send("GET", "/v2/", scope=None, authenticate=False)
        if response.status not in (200, 401):
            raise RegistryError(f"{self.host}: /v2/ answered {response.status}: not a registry",
                                response.status)

    def check_login(self) -> None:
        """Authenticate at /v2/ with the credentials (hutch login): a wrong password is an error here."""
        self._request("GET", "/v2/", scope="registry:catalog:*")

    def get_manifest(self, repository: str, reference: str) -> tuple[str, bytes]:
        """(media type, body) of a manifest or index by tag or digest."""
        response = self._request("GET", f"/v2/{repository}/manifests/{reference}", scope=_pull(repository),
                                 headers={"Accept": ", ".join(MANIFEST_TYPES)})
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return media_type, response.data

    def open_blob(self, repository: str, digest: str, offset: int = 0):  # -> urllib3.BaseHTTPResponse
        """A streamed response for a blob, from `offset` on (Range) to resume a broken transfer."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self._request("GET", f"/v2/{repository}/blobs/{digest}", scope=_pull(repository),
                                 headers=headers, stream=True)
        if offset and response.status != 206:
            response.release_conn()
            raise RegistryError(f"{self.host}: blob {digest}: the registry cannot resume at byte {offset}",
                                response.status)
        return response

    # -------------------------------------------------------------------------- requests

    def _request(self, method: str, path: str, *, scope: str | None, headers: dict | None = None,
                 stream: bool = False):
        response = self._send(method, path, scope=scope, headers=headers, stream=stream)
        if response.status == 401:
            _drain(response)
            self._authenticate(response.headers.get("WWW-Authenticate", ""), scope)
            response = self._send(method, path, scope=scope, headers=headers, stream=stream)
            if response.status == 401:
                _drain(response)
                raise RegistryError(f"{self.host}: authentication failed: unauthorized (check `hutch login`)",
                                    401)
        if response.status >= 400:
            body = response.data if not stream else response.read(4096)
            _drain(response)
            raise RegistryError(f"{self.host}: {method} {path}: {_error_text(response.status, body)}",
                                response.status)
        return response

    def _send(self, method: str, path: str, *, scope: str | None, headers: dict | None = None,
              stream: bool = False, authenticate: bool = True):
        """One request with retries for 429/5xx and connection errors, redirects followed by hand."""
        import urllib3

        attempt = 0
        while True:
            url = f"{self.scheme}://{self.host}{path}"
            try:
                response = self._follow(method, url, headers or {}, scope if authenticate else None, stream)
            except urllib3.exceptions.SSLError:
                if self.insecure and self.scheme == "https":
                    self.scheme = "http"  # an insecure registry may speak plain HTTP only
                    continue
                raise RegistryError(f"{self.host}: TLS failed (plain HTTP needs `insecure`)") from None
            except urllib3.exceptions.HTTPError as exc:
                if self.insecure and self.scheme == "https" and attempt == 0:
                    self.scheme = "http"
                    continue
                # A registry that refuses connections is most likely down: two retries, not the full four.
                if attempt >= min(self.retries, 2):
                    raise RegistryError(f"{self.host}: cannot connect: {_reason(exc)}") from None
                attempt += 1
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            if response.status in RETRY_STATUSES and attempt < self.retries:
                delay = _retry_after(response) or self.backoff * 2**attempt
                _drain(response)
                attempt += 1
                time.sleep(delay)
                continue
            return response

    def _follow(self, method: str, url: str, headers: dict, scope: str | None, stream: bool):
        own = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            send = dict(headers)
            if urlsplit(url).netloc == own:
                auth = self._authorization(scope)
                if auth:
                    send["Authorization"] = auth
            response = self.pool.request(method, url, headers=send, redirect=False,
                                         preload_content=not stream)
            if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                _drain(response)
                url = urljoin(url, response.headers["Location"])
                continue
            return response
        raise RegistryError(f"{self.host}: too many redirects")

    # -------------------------------------------------------------------------- auth

    def _authorization(self, scope: str | None) -> str | None:
        if scope is not None:
            token = self.tokens.get(scope)
            if token and token[1] > time.monotonic():
                return f"Bearer {token[0]}"
        if self.basic and self.credentials:
            return "Basic " + _basic(self.credentials)
        return None

    def _authenticate(self, header: str, scope: str | None) -> None:
        challenge = parse_challenge(header) if header else Challenge("basic", {})
        if challenge.scheme == "basic":
            if not self.credentials:
                raise RegistryError(f"{self.host}: authentication required (`hutch login {self.host}`)", 401)
            self.basic = True
            return
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise RegistryError(f"{self.host}: unsupported authentication challenge {header!r}")
        self._fetch_token(challenge.params, scope or challenge.params.get("scope", ""))

    def _fetch_token(self, params: dict, scope: str) -> None:
        query = {"service": params["service"]} if params.get("service") else {}
        if scope:
            query["scope"] = scope
        realm = params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        headers = {"Authorization": "Basic " + _basic(self.credentials)} if self.credentials else {}
        try:
            response = self.pool.request("GET", url, headers=headers, redirect=True)
        except Exception as exc:  # urllib3's errors, without importing them at module level
            raise RegistryError(f"{self.host}: cannot reach the token server {realm}: "
                                f"{_reason(exc)}") from None
        if response.status in (401, 403):
            raise RegistryError(f"{self.host}: authentication failed at the token server {realm}: wrong user "
                                "name or password", response.status)
        if response.status != 200:
            raise RegistryError(f"{self.host}: token server {realm}: "
                                f"{_error_text(response.status, response.data)}", response.status)
        try:
            document = json.loads(response.data)
            token = document.get("token") or document["access_token"]
            lifetime = float(document.get("expires_in", 60))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RegistryError(f"{self.host}: token server {realm} sent no token") from None
        # Refresh a little early: a token that expires in flight fails a long blob download.
        self.tokens[scope] = (token, time.monotonic() + max(lifetime - 5, 1))


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _basic(credentials: Credentials) -> str:
    return base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()


def _drain(response) -> None:
    try:
        response.drain_conn()
    except Exception:
        pass
    response.release_conn()


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return min(float(value), 30.0) if value.isdigit() else None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc).splitlines()[0]


def _error_text(status: int, body: bytes) -> str:
    """The registry's own error message when its body has one (the spec's {"errors": [...]})."""
    try:
        errors = json.loads(body).get("errors") or []
        message = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
    except (ValueError, AttributeError):
        message = ""
    return f"{status} {message}".strip() if message else f"HTTP {status}"


def iter_chunks(response, size: int = 1 << 20) -> Iterator[bytes]:
    """A streamed response's body in chunks."""
    yield from response.stream(size, decode_content=False)
