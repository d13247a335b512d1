"""The registry client against a real registry process: ping, anonymous and basic auth, manifests, blobs."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures"))
from registrytest import BuiltImage, run_registry, sha

from hutch.image.auth import Credentials
from hutch.image.registry import Client, RegistryError, iter_chunks, parse_challenge
from hutch.image.store import Store

IMAGE = BuiltImage([{"bin/hello": b"#!/bin/sh\necho hello\n"}, {"etc/motd": b"welcome\n"}])


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("registry-open")
    with run_registry(work) as host:
        IMAGE.push(work, host, "test/hello:1")
        yield host


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("registry-basic")
    with run_registry(work, htpasswd={"alice": "wonderland"}) as host:
        IMAGE.push(work, host, "test/hello:1", creds="alice:wonderland")
        yield host


def test_anonymous_manifest_and_blobs_verified_into_the_store(open_registry, tmp_path):
    client = Client(open_registry, insecure=True)
    client.ping()
    media_type, body = client.get_manifest("test/hello", "1")
    assert media_type == "application/vnd.oci.image.manifest.v1+json"
    assert sha(body) == sha(IMAGE.manifest)
    manifest = json.loads(body)
    store = Store(str(tmp_path / "root"))
    for desc in (manifest["config"], *manifest["layers"]):
        response = client.open_blob("test/hello", desc["digest"])
        store.put_blob(desc["digest"], _Stream(iter_chunks(response)), size=desc["size"])
    assert store.read_blob(manifest["config"]["digest"]) == IMAGE.config


def test_a_range_request_resumes_a_blob(open_registry):
    client = Client(open_registry, insecure=True)
    blob = IMAGE.blobs[0]
    response = client.open_blob("test/hello", sha(blob), offset=10)
    assert b"".join(iter_chunks(response)) == blob[10:]


def test_unknown_tags_and_repositories_are_clear_errors(open_registry):
    client = Client(open_registry, insecure=True)
    with pytest.raises(RegistryError, match=r"MANIFEST_UNKNOWN|NAME_UNKNOWN") as caught:
        client.get_manifest("test/hello", "nope")
    assert caught.value.status == 404


def test_basic_auth_without_with_wrong_and_with_right_credentials(basic_registry):
    with pytest.raises(RegistryError, match="authentication required"):
        Client(basic_registry, insecure=True).get_manifest("test/hello", "1")
    wrong = Client(basic_registry, insecure=True, credentials=Credentials("alice", "nope"))
    with pytest.raises(RegistryError, match="authentication failed"):
        wrong.get_manifest("test/hello", "1")
    right = Client(basic_registry, insecure=True, credentials=Credentials("alice", "wonderland"))
    right.check_login()
    _, body = right.get_manifest("test/hello", "1")
    assert hashlib.sha256(body).hexdigest() == sha(IMAGE.manifest)[7:]


def test_a_registry_that_is_down_is_one_clear_error():
    client = Client("127.0.0.1:9", insecure=True, retries=1, backoff=0.01)
    with pytest.raises(RegistryError, match="cannot connect"):
        client.ping()


def test_challenges_are_parsed_with_quoted_commas():
    challenge = parse_challenge('Bearer realm="https://auth.example/token",service="registry.example",'
                                'scope="repository:a/b:pull,push"')
    assert challenge.scheme == "bearer"
    assert challenge.params == {"realm": "https://auth.example/token", "service": "registry.example",
                                "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="x"').scheme == "basic"


class _Stream:
    """A read(n)-able view of an iterator of chunks."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.rest = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.rest) < n:
            chunk = next(self.chunks, b"")
            if not chunk:
                break
            self.rest += chunk
        data, self.rest = (self.rest, b"") if n < 0 else (self.rest[:n], self.rest[n:])
        return data


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    """A registry with `auth: token`, pointed at a token server written in the tests."""
    from registrytest import TokenServer

    work = tmp_path_factory.mktemp("registry-token")
    tokens = TokenServer(work, {"bob": "builder"})
    with tokens.running() as realm, run_registry(work, auth_config=tokens.registry_config(realm)) as host:
        tokens.realm = realm
        push_creds = "bob:builder"
        IMAGE.push(work, host, "test/hello:1", creds=push_creds)
        tokens.requests.clear()
        yield host, tokens


def test_bearer_tokens_from_the_challenge_with_the_login_sent_to_the_realm(token_registry, tmp_path):
    host, tokens = token_registry
    client = Client(host, insecure=True, credentials=Credentials("bob", "builder"))
    _, body = client.get_manifest("test/hello", "1")
    assert sha(body) == sha(IMAGE.manifest)
    assert tokens.requests == [{"user": "bob", "scope": ["repository:test/hello:pull"],
                                "service": "hutch-test-registry"}]
    response = client.open_blob("test/hello", sha(IMAGE.blobs[0]))
    assert b"".join(iter_chunks(response)) == IMAGE.blobs[0]
    assert len(tokens.requests) == 1, "the token is cached for its scope until it expires"


def test_token_auth_refuses_anonymous_and_wrong_logins(token_registry):
    host, _ = token_registry
    with pytest.raises(RegistryError, match="authentication failed") as anonymous:
        Client(host, insecure=True).get_manifest("test/hello", "1")
    assert anonymous.value.status == 401
    with pytest.raises(RegistryError, match=r"authentication failed at the token server .*: wrong user name"):
        Client(host, insecure=True, credentials=Credentials("bob", "wrong")).get_manifest("test/hello", "1")


def test_a_redirect_to_blob_storage_gets_no_credentials(basic_registry):
    from registrytest import RedirectingProxy

    front = RedirectingProxy(basic_registry, upstream_auth="alice:wonderland")
    with front.running() as host:
        client = Client(host, insecure=True, credentials=Credentials("alice", "wonderland"))
        try:
            response = client.open_blob("test/hello", sha(IMAGE.blobs[0]))
            assert b"".join(iter_chunks(response)) == IMAGE.blobs[0]
        finally:
            client.close()
    assert len(front.storage_requests) == 1
    assert "Authorization" not in front.storage_requests[0], "the registry's credentials went to another host"
