#!/usr/bin/env python3
"""Start-up latency of `hutch run` against runc and a bare `unshare`, on the same busybox root filesystem.

The three commands are timed in alternation (hutch, runc, unshare, hutch, ...) so that drift in the machine's
load affects them alike. runc's `delete -f` after each run is not timed. Everything the harness makes (rootfs,
bundle, runc state) lives in one temporary directory that is removed at the end, also on failure.

    bench/bench.py [-n RUNS] [--hutch PATH] [--markdown]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUSYBOX = Path("/bin/busybox")


def build_rootfs(root: Path) -> None:
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "root", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True, text=True).stdout
    for applet in applets.split():
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")


def build_bundle(bundle: Path) -> None:
    """A runc bundle around bundle/rootfs, which hutch runs too."""
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(spec, indent=2))


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode().strip()}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=50, help="runs of each command (default 50)")
    ap.add_argument("--hutch", default=str(REPO / ".venv" / "bin" / "hutch"), help="the hutch executable")
    ap.add_argument("--markdown", action="store_true", help="also print a markdown table for the README")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: must be run as root", file=sys.stderr)
        return 2
    for tool in ("runc", "unshare"):
        if not shutil.which(tool):
            print(f"bench: {tool} is not installed", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="hutch-bench-"))
    runc_root = work / "runc-state"
    times: dict[str, list[float]] = {"hutch": [], "runc": [], "unshare": []}
    try:
        bundle = work / "bundle"
        rootfs = bundle / "rootfs"
        build_rootfs(rootfs)
        build_bundle(bundle)
        commands = {
            "hutch": [args.hutch, "run", "--rootfs", str(rootfs), "--", "/bin/true"],
            "unshare": ["unshare", "-fpmuin", "--mount-proc", "true"],
        }
        for i in range(args.runs):
            times["hutch"].append(timed(commands["hutch"]))
            cid = f"hutch-bench-{uuid.uuid4().hex[:8]}"
            try:
                times["runc"].append(timed(["runc", "--root", str(runc_root), "run", "-b", str(bundle), cid]))
            finally:
                subprocess.run(["runc", "--root", str(runc_root), "delete", "-f", cid], capture_output=True)
            times["unshare"].append(timed(commands["unshare"]))
            print(f"\rrun {i + 1}/{args.runs}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for label, values in times.items():
        rows.append((label, statistics.median(values) * 1000, percentile(values, 0.9) * 1000))
    ratio = statistics.median(times["hutch"]) / statistics.median(times["runc"])
    print(f"{'command':<10} {'median ms':>10} {'p90 ms':>10}")
    for label, med, p90 in rows:
        print(f"{label:<10} {med:>10.1f} {p90:>10.1f}")
    print(f"hutch/runc median ratio: {ratio:.2f}")

    if args.markdown:
        when = datetime.date.today().isoformat()
        print()
        print(f"Measured {when} with `make bench` ({args.runs} alternating runs of `/bin/true` on a busybox")
        print(f"rootfs), Linux {platform.release()}, {cpu_model()}, {os.cpu_count()} CPUs.")
        print()
        print("| command | median (ms) | p90 (ms) |")
        print("|---|---:|---:|")
        names = {
            "hutch": "`hutch run --rootfs R -- /bin/true`",
            "runc": "`runc run -b BUNDLE ID` (runc " + runc_version() + ")",
            "unshare": "`unshare -fpmuin --mount-proc true` (floor)",
        }
        for label, med, p90 in rows:
            print(f"| {names[label]} | {med:.1f} | {p90:.1f} |")
        print()
        print(f"hutch/runc ratio of medians: **{ratio:.2f}**")
    return 0


def runc_version() -> str:
    out = subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout.split()
    return out[2] if len(out) > 2 else "?"


if __name__ == "__main__":
    sys.exit(main())
