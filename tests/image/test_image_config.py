"""registries.toml and the login credentials file, read and written on real files in a temporary directory."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading

import pytest

from hutch.image import auth, registries
from hutch.image.reference import has_domain


@pytest.fixture
def auth_env(tmp_path, monkeypatch):
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_login_writes_docker_config_json_with_mode_0600_and_keeps_other_keys(auth_env):
    config = auth_env / "home" / ".docker" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"credsStore": "none", "auths": {"other:1": {"auth": "eDp5"}}}))
    config.chmod(0o644)
    assert auth.store("localhost:5000", auth.Credentials("alice", "s3:cret")) == str(config)
    document = json.loads(config.read_text())
    assert document["credsStore"] == "none" and document["auths"]["other:1"] == {"auth": "eDp5"}
    assert base64.b64decode(document["auths"]["localhost:5000"]["auth"]) == b"alice:s3:cret"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert auth.lookup("localhost:5000") == auth.Credentials("alice", "s3:cret")
    assert auth.lookup("localhost:5001") is None


def test_docker_hub_uses_dockers_historical_key(auth_env):
    auth.store("docker.io", auth.Credentials("bob", "pw"))
    document = json.loads((auth_env / "home" / ".docker" / "config.json").read_text())
    assert list(document["auths"]) == [auth.DOCKER_HUB_KEY]
    assert auth.lookup("docker.io") == auth.Credentials("bob", "pw")
    assert auth.remove("docker.io") is True
    assert auth.lookup("docker.io") is None
    assert auth.remove("docker.io") is False


def test_the_file_is_chosen_by_environment(auth_env, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(auth_env / "dockercfg"))
    assert auth.write_path() == str(auth_env / "dockercfg" / "config.json")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_env / "auth.json"))
    auth.store("r.example", auth.Credentials("u", "p"))
    assert (auth_env / "auth.json").exists() and not (auth_env / "dockercfg").exists()


def test_podmans_auth_file_is_read_too(auth_env, monkeypatch):
    runtime = auth_env / "xdg"
    (runtime / "containers").mkdir(parents=True)
    token = base64.b64encode(b"carol:pw").decode()
    (runtime / "containers" / "auth.json").write_text(json.dumps({"auths": {"r.example": {"auth": token}}}))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert auth.lookup("r.example") == auth.Credentials("carol", "pw")


def test_a_malformed_auth_file_is_one_clear_error(auth_env):
    config = auth_env / "home" / ".docker" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text("{not json")
    with pytest.raises(auth.AuthError, match=r"config.json: invalid JSON at line 1"):
        auth.lookup("r.example")
    config.write_text(json.dumps({"auths": {"r.example": {"auth": "!!!"}}}))
    with pytest.raises(auth.AuthError, match="not valid base64"):
        auth.lookup("r.example")


def test_concurrent_logins_keep_every_entry(auth_env):
    threads = [threading.Thread(target=auth.store, args=(f"r{i}.example", auth.Credentials("u", str(i))))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(auth.lookup(f"r{i}.example") == auth.Credentials("u", str(i)) for i in range(8))
    names = set(os.listdir(auth_env / "home" / ".docker"))
    leftovers = names - {"config.json", "config.json.lock"}
    assert leftovers == set()


def test_registries_file(tmp_path):
    conf = tmp_path / "registries.toml"
    conf.write_text('''
unqualified-search-registries = ["localhost:5000", "docker.io"]

[[registry]]
location = "reg.example:5000"
insecure = true
[[registry.mirror]]
location = "mirror.example"
''')
    config = registries.load(str(conf))
    assert [str(r) for r in config.candidates("app")] == ["localhost:5000/app:latest",
                                                          "docker.io/library/app:latest"]
    assert [str(r) for r in config.candidates("quay.io/x/app:1")] == ["quay.io/x/app:1"]
    assert config.endpoints("reg.example:5000") == [registries.Endpoint("mirror.example", False),
                                                    registries.Endpoint("reg.example:5000", True)]
    assert config.endpoints("quay.io") == [registries.Endpoint("quay.io", False)]


def test_a_missing_registries_file_means_dockers_defaults(tmp_path):
    config = registries.load(str(tmp_path / "absent.toml"))
    assert [str(r) for r in config.candidates("busybox")] == ["docker.io/library/busybox:latest"]


@pytest.mark.parametrize(("text", "message"), [
    ("unqualified-search-registries = 5", "must be a list"),
    ("[[registry]]\ninsecure = true", "location must be"),
    ('[[registry]]\nlocation = "a.io"\ninsecure = "yes"', "insecure must be true or false"),
    ("not toml =", "registries.toml"),
])
def test_a_malformed_registries_file_is_one_clear_error(tmp_path, text, message):
    conf = tmp_path / "registries.toml"
    conf.write_text(text)
    with pytest.raises(registries.RegistriesError, match=message):
        registries.load(str(conf))


@pytest.mark.parametrize(("host", "plain"), [("localhost:5000", True), ("localhost", True),
                                             ("127.0.0.1:5000", True), ("127.10.20.30", True),
                                             ("[::1]:5000", True), ("128.0.0.1", False),
                                             ("localhost.example", False), ("reg.example", False)])
def test_plain_http_is_allowed_for_loopback_registries_only(host, plain):
    assert registries.allows_http(host) is plain


def test_has_domain():
    assert has_domain("localhost:5000/app") and has_domain("quay.io/a/b") and has_domain("localhost/app")
    assert not has_domain("busybox") and not has_domain("user/app:1.0")
