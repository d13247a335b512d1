#!/usr/bin/env python3
"""Run the Open Containers runtime-tools validation suite against a runtime and count TAP results.

The suite is not part of hutch: fetch opencontainers/runtime-tools, check out a commit of early 2025 (e.g.
260e151) and build it outside this repository with Debian's Go 1.19:

    GOFLAGS=-mod=vendor make runtimetest validation-executables

then, as root:

    tools/validation.py SUITE_DIR RUNTIME [RUNTIME...]     e.g. /work/rt-build runc hutch-runtime

Each validation/*/*.t runs from SUITE_DIR with RUNTIME set (its bundles need `runtimetest` there) under a
time limit. Cases that share the host's mount namespace can leave mounts under /tmp/ocitest*: they are
detached after every case, the suite's containers (bundles under /tmp/ocitest*) left under the runtime's
default root are deleted with it, and the empty cgroups the case made are removed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TIMEOUT = 120


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("runtimes", nargs="+")
    parser.add_argument("--only", action="append", default=[], help="run only these cases (directory names)")
    parser.add_argument("--log", type=Path, help="write each case's TAP output to LOG/RUNTIME/CASE.tap")
    args = parser.parse_args()
    cases = sorted(glob.glob(str(args.suite / "validation" / "*" / "*.t")))
    if args.only:
        cases = [c for c in cases if Path(c).parent.name in args.only]
    if not cases:
        sys.exit(f"validation.py: no validation/*/*.t under {args.suite}: build the suite first")
    totals = {}
    for runtime in args.runtimes:
        binary = os.path.abspath(shutil.which(runtime) or runtime)  # the cases run from the suite directory
        passed = failed = clean = 0
        broken = []
        for case in cases:
            before = cgroup_dirs()
            ok, not_ok, complete, output = run_case(args.suite, binary, case)
            if args.log:
                log = args.log / Path(runtime).name / (Path(case).parent.name + ".tap")
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text(output)
            passed += ok
            failed += not_ok
            clean += not_ok == 0
            if not complete:
                broken.append(Path(case).parent.name)
            clean_up(binary, before)
        totals[runtime] = (passed, failed, clean, broken)
    for runtime, (passed, failed, clean, broken) in totals.items():
        print(f"{runtime}: {clean} of {len(cases)} cases without a failure, {len(cases) - clean} with one; "
              f"{passed} ok, {failed} not ok" + (f"; ended early: {', '.join(broken)}" if broken else ""))
    return 0


def run_case(suite: Path, runtime: str, case: str) -> tuple[int, int, bool, str]:
    env = {**os.environ, "RUNTIME": runtime}
    try:
        result = subprocess.run([case], cwd=suite, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        output, complete = result.stdout + result.stderr, result.returncode in (0, 1)
    except subprocess.TimeoutExpired as exc:
        output, complete = (exc.stdout or b"").decode(errors="replace"), False
    ok = sum(1 for line in output.splitlines() if line.startswith("ok "))
    not_ok = sum(1 for line in output.splitlines() if line.startswith("not ok "))
    planned = next((line for line in output.splitlines() if line.startswith("1..")), "")
    if planned and not_ok + ok < int(planned[3:] or 0):
        not_ok += int(planned[3:]) - ok - not_ok  # planned cases that never reported count as failures
        complete = False
    return ok, not_ok, complete, output


def cgroup_dirs() -> set[str]:
    found = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype in ("cgroup", "cgroup2"):
            for top, dirs, _files in os.walk(fields[4]):
                found.update(os.path.join(top, d) for d in dirs)
    return found


def clean_up(runtime: str, cgroups_before: set[str]) -> None:
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith("/tmp/ocitest")]
    for mountpoint in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], capture_output=True)
    # Only the suite's own containers: their bundles are its /tmp/ocitest* directories.
    listing = subprocess.run([runtime, "list", "--format", "json"], capture_output=True, text=True)
    try:
        containers = json.loads(listing.stdout or "[]") or []
    except ValueError:
        containers = []
    for container in containers:
        if str(container.get("bundle", "")).startswith("/tmp/ocitest"):
            subprocess.run([runtime, "delete", "--force", container["id"]], capture_output=True)
    # Cgroups the case made (its cgroupsPath's parents stay behind with some runtimes): the empty ones go.
    for path in sorted(cgroup_dirs() - cgroups_before, key=len, reverse=True):
        try:
            if not Path(path, "cgroup.procs").read_text().strip():
                os.rmdir(path)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
