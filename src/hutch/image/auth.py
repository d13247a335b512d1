"""Registry credentials in docker's config.json format: `hutch login` writes them, pulls read them.

    {"auths": {"localhost:5000": {"auth": base64("user:password")}, ...}, ...other keys kept as they are}

Written (mode 0600, atomically, under a lock) to $REGISTRY_AUTH_FILE if set, else $DOCKER_CONFIG/config.json,
else ~/.docker/config.json. Read from those and from podman's ${XDG_RUNTIME_DIR}/containers/auth.json, the
first file that has the registry winning. Docker Hub's credentials live under docker's historical key
"https://index.docker.io/v1/".
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os

from hutch.files import write_atomic
from hutch.image.errors import ImageError
from hutch.record import Record

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_KEY)


class AuthError(ImageError):
    """An unreadable or malformed auth file; the message names the file."""


class Credentials(Record):
    username: str
    password: str


def write_path() -> str:
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return os.environ["REGISTRY_AUTH_FILE"]
    if os.environ.get("DOCKER_CONFIG"):
        return os.path.join(os.environ["DOCKER_CONFIG"], "config.json")
    return os.path.join(os.path.expanduser("~"), ".docker", "config.json")


def read_paths() -> list[str]:
    paths = [write_path()]
    if os.environ.get("XDG_RUNTIME_DIR"):
        paths.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    return paths


def lookup(registry: str) -> Credentials | None:
    """The credentials stored for `registry` (host[:port]), or None."""
    keys = _HUB_ALIASES if registry in _HUB_ALIASES else (registry, f"https://{registry}", f"http://{registry}")
    for path in read_paths():
        auths = _load(path).get("auths") or {}
        for key in keys:
            entry = auths.get(key)
            if isinstance(entry, dict) and entry.get("auth"):
                return _decode(path, key, entry["auth"])
    return None


def store(registry: str, credentials: Credentials) -> str:
    """Save credentials for `registry`; returns the file written."""
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    return _update(registry, {"auth": token})


def remove(registry: str) -> bool:
    """Forget `registry`'s credentials; whether there were any."""
    found = []

    def drop(auths: dict) -> None:
        for key in _keys_for(registry):
            if auths.pop(key, None) is not None:
                found.append(key)

    _modify(drop)
    return bool(found)


def _keys_for(registry: str) -> tuple[str, ...]:
    return _HUB_ALIASES if registry in _HUB_ALIASES else (registry,)


def _update(registry: str, entry: dict) -> str:
    key = DOCKER_HUB_KEY if registry in _HUB_ALIASES else registry

    def put(auths: dict) -> None:
        for other in _keys_for(registry):
            auths.pop(other, None)
        auths[key] = entry

    return _modify(put)


def _modify(change: object) -> str:
    """Read, change and atomically rewrite the auth file under an exclusive lock (a `.lock` file beside it),
    so that two logins at once never lose one another's entry."""
    path = write_path()
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        document = _load(path)
        auths = document.setdefault("auths", {})
        if not isinstance(auths, dict):
            raise AuthError(f"{path}: \"auths\" is not an object")
        change(auths)  # type: ignore[operator]
        write_atomic(path, (json.dumps(document, indent="\t") + "\n").encode(), mode=0o600)
        os.chmod(path, 0o600)  # an existing file keeps no looser mode than the new one
    finally:
        os.close(lock_fd)
    return path


def _load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise AuthError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(document, dict):
        raise AuthError(f"{path}: not a JSON object")
    return document


def _decode(path: str, key: str, token: str) -> Credentials:
    try:
        text = base64.b64decode(token, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError(f"{path}: the credentials for {key} are not valid base64") from None
    username, sep, password = text.partition(":")
    if not sep:
        raise AuthError(f"{path}: the credentials for {key} are not \"user:password\"")
    return Credentials(username, password)
