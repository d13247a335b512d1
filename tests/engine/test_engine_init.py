"""`--init` runs tini as PID 1: it reaps orphans and turns a forwarded SIGTERM into exit 143."""

from __future__ import annotations

import signal
import time

import pytest
from hutchtest import TIME_SCALE, children_of, proc_state, wait_for


@pytest.mark.parametrize("init", [True, False], ids=["with-init", "without-init"])
def test_orphan_zombies_are_reaped_only_with_init(hutch_bg, cgroups, name, init):
    args = ["--init"] if init else []
    with hutch_bg("run", "--rootfs", "/",
                  *args, "--name", name, "--", "sh", "-c", "(sleep 0.2 &); exec sleep 3") as proc:
        wait_for(lambda: cgroups.procs(name), timeout=10)
        time.sleep(1.5)
        procs = set(cgroups.procs(name))
        assert procs, "the container ended too early"
        # A zombie has left cgroup.procs already, so look at the container processes' children as well.
        states = {pid: proc_state(pid) for pid in procs} | children_of(procs)
        zombies = [pid for pid, state in states.items() if state == "Z"]
        if init:
            assert zombies == [], states
        else:
            assert zombies, f"negative control: expected an unreaped orphan without --init, got {states}"
        assert proc.wait(timeout=20 * TIME_SCALE) == 0


def test_init_forwards_sigterm_and_exits_143(hutch_bg, cgroups, name):
    with hutch_bg("run", "--rootfs", "/", "--init", "--name", name, "--", "sleep", "30") as proc:
        # tini and sleep are both in the cgroup once the command runs.
        wait_for(lambda: len(cgroups.procs(name)) >= 2, timeout=10)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10 * TIME_SCALE) == 143
