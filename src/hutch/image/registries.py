"""Which registries to ask, and how: mirrors, plain-HTTP (insecure) registries and unqualified-search ones.

/etc/hutch/registries.toml, or the file $HUTCH_REGISTRIES_CONF names, in the shape of containers'
registries.conf (v2):

    unqualified-search-registries = ["docker.io"]

    [[registry]]
    location = "registry.example:5000"
    insecure = true                      # plain HTTP allowed
    [[registry.mirror]]
    location = "mirror.example:5000"
    insecure = true

A missing file means docker's defaults: short names go to docker.io, no mirrors. As docker, a registry on
localhost or in 127.0.0.0/8 (or ::1) may use plain HTTP without being listed.
"""

from __future__ import annotations

import os

from hutch.image.errors import ImageError
from hutch.image.reference import Reference, has_domain, parse
from hutch.record import Factory, Record

DEFAULT_PATH = "/etc/hutch/registries.toml"
ENV_PATH = "HUTCH_REGISTRIES_CONF"


class RegistriesError(ImageError):
    """A malformed registries file; the message names the file and the problem."""


class Endpoint(Record):
    host: str  # host[:port]
    insecure: bool = False  # plain HTTP allowed (tried after HTTPS fails, as docker does)


class Registry(Record):
    location: str
    insecure: bool = False
    mirrors: list[Endpoint] = Factory(list)


class Registries(Record):
    search: list[str] = Factory(lambda: ["docker.io"])
    registries: list[Registry] = Factory(list)

    def find(self, host: str) -> Registry | None:
        for registry in self.registries:
            if registry.location == host:
                return registry
        return None

    def endpoints(self, host: str) -> list[Endpoint]:
        """Where to fetch a repository of `host` from, in order: its mirrors, then the registry itself."""
        registry = self.find(host)
        own = Endpoint(host, allows_http(host) or bool(registry and registry.insecure))
        listed = registry.mirrors if registry else []
        mirrors = [Endpoint(m.host, m.insecure or allows_http(m.host)) for m in listed]
        return [*mirrors, own]

    def candidates(self, text: str) -> list[Reference]:
        """The references a name may mean: itself if it names a registry, else one per search registry."""
        reference = parse(text)  # a malformed name is reported as the user wrote it
        if has_domain(text):
            return [reference]
        if not self.search:
            raise RegistriesError(f"{text}: a short name, and no unqualified-search registries are set")
        return [parse(f"{registry}/{text}") for registry in self.search]


def allows_http(host: str) -> bool:
    """localhost, 127.0.0.0/8 and ::1 registries may be plain HTTP without configuration, as in docker."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1 : host.find("]")]
    if name in ("localhost", "::1"):
        return True
    parts = name.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)


def load(path: str | None = None) -> Registries:
    path = path or os.environ.get(ENV_PATH) or DEFAULT_PATH
    import tomllib

    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except FileNotFoundError:
        return Registries()
    except OSError as exc:
        raise RegistriesError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistriesError(f"{path}: {exc}") from None
    return _from_document(path, document)


def _from_document(path: str, document: dict) -> Registries:
    search = document.get("unqualified-search-registries", ["docker.io"])
    if not isinstance(search, list) or not all(isinstance(s, str) and s for s in search):
        raise RegistriesError(f"{path}: unqualified-search-registries must be a list of registry names")
    registries = []
    for number, table in enumerate(document.get("registry", []), 1):
        where = f"{path}: registry #{number}"
        location = _location(where, table)
        insecure = _flag(where, table, "insecure")
        mirrors = []
        for n, mirror in enumerate(table.get("mirror", []), 1):
            mirrors.append(Endpoint(_location(f"{where} mirror #{n}", mirror),
                                    _flag(f"{where} mirror #{n}", mirror, "insecure")))
        registries.append(Registry(location, insecure, mirrors))
    return Registries(list(search), registries)


def _location(where: str, table: object) -> str:
    location = table.get("location") if isinstance(table, dict) else None
    if not isinstance(location, str) or not location or "/" in location:
        raise RegistriesError(f"{where}: location must be a registry host[:port]")
    return location


def _flag(where: str, table: dict, key: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise RegistriesError(f"{where}: {key} must be true or false")
    return value
