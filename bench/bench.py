#!/usr/bin/env python3
"""Start-up latency of hutch against runc on one busybox bundle: `hutch run`, `hutch-runtime run`, and
hutch-runtime's create / state / start / delete.

Every round runs each case once, in a shuffled order, so that drift in the machine's load affects hutch and
runc alike and neither always follows the other (a cgroup migration is cheap right after another one):

    hutch run        `hutch run --rootfs R -- /bin/true`
    hutch-runtime run / runc run
                     `TOOL --root STATE run -b BUNDLE ID`; runc's run is also the reference for `hutch run`.
                     An untimed `delete -f` follows each, in case the run left anything.
    unshare          `unshare -fpmuin --mount-proc true`: namespaces and nothing else, the floor.
    lifecycle        for hutch-runtime and for runc, on a fresh ID:
                       create --pid-file P (timed), state (timed, on the created container), start (timed),
                       then, untimed, wait until the container's /bin/true has exited, then delete (timed).
                     "create+start+delete" is the sum of the three within the round (state is not in it).

The harness is a child subreaper: each container's init ends up its child, as it would a shim's, and it
waits for the init through a pidfd before `delete`. Each tool keeps its state under its own --root in the
work directory. The bundle's linux.cgroupsPath is /hutch/bench-PID, so every container's cgroup, runc's too,
goes under the `hutch` parent rather than a hierarchy's root. Everything the harness made is removed at the
end, also on failure or SIGTERM: containers (`delete -f` with each tool), the work directory.

It prints the median and p90 of each command, hutch/runc ratios of medians and, to show the spread, the
lowest and highest ratio over five blocks of consecutive rounds.

    bench/bench.py [-n RUNS] [--only run|lifecycle] [--hutch PATH] [--runtime PATH] [--runc PATH] [--markdown]
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import platform
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUSYBOX = Path("/bin/busybox")
PR_SET_CHILD_SUBREAPER = 36
EXIT_WAIT_SECONDS = 10.0
BLOCKS = 5

# Series names: "hutch run", "hutch-runtime run", "runc run", "unshare", and "TOOL STEP" of the lifecycles.
HUTCH_RUN = "hutch run"
RT_RUN, RUNC_RUN, UNSHARE = "hutch-runtime run", "runc run", "unshare"
SUM = "create+start+delete"


class BenchError(Exception):
    pass


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


def build_bundle(bundle: Path, runc: str) -> None:
    """A runc bundle around bundle/rootfs (runc's default spec), which both runtimes run."""
    subprocess.run([runc, "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["terminal"] = False
    spec["linux"]["cgroupsPath"] = f"/hutch/bench-{os.getpid()}"
    (bundle / "config.json").write_text(json.dumps(spec, indent=2))


class Harness:
    """Runs the commands, times them, and remembers every container it may have left behind."""

    def __init__(self, work: Path, tools: dict[str, str]) -> None:
        self.work = work
        self.tools = tools  # tool name ("hutch-runtime", "runc") -> executable
        self.err = work / "stderr"
        self.live: dict[str, set[str]] = {name: set() for name in tools}
        self.serial = 0

    def root(self, tool: str) -> str:
        return str(self.work / f"{tool}-state")

    def base(self, tool: str) -> list[str]:
        return [self.tools[tool], "--root", self.root(tool)]

    def new_id(self, tool: str) -> str:
        self.serial += 1
        cid = f"hb{os.getpid()}-{self.serial}"
        self.live[tool].add(cid)
        return cid

    def timed(self, argv: list[str]) -> float:
        # stderr goes to a file, never a pipe: a created container's init inherits it and would keep a pipe
        # open until the container exits.
        with open(self.err, "w+b") as err:
            start = time.perf_counter()
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                err.seek(0)
                message = err.read().decode(errors="replace").strip()
                raise BenchError(f"{' '.join(argv)} exited {proc.returncode}: {message}")
        return elapsed

    def quiet(self, argv: list[str]) -> int:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True).returncode

    # -- cases -------------------------------------------------------------------------------------------

    def run(self, tool: str, bundle: Path) -> float:
        cid = self.new_id(tool)
        try:
            return self.timed([*self.base(tool), "run", "-b", str(bundle), cid])
        finally:
            self.quiet([*self.base(tool), "delete", "-f", cid])
            self.live[tool].discard(cid)

    def lifecycle(self, tool: str, bundle: Path, check: bool) -> dict[str, float]:
        base = self.base(tool)
        cid = self.new_id(tool)
        pid_file = self.work / f"{cid}.pid"
        times = {"create": self.timed([*base, "create", "-b", str(bundle), "--pid-file", str(pid_file), cid])}
        pid = int(pid_file.read_text())
        pidfd = os.pidfd_open(pid)
        try:
            if check:
                self.check_status(tool, cid, "created")
            times["state"] = self.timed([*base, "state", cid])
            times["start"] = self.timed([*base, "start", cid])
            wait_exit(pid, pidfd)
        finally:
            os.close(pidfd)
        if check:
            self.check_status(tool, cid, "stopped")
        times["delete"] = self.timed([*base, "delete", cid])
        self.live[tool].discard(cid)
        if check and self.quiet([*base, "state", cid]) == 0:
            raise BenchError(f"{tool}: container {cid} still exists after delete")
        times[SUM] = times["create"] + times["start"] + times["delete"]
        return times

    def check_status(self, tool: str, cid: str, want: str) -> None:
        out = subprocess.run([*self.base(tool), "state", cid], capture_output=True, text=True)
        try:
            status = json.loads(out.stdout)["status"]
        except (ValueError, KeyError):
            status = f"unreadable ({out.stdout.strip()!r} {out.stderr.strip()!r})"
        if status != want:
            raise BenchError(f"{tool} state {cid}: status {status}, expected {want}")

    def cleanup(self) -> None:
        """Delete every container a tool may still hold, with that tool; the caller removes the work dir."""
        for tool in self.tools:
            root = Path(self.root(tool))
            ids = set(self.live[tool])
            if root.is_dir():
                ids.update(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            for cid in sorted(ids):
                self.quiet([*self.base(tool), "delete", "-f", cid])


def wait_exit(pid: int, pidfd: int) -> None:
    """Untimed: the container's process has exited (and, being our child now, is reaped)."""
    ready, _, _ = select.select([pidfd], [], [], EXIT_WAIT_SECONDS)
    if not ready:
        raise BenchError(f"the container's process {pid} did not exit within {EXIT_WAIT_SECONDS:.0f} s")
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # reaped by someone else: it was not reparented to us


def reap_strays() -> None:
    """As a subreaper we inherit orphans; none of our own subprocesses runs between rounds."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def block_ratios(hutch: list[float], runc: list[float]) -> list[float]:
    """The ratio of medians within each of BLOCKS spans of consecutive rounds (none under 5 rounds a span)."""
    size = len(hutch) // BLOCKS
    if size < 5:
        return []
    spans = [slice(i * size, (i + 1) * size) for i in range(BLOCKS)]
    return [statistics.median(hutch[s]) / statistics.median(runc[s]) for s in spans]


def stale_bytecode() -> list[str]:
    """hutch modules whose .pyc is missing or older than the source. With PYTHONDONTWRITEBYTECODE set (as on
    the development machine) each of them is compiled again on every start, some 30 ms in all."""
    import importlib.util

    stale = []
    for source in sorted((REPO / "src" / "hutch").rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        try:
            header = cached.read_bytes()[:16]
        except OSError:
            stale.append(str(source.relative_to(REPO)))
            continue
        timestamp_based = int.from_bytes(header[4:8], "little") == 0
        recorded = int.from_bytes(header[8:12], "little")
        if timestamp_based and recorded != int(source.stat().st_mtime) & 0xFFFFFFFF:
            stale.append(str(source.relative_to(REPO)))
    return stale


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def tool_version(argv: list[str], index: int) -> str:
    out = subprocess.run(argv, capture_output=True, text=True).stdout.split()
    return out[index] if len(out) > index else "?"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=50, help="rounds (default 50)")
    ap.add_argument("--only", choices=("run", "lifecycle"), help="only the run cases, or only the lifecycle")
    ap.add_argument("--hutch", default=str(REPO / ".venv" / "bin" / "hutch"), help="the hutch executable")
    ap.add_argument("--runtime", default=str(REPO / ".venv" / "bin" / "hutch-runtime"),
                    help="the hutch-runtime executable")
    ap.add_argument("--runc", default="runc", help="the runc executable")
    ap.add_argument("--seed", type=int, help="seed of the per-round shuffle (default: random, printed)")
    ap.add_argument("--markdown", action="store_true", help="also print a markdown table for the README")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("bench: must be run as root", file=sys.stderr)
        return 2
    for tool in (args.runc, "unshare", args.hutch, args.runtime):
        if not shutil.which(tool):
            print(f"bench: {tool} is not installed", file=sys.stderr)
            return 2
    if not BUSYBOX.exists():
        print(f"bench: {BUSYBOX} is missing (apt-get install busybox-static)", file=sys.stderr)
        return 2
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and (stale := stale_bytecode()):
        print(f"bench: warning: {len(stale)} modules lack an up-to-date .pyc and compile on every start "
              f"(run `make venv`): {' '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}", file=sys.stderr)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    # SIGTERM unwinds like ^C, so that the finally below still removes everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    become_subreaper()

    work = Path(tempfile.mkdtemp(prefix="hutch-bench-"))
    harness = Harness(work, {"hutch-runtime": args.runtime, "runc": args.runc})
    times: dict[str, list[float]] = {}
    load_before = loadavg()
    try:
        bundle = work / "bundle"
        rootfs = bundle / "rootfs"
        build_rootfs(rootfs)
        build_bundle(bundle, args.runc)
        cases = {}
        if args.only != "lifecycle":
            cases[HUTCH_RUN] = lambda _check: {HUTCH_RUN: harness.timed(
                [args.hutch, "run", "--rootfs", str(rootfs), "--", "/bin/true"])}
            cases[RT_RUN] = lambda _check: {RT_RUN: harness.run("hutch-runtime", bundle)}
            cases[RUNC_RUN] = lambda _check: {RUNC_RUN: harness.run("runc", bundle)}
            cases[UNSHARE] = lambda _check: {UNSHARE: harness.timed(
                ["unshare", "-fpmuin", "--mount-proc", "true"])}
        if args.only != "run":
            for tool in ("hutch-runtime", "runc"):
                cases[tool] = (lambda t: lambda check: {f"{t} {k}": v for k, v in
                                                        harness.lifecycle(t, bundle, check).items()})(tool)
        order = list(cases)
        for i in range(args.runs + 1):
            rng.shuffle(order)
            for name in order:
                result = cases[name](i == 0)  # round 0 checks the states, warms the caches; not counted
                if i > 0:
                    for label, value in result.items():
                        times.setdefault(label, []).append(value)
            reap_strays()
            print(f"\rround {i}/{args.runs}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    except BenchError as exc:
        print(f"\nbench: {exc}", file=sys.stderr)
        return 1
    finally:
        harness.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        reap_strays()

    report(args, times, seed, load_before, loadavg())
    return 0


def rows_of(times: dict[str, list[float]]) -> list[tuple[str, str, str]]:
    """(row label, hutch series, runc series) for what was measured."""
    rows: list[tuple[str, str, str]] = []
    if HUTCH_RUN in times:
        rows += [("`hutch run --rootfs R -- /bin/true` vs `runc run`", HUTCH_RUN, RUNC_RUN),
                 ("`hutch-runtime run -b BUNDLE ID`", RT_RUN, RUNC_RUN)]
    if "hutch-runtime create" in times:
        rows += [("`create --pid-file P`", "hutch-runtime create", "runc create"),
                 ("`state` (created container)", "hutch-runtime state", "runc state"),
                 ("`start`", "hutch-runtime start", "runc start"),
                 ("`delete` (stopped container)", "hutch-runtime delete", "runc delete"),
                 ("`create` + `start` + `delete`", f"hutch-runtime {SUM}", f"runc {SUM}")]
    return rows


def ms(values: list[float], q: float | None = None) -> float:
    return (statistics.median(values) if q is None else percentile(values, q)) * 1000


def report(args: argparse.Namespace, times: dict[str, list[float]], seed: int, load_before: str,
           load_after: str) -> None:
    n = len(next(iter(times.values())))
    print(f"{n} rounds, shuffle seed {seed}, load average {load_before} before, {load_after} after")
    print(f"{'command':<34} {'median ms':>10} {'p90 ms':>8} {'hutch/runc':>11} {'over 5 blocks':>14}")

    def line(label: str, extra: str = "") -> None:
        print(f"{label:<34} {ms(times[label]):>10.1f} {ms(times[label], 0.9):>8.1f}{extra}")

    shown = set()
    for _row, hutch, runc in rows_of(times):
        blocks = block_ratios(times[hutch], times[runc])
        span = f"{min(blocks):.2f}-{max(blocks):.2f}" if blocks else ""
        line(hutch, f" {statistics.median(times[hutch]) / statistics.median(times[runc]):>11.2f} {span:>14}")
        if runc not in shown:
            shown.add(runc)
            line(runc)
    if UNSHARE in times:
        line(UNSHARE)
    if args.markdown:
        markdown(args, times, n, f"{load_before} before, {load_after} after")


def markdown(args: argparse.Namespace, times: dict[str, list[float]], n: int, load: str) -> None:
    runc = tool_version([args.runc, "--version"], 2)
    when = datetime.date.today().isoformat()
    print()
    print(f"Measured {when} with `make bench` ({n} rounds, each running every command once in a shuffled")
    print(f"order; `/bin/true` on a busybox bundle), Linux {platform.release()}, {cpu_model()}, "
          f"{os.cpu_count()} CPUs, runc {runc}, Python {platform.python_version()}, load average {load}:")
    print()
    print("| command | hutch median / p90 (ms) | runc median / p90 (ms) | hutch/runc | over 5 blocks |")
    print("|---|---:|---:|---:|---:|")
    for row, hutch, runc_label in rows_of(times):
        h, r = times[hutch], times[runc_label]
        blocks = block_ratios(h, r)
        span = f"{min(blocks):.2f}-{max(blocks):.2f}" if blocks else ""
        print(f"| {row} | {ms(h):.1f} / {ms(h, 0.9):.1f} | {ms(r):.1f} / {ms(r, 0.9):.1f} "
              f"| **{statistics.median(h) / statistics.median(r):.2f}** | {span} |")
    if UNSHARE in times:
        print()
        print(f"The floor, `unshare -fpmuin --mount-proc true` (namespaces and nothing else): "
              f"{ms(times[UNSHARE]):.1f} / {ms(times[UNSHARE], 0.9):.1f} ms.")


if __name__ == "__main__":
    sys.exit(main())
