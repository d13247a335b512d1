#!/usr/bin/env python3
"""Layer unpacking speed: hutch's unpacker against GNU tar on the same layer, plain and gzip.

The layer is a tar of the standard library of the running Python (about 1,500 entries, 50 MiB); each round
unpacks it with each tool into a fresh directory, in alternation. hutch's numbers include what tar does not
do: hashing the uncompressed stream (the diff ID) and the safety checks of every entry.

    bench/unpack.py [-n ROUNDS]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from hutch.image.compression import open_layer
from hutch.image.unpack import unpack

MEDIA = {"tar": "application/vnd.oci.image.layer.v1.tar",
         "gzip": "application/vnd.oci.image.layer.v1.tar+gzip"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hutch-unpack-bench-", dir="/var/tmp"))
    try:
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        layer = work / "layer.tar"
        subprocess.run(["tar", "-C", str(stdlib.parent), "-cf", str(layer), stdlib.name], check=True)
        (work / "layer.tar.gz").write_bytes(gzip.compress(layer.read_bytes(), compresslevel=6, mtime=0))
        times: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for kind, path in (("tar", layer), ("gzip", work / "layer.tar.gz")):
                times.setdefault(f"hutch {kind}", []).append(_hutch(path, kind, work / "out"))
                flags = "-xf" if kind == "tar" else "-xzf"
                times.setdefault(f"GNU tar {kind}", []).append(_tar(path, flags, work / "out"))
        size = layer.stat().st_size >> 20
        print(f"{args.rounds} rounds, a {size} MiB layer of {stdlib} ({_entries(layer)} entries)")
        for kind in ("tar", "gzip"):
            ours = statistics.median(times[f"hutch {kind}"])
            theirs = statistics.median(times[f"GNU tar {kind}"])
            print(f"{kind:5} hutch {ours * 1000:7.0f} ms   GNU tar {theirs * 1000:7.0f} ms   "
                  f"ratio {ours / theirs:.2f}")
    finally:
        shutil.rmtree(work)
    return 0


def _fresh(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()


def _hutch(path: Path, kind: str, dest: Path) -> float:
    _fresh(dest)
    start = time.perf_counter()
    with open(path, "rb") as f:
        unpack(open_layer(f, MEDIA[kind]), str(dest))
    return time.perf_counter() - start


def _tar(path: Path, flags: str, dest: Path) -> float:
    _fresh(dest)
    start = time.perf_counter()
    subprocess.run(["tar", "-C", str(dest), "--same-owner", "-p", flags, str(path)], check=True)
    return time.perf_counter() - start


def _entries(layer: Path) -> int:
    return len(subprocess.run(["tar", "-tf", str(layer)], capture_output=True, text=True, check=True)
               .stdout.splitlines())


if __name__ == "__main__":
    sys.exit(main())
