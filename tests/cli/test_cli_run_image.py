"""hutch run IMAGE as docker's: pulled when missing, an overlay root from the layers, the image config with
the flags' overrides, nothing left behind; and the seed scenario (stress under -m 50m) from an image."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hutchtest import run_hutch, wait_for

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures"))
from registrytest import BuiltImage, BuiltIndex, busybox_files, run_registry, with_libraries

BASE = busybox_files()
BASE["etc/motd"] = b"from the base layer\n"
APP = BuiltImage([BASE, {"etc/.wh.motd": b"", "work/hello": b"hello from the image\n"}],
                 cmd=["/bin/sh", "-c", "echo from-cmd"])
APP_CONFIG = {"Env": ["GREETING=hi", "PATH=/bin"], "WorkingDir": "/work", "User": "app"}
ENTRY = BuiltImage([busybox_files()], cmd=["default"])
ENTRY_CONFIG = {"Entrypoint": ["/bin/echo", "entry:"]}


def _stress_image() -> BuiltImage | None:
    if not os.path.exists("/usr/bin/stress"):
        return None
    # Two layers, as a Debian image with stress would have: the base, then stress and its libraries, and a
    # whiteout of a file of the base.
    base = {**busybox_files(), "etc/motd": b"base\n"}
    return BuiltImage([base, {**with_libraries("/usr/bin/stress"), "etc/.wh.motd": b""}],
                      cmd=["/usr/bin/stress"])


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("registry")
    with run_registry(work) as host:
        APP.configure(APP_CONFIG)
        APP.push(work, host, "test/app:1")
        ENTRY.configure(ENTRY_CONFIG)
        ENTRY.push(work, host, "test/entry:1")
        stress = _stress_image()
        if stress is not None:
            stress.push(work, host, "test/stress:1")
        yield host


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("HUTCH_REGISTRIES_CONF", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    return tmp_path / "root"


def _run(root: Path, *args: str, timeout: float = 120):
    return run_hutch("--root", str(root), "run", *args, timeout=timeout)


def test_a_missing_image_is_pulled_and_its_command_runs(registry, root):
    first = _run(root, f"{registry}/test/app:1")
    assert (first.returncode, first.stdout) == (0, "from-cmd\n"), first.stderr
    assert "Unable to find image" in first.stderr
    second = _run(root, f"{registry}/test/app:1")
    assert (second.returncode, second.stdout) == (0, "from-cmd\n") and "Unable" not in second.stderr
    assert os.listdir(root / "containers") == []  # upper and work directories went with the containers


def test_the_image_config_and_the_flags_that_override_it(registry, root):
    script = 'echo "$GREETING $(pwd) $(id -u):$(id -g) $(cat hello)"'
    image = _run(root, f"{registry}/test/app:1", "sh", "-c", script)
    assert (image.returncode, image.stdout) == (0, "hi /work 1000:1000 hello from the image\n"), image.stderr
    flags = _run(root, "-e", "GREETING=bye", "-w", "/", "-u", "0:staff", f"{registry}/test/app:1",
                 "sh", "-c", 'echo "$GREETING $(pwd) $(id -u):$(id -g)"')
    assert (flags.returncode, flags.stdout) == (0, "bye / 0:50\n"), flags.stderr
    entry = _run(root, f"{registry}/test/entry:1")
    assert entry.stdout == "entry: default\n"
    args = _run(root, f"{registry}/test/entry:1", "a", "b")
    assert args.stdout == "entry: a b\n"
    replaced = _run(root, "--entrypoint", "/bin/echo", f"{registry}/test/entry:1", "only")
    assert replaced.stdout == "only\n"


def test_whiteouts_hide_files_and_writes_stay_in_the_container(registry, root):
    hidden = _run(root, f"{registry}/test/app:1", "sh", "-c",
                  "test -e /etc/motd && echo visible || echo hidden")
    assert hidden.stdout == "hidden\n"
    wrote = _run(root, "-u", "0", f"{registry}/test/app:1", "sh", "-c", "echo x > /work/new; cat /work/new")
    assert wrote.stdout == "x\n"
    fresh = _run(root, f"{registry}/test/app:1", "sh", "-c", "test -e /work/new && echo kept || echo fresh")
    assert fresh.stdout == "fresh\n"


def test_an_unknown_image_is_one_line_and_125(registry, root):
    result = _run(root, f"{registry}/test/nothing:1")
    assert result.returncode == 125 and result.stderr.splitlines()[-1].startswith("hutch: ")
    assert "MANIFEST_UNKNOWN" in result.stderr


def test_run_without_an_image_or_rootfs_is_a_usage_error(root):
    result = run_hutch("--root", str(root), "run")
    assert result.returncode == 125 and "run needs an image" in result.stderr


@pytest.mark.parametrize(("size", "code"), [("40m", 0), ("100m", 137)])
def test_the_seed_scenario_from_an_image(registry, root, size, code):
    if _stress_image() is None:
        pytest.skip("stress is not installed (make test installs it)")
    result = _run(root, "-m", "50m", f"{registry}/test/stress:1", "/usr/bin/stress", "--vm", "1",
                  "--vm-bytes", size, "--vm-keep", "-t", "2")
    assert result.returncode == code, result.stderr
    if code == 137:
        assert "container was killed by the OOM killer" in result.stderr


def test_rmi_keeps_the_layers_of_a_running_container(registry, root, hutch_bg, name):
    image = f"{registry}/test/app:1"
    assert _run(root, image, "true").returncode == 0
    with hutch_bg("--root", str(root), "run", "--name", name, image, "sleep", "3") as proc:
        wait_for(lambda: (root / "containers" / name / "layers.json").exists())
        removed = run_hutch("--root", str(root), "rmi", image)
        assert removed.returncode == 0, removed.stderr
        assert len(os.listdir(root / "layers" / "sha256")) == 2, "both layers stay while the container runs"
        assert run_hutch("--root", str(root), "images", "-q").stdout == ""  # the name is gone
        assert proc.wait(timeout=30) == 0


def test_sigterm_to_a_foreground_run_sends_the_images_stop_signal(registry, root, hutch_bg, name, tmp_path):
    work = tmp_path / "push"
    work.mkdir()
    script = "trap 'echo got-usr1; exit 7' USR1; echo ready; while true; do sleep 0.1; done"
    image = BuiltImage([busybox_files(("sh", "echo", "sleep", "true"))], cmd=["/bin/sh", "-c", script])
    image.configure({"StopSignal": "SIGUSR1"})
    image.push(work, registry, "test/stopsignal:1")
    assert _run(root, f"{registry}/test/stopsignal:1", "true").returncode == 0  # pulled beforehand
    with hutch_bg("--root", str(root), "run", "--name", name, f"{registry}/test/stopsignal:1",
                  text=True) as proc:
        assert proc.stdout.readline().strip() == "ready"
        proc.terminate()  # SIGTERM to hutch run: stop the container, with the image's StopSignal
        out, _ = proc.communicate(timeout=30)
    assert "got-usr1" in out and proc.returncode == 7


def _push_formats(work: Path, registry: str) -> None:
    """The busybox image as a Docker schema 2 image, with a zstd layer, and in a multi-platform index."""
    import subprocess

    image = BuiltImage([busybox_files()], cmd=["/bin/echo", "ran"])
    layout = work / "layout-formats"
    image.write_layout(layout, "1")
    for name, extra in (("v2s2", ["--format", "v2s2"]),
                        ("zstd", ["--dest-compress-format", "zstd", "--format", "oci"])):
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", *extra,
                        f"oci:{layout}:1", f"docker://{registry}/test/{name}:1"],
                       check=True, capture_output=True, timeout=300)
    other = BuiltImage([{"arch": b"arm64\n"}], architecture="arm64", variant="v8")
    BuiltIndex([image, other]).push(work, registry, "test/index:1")
    BuiltIndex([image, other]).push(work, registry, "test/list:1", docker=True)


@pytest.fixture(scope="module")
def formats(registry, tmp_path_factory):
    if os.uname().machine != "x86_64":
        pytest.skip("the test images are amd64")
    _push_formats(tmp_path_factory.mktemp("formats"), registry)


@pytest.mark.parametrize("name", ["v2s2", "zstd", "index", "list"])
def test_every_image_format_pulls_and_runs(registry, formats, root, name):
    result = _run(root, f"{registry}/test/{name}:1")
    assert (result.returncode, result.stdout) == (0, "ran\n"), result.stderr


def _kernel_at_least(major: int, minor: int) -> bool:
    release = os.uname().release.split("-")[0].split(".")
    return (int(release[0]), int(release[1])) >= (major, minor)


def test_an_image_of_many_layers_runs(registry, root, tmp_path):
    # 80 layers: more than fit in mount(2)'s page of options (about 55), mounted one by one ("lowerdir+").
    layers = [busybox_files(("sh", "cat"))] + [{f"layer/{n:03d}": f"{n}\n".encode()} for n in range(1, 80)]
    image = BuiltImage(layers, cmd=["/bin/sh", "-c", "cat /layer/001 /layer/079"])
    work = tmp_path / "push"
    work.mkdir()
    image.push(work, registry, "test/many:1")
    result = _run(root, f"{registry}/test/many:1")
    if _kernel_at_least(6, 8):
        assert (result.returncode, result.stdout) == (0, "1\n79\n"), result.stderr
    else:
        assert result.returncode == 125 and "Linux 6.8 can" in result.stderr
    assert os.listdir(root / "containers") == []


def test_a_second_run_of_a_live_name_leaves_the_first_alone(registry, root, hutch_bg, name):
    image = f"{registry}/test/app:1"
    assert _run(root, image, "true").returncode == 0
    with hutch_bg("--root", str(root), "run", "--name", name, image, "sh", "-c",
                  "sleep 2; cat /work/hello", text=True) as first:
        wait_for(lambda: (root / "containers" / name / "layers.json").exists())
        second = _run(root, "--name", name, image, "true")
        assert second.returncode == 125 and f"the container name {name} is already in use" in second.stderr
        out, err = first.communicate(timeout=60)
    assert (first.returncode, out) == (0, "hello from the image\n"), err
    assert os.listdir(root / "containers") == []
