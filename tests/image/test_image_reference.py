"""Image references, normalised as docker normalises them (parsing only: no registry is involved)."""

from __future__ import annotations

import pytest

from hutch.image.reference import ReferenceError, check_digest, parse

SHA = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "full"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("user/app", "docker.io/user/app:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/user/app:v1", "docker.io/user/app:v1"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/ns/name:tag", "localhost:5000/ns/name:tag"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
    ("quay.io/org/sub/app:1.0-rc_1", "quay.io/org/sub/app:1.0-rc_1"),
    (f"busybox@{SHA}", f"docker.io/library/busybox@{SHA}"),
    (f"busybox:1.36@{SHA}", f"docker.io/library/busybox:1.36@{SHA}"),
    (f"localhost:5000/app@{SHA}", f"localhost:5000/app@{SHA}"),
    ("a.b-c/e--f", "a.b-c/e--f:latest"),  # a "." makes the first component a registry
    ("[::1]:5000/app", "[::1]:5000/app:latest"),
    ("my_ns/my.app-x", "docker.io/my_ns/my.app-x:latest"),
])
def test_references_are_normalised_as_docker_does(text, full):
    assert str(parse(text)) == full


def test_the_parts_and_the_familiar_form():
    ref = parse("localhost:5000/ns/name:tag")
    assert (ref.domain, ref.path, ref.tag, ref.digest, ref.name) == (
        "localhost:5000", "ns/name", "tag", None, "localhost:5000/ns/name")
    assert parse("busybox").familiar() == "busybox:latest"
    assert parse("user/app:1").familiar() == "user/app:1"
    assert parse(f"busybox@{SHA}").familiar() == f"busybox@{SHA}"
    assert parse("localhost/app").familiar() == "localhost/app:latest"


def test_no_default_tag_when_asked():
    assert parse("busybox", default_tag=False).tag is None


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("Busybox", "must be lowercase"),
    ("docker.io/Library/busybox", "must be lowercase"),
    ("busybox:", "invalid tag"),
    ("busybox:-x", "invalid tag"),
    ("busybox:" + "t" * 129, "invalid tag"),
    ("busybox:a/b", "invalid port"),  # a ":" before a "/" is a registry's port
    ("a.b-c__d/e", "invalid registry host"),
    ("[::1/app", "invalid registry host"),
    ("busybox@sha256:abc", "64 lowercase hex digits"),
    ("busybox@md5:" + "a" * 32, "sha256 or sha512"),
    ("busybox@" + SHA.upper().replace("SHA256", "sha256"), "64 lowercase hex digits"),
    ("-busybox", "invalid repository name component"),
    ("busy..box", "invalid repository name component"),
    ("busy___box", "invalid repository name component"),
    ("ns//app", "invalid repository name component"),
    ("app/", "invalid repository name component"),
    ("localhost:port/app", "invalid port"),
    ("bad_host.io/app", "invalid registry host"),
    ("-bad.io/app", "invalid registry host"),
    ("localhost:5000/", "empty"),
    ("a" * 256, "longer than 255"),
])
def test_malformed_references_are_one_clear_error(text, why):
    with pytest.raises(ReferenceError) as caught:
        parse(text)
    message = str(caught.value)
    assert message.startswith("invalid reference format") and why in message
    assert "\n" not in message


def test_digests_sha256_and_sha512():
    assert check_digest(SHA) == SHA
    assert check_digest("sha512:" + "0" * 128)
    with pytest.raises(ReferenceError):
        check_digest("sha512:" + "0" * 64)
