#!/usr/bin/env python3
"""Pull speed: `hutch pull` of a multi-layer image into an empty store (download, verify, unpack) against
`skopeo copy` to an OCI layout plus `umoci unpack` of it, from the same loopback registry, alternating.

The image is built once from files that Debian packages installed on this machine (/usr/lib/gcc,
/usr/libexec, the Python standard library, /usr/share/locale, ...), a layer per directory, gzip-compressed,
until it is at least --min-mib MiB compressed, and pushed with skopeo to a docker-registry started on
127.0.0.1 with its storage in the work directory. Everything is removed at the end.

    bench/pull.py [-n ROUNDS] [--min-mib 150] [--hutch PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ["/usr/lib/gcc", "/usr/libexec", "/usr/lib/python3.11", "/usr/share/locale", "/usr/lib/python3",
              "/usr/share/perl", "/usr/share/doc", "/usr/share/i18n", "/usr/lib/x86_64-linux-gnu/perl",
              "/usr/share/man", "/usr/lib/x86_64-linux-gnu/gconv", "/usr/share/zoneinfo"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=3)
    parser.add_argument("--min-mib", type=int, default=150)
    parser.add_argument("--hutch", default=str(Path(sys.executable).parent / "hutch"))
    args = parser.parse_args()
    for tool in ("docker-registry", "skopeo", "umoci", "tar", "gzip"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/pull.py: {tool} is missing (make test installs it)")
    work = Path(tempfile.mkdtemp(prefix="hutch-pull-bench-", dir="/var/tmp"))
    try:
        with registry(work) as host:
            size, layers = build_and_push(work, host, args.min_mib)
            ref = f"{host}/bench/big:1"
            times: dict[str, list[float]] = {"hutch pull": [], "skopeo copy + umoci unpack": []}
            for _ in range(args.rounds):
                times["hutch pull"].append(timed_hutch(work, args.hutch, ref))
                times["skopeo copy + umoci unpack"].append(timed_skopeo_umoci(work, ref))
        ours = statistics.median(times["hutch pull"])
        theirs = statistics.median(times["skopeo copy + umoci unpack"])
        print(f"{args.rounds} rounds, an image of {layers} layers, {size / 2**20:.0f} MiB compressed")
        for name, values in times.items():
            print(f"{name:28} median {statistics.median(values):6.2f} s  "
                  f"({', '.join(f'{v:.2f}' for v in values)})")
        print(f"hutch / (skopeo + umoci): {ours / theirs:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


@contextlib.contextmanager
def registry(work: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = work / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n"
                      f"  filesystem:\n    rootdirectory: {work / 'storage'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def build_and_push(work: Path, host: str, min_mib: int) -> tuple[int, int]:
    layout = work / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers, diff_ids, total = [], [], 0
    for directory in CANDIDATES:
        if total >= min_mib << 20:
            break
        if not os.path.isdir(directory):
            continue
        tar = work / "layer.tar"
        subprocess.run(["tar", "-C", "/", "-cf", str(tar), directory.lstrip("/")], check=True,
                       stderr=subprocess.DEVNULL)
        diff_ids.append("sha256:" + _sha256(tar))
        subprocess.run(["gzip", "-6", "-n", "-f", str(tar)], check=True)
        gz = work / "layer.tar.gz"
        digest = _sha256(gz)
        size = gz.stat().st_size
        gz.rename(blobs / digest)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": "sha256:" + digest, "size": size})
        total += size
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                                      "size": len(config)},
                           "layers": layers}).encode()
    for data in (config, manifest):
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "1"}}]}))
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                    "--preserve-digests", f"oci:{layout}:1", f"docker://{host}/bench/big:1"], check=True)
    shutil.rmtree(layout)
    return total, len(layers)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def timed_hutch(work: Path, hutch: str, ref: str) -> float:
    root = work / "hutch-root"
    shutil.rmtree(root, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([hutch, "--root", str(root), "pull", "-q", ref], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    shutil.rmtree(root)
    return elapsed


def timed_skopeo_umoci(work: Path, ref: str) -> float:
    layout, bundle = work / "oci", work / "bundle"
    for path in (layout, bundle):
        shutil.rmtree(path, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                    f"oci:{layout}:1"], check=True)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:1", str(bundle)], check=True,
                   stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    for path in (layout, bundle):
        shutil.rmtree(path)
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
