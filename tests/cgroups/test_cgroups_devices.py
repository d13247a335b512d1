"""Device rules on the real kernel: what a process in the cgroup may open and mknod, on v1 and on v2 alike.

Only /dev/null, /dev/zero and /dev/full (and nodes for them) are ever opened with access the rules allow.
Nodes for other devices (1:1 /dev/mem, 10:232 /dev/kvm, 7:0 loop0) are made only in the test's own
directory, only opened where the rules deny them, and removed afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hutch.cgroups import CgroupError, CgroupLayout, Layout, Manager, Resources
from hutch.cgroups.device_rules import reduce_rules
from hutch.cgroups.resources import DeviceRule
from hutch.cgroups.v1.devices import parse_list, transition
from hutch.linux import bpf

Spawn = Callable[[Manager, str], subprocess.Popen]
Check = tuple

OK, EPERM = "ok", "EPERM"


def allow(kind: str = "a", major: int = -1, minor: int = -1, access: str = "rwm") -> DeviceRule:
    return DeviceRule(True, kind, major, minor, access)


def deny(kind: str = "a", major: int = -1, minor: int = -1, access: str = "rwm") -> DeviceRule:
    return DeviceRule(False, kind, major, minor, access)


# Shaped like docker's defaults: nothing, then mknod of any node, the usual character devices, ptys.
DOCKER_DEFAULT = [
    deny(),
    allow("c", -1, -1, "m"),
    allow("b", -1, -1, "m"),
    allow("c", 1, 3),
    allow("c", 1, 8),
    allow("c", 1, 7),
    allow("c", 5, 0),
    allow("c", 1, 5),
    allow("c", 1, 9),
    allow("c", 136, -1),
    allow("c", 5, 2),
]

# Runs in the cgroup: each check is ("open", path, "r"|"w"|"rw") or ("mknod", path, "c"|"b", major, minor).
_PROBE = """
import errno, json, os, stat

def run(check):
    what, path, *args = check
    try:
        if what == "open":
            flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[args[0]]
            os.close(os.open(path, flags | os.O_CLOEXEC))
        else:
            kind = stat.S_IFCHR if args[0] == "c" else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(args[1], args[2]))
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))

with open(OUT, "w") as f:
    json.dump([run(check) for check in CHECKS], f)
"""


@pytest.fixture
def devdir(tmp_path: Path) -> Iterator[Path]:
    """A directory for device nodes (not nodev), removed with every node in it after the test."""
    directory = tmp_path / "dev"
    directory.mkdir()
    yield directory
    shutil.rmtree(directory)


def make_node(directory: Path, name: str, kind: str, major: int, minor: int) -> str:
    """A node made by the test process itself, outside any device rules; never opened by it."""
    path = directory / name
    os.mknod(path, (stat.S_IFCHR if kind == "c" else stat.S_IFBLK) | 0o600, os.makedev(major, minor))
    return str(path)


def probe(spawn: Spawn, manager: Manager, out_dir: Path, checks: list[Check]) -> list[str]:
    """Run the checks in a process inside the cgroup: "ok" or the errno name for each."""
    out = out_dir / f"probe-{time.monotonic_ns()}.json"
    child = spawn(manager, f"CHECKS = {checks!r}\nOUT = {str(out)!r}\n{_PROBE}")
    assert child.wait(timeout=60) == 0
    results = json.loads(out.read_text())
    out.unlink()
    return results


def expect(spawn: Spawn, manager: Manager, out_dir: Path, checks: list[tuple[Check, str]]) -> None:
    results = probe(spawn, manager, out_dir, [check for check, _ in checks])
    assert [(check, result) for (check, _), result in zip(checks, results, strict=True)] == checks


def test_only_devices_with_a_rule_can_be_opened_or_made(
    manager: Manager, spawn: Spawn, devdir: Path, tmp_path: Path
) -> None:
    manager.apply(Resources(devices=[allow("c", 1, 3)]))
    null_node = make_node(devdir, "null", "c", 1, 3)
    kvm_node = make_node(devdir, "kvm", "c", 10, 232)
    expect(
        spawn,
        manager,
        tmp_path,
        [
            (("open", "/dev/null", "rw"), OK),
            # A node the test made: the directory itself does not stop device nodes from working.
            (("open", null_node, "rw"), OK),
            (("mknod", str(devdir / "null2"), "c", 1, 3), OK),
            (("open", "/dev/zero", "r"), EPERM),
            (("open", kvm_node, "r"), EPERM),
            (("mknod", str(devdir / "mem"), "c", 1, 1), EPERM),
        ],
    )


def test_an_empty_list_allows_no_device(manager: Manager, spawn: Spawn, devdir: Path, tmp_path: Path) -> None:
    manager.apply(Resources(devices=[]))
    expect(
        spawn,
        manager,
        tmp_path,
        [
            (("open", "/dev/null", "r"), EPERM),
            (("open", "/dev/zero", "r"), EPERM),
            (("mknod", str(devdir / "null"), "c", 1, 3), EPERM),
        ],
    )


def test_allow_all(manager: Manager, spawn: Spawn, devdir: Path, tmp_path: Path) -> None:
    manager.apply(Resources(devices=[deny(), allow()]))
    expect(
        spawn,
        manager,
        tmp_path,
        [
            (("open", "/dev/null", "rw"), OK),
            (("open", "/dev/zero", "rw"), OK),
            (("open", "/dev/full", "w"), OK),
            (("mknod", str(devdir / "null"), "c", 1, 3), OK),
        ],
    )


@pytest.mark.parametrize(
    ("rule", "allowed", "denied"),
    [
        (allow("c", -1, -1, "rw"), ["/dev/null", "/dev/zero", "/dev/full"], ["loop0"]),
        (allow("c", 1, -1, "rw"), ["/dev/null", "/dev/zero", "/dev/full"], ["kvm", "loop0"]),
        (allow("c", -1, 5, "rw"), ["/dev/zero"], ["/dev/null", "/dev/full", "kvm"]),
    ],
    ids=["c *:*", "c 1:*", "c *:5"],
)
def test_wildcard_numbers(
    manager: Manager,
    spawn: Spawn,
    devdir: Path,
    tmp_path: Path,
    rule: DeviceRule,
    allowed: list[str],
    denied: list[str],
) -> None:
    manager.apply(Resources(devices=[rule]))
    nodes = {"kvm": make_node(devdir, "kvm", "c", 10, 232), "loop0": make_node(devdir, "loop0", "b", 7, 0)}
    checks = [(("open", path, "rw"), OK) for path in allowed]
    checks += [(("open", nodes.get(path, path), "r"), EPERM) for path in denied]
    # The rule grants no mknod.
    checks.append((("mknod", str(devdir / "null"), "c", 1, 3), EPERM))
    expect(spawn, manager, tmp_path, checks)


def test_a_later_deny_takes_back_an_earlier_allow(
    manager: Manager, spawn: Spawn, devdir: Path, tmp_path: Path
) -> None:
    manager.apply(
        Resources(
            devices=[
                allow("c", 1, 3),
                allow("c", 1, 5),
                allow("c", 1, 7),
                deny("c", 1, 5),
                deny("c", 1, 7, "w"),
            ]
        )
    )
    expect(
        spawn,
        manager,
        tmp_path,
        [
            (("open", "/dev/null", "rw"), OK),
            (("open", "/dev/zero", "r"), EPERM),
            (("open", "/dev/full", "r"), OK),
            (("open", "/dev/full", "w"), EPERM),
        ],
    )


def test_deny_all_after_allows_denies_everything(manager: Manager, spawn: Spawn, tmp_path: Path) -> None:
    manager.apply(Resources(devices=[allow("c", 1, 3), allow("c", -1, -1, "m"), deny()]))
    expect(spawn, manager, tmp_path, [(("open", "/dev/null", "r"), EPERM)])


def test_deny_exceptions_to_allow_all(manager: Manager, spawn: Spawn, devdir: Path, tmp_path: Path) -> None:
    manager.apply(Resources(devices=[allow(), deny("c", 1, 5, "w"), deny("c", 1, 7)]))
    expect(
        spawn,
        manager,
        tmp_path,
        [
            (("open", "/dev/null", "rw"), OK),
            (("open", "/dev/zero", "r"), OK),
            (("open", "/dev/zero", "w"), EPERM),
            # As the v1 controller decides: a deny rule sharing any of the access asked for refuses it.
            (("open", "/dev/zero", "rw"), EPERM),
            (("open", "/dev/full", "r"), EPERM),
            (("mknod", str(devdir / "zero"), "c", 1, 5), OK),
        ],
    )


def test_docker_defaults_let_a_node_be_made_but_not_opened(
    manager: Manager, spawn: Spawn, devdir: Path, tmp_path: Path
) -> None:
    manager.apply(Resources(devices=DOCKER_DEFAULT))
    mem = str(devdir / "mem")
    expect(
        spawn,
        manager,
        tmp_path,
        [
            (("open", "/dev/null", "rw"), OK),
            (("open", "/dev/zero", "rw"), OK),
            (("mknod", mem, "c", 1, 1), OK),
            (("open", mem, "r"), EPERM),
            (("mknod", str(devdir / "kvm"), "c", 10, 232), OK),
            (("open", str(devdir / "kvm"), "rw"), EPERM),
            (("mknod", str(devdir / "loop0"), "b", 7, 0), OK),
            (("open", str(devdir / "loop0"), "r"), EPERM),
        ],
    )


def test_access_letters(manager: Manager, spawn: Spawn, devdir: Path, tmp_path: Path) -> None:
    manager.apply(
        Resources(
            devices=[
                allow("c", 1, 3, "r"),
                allow("c", 1, 7, "w"),
                allow("c", 1, 7, "r"),
                allow("c", 1, 5, "m"),
                allow("c", 1, 8, "r"),
                allow("c", -1, -1, "w"),
            ]
        )
    )
    zero = str(devdir / "zero")
    expect(
        spawn,
        manager,
        tmp_path,
        [
            (("open", "/dev/null", "r"), OK),
            (("open", "/dev/null", "w"), OK),  # through c *:* w
            # No one rule holds both r and w for 1:3: refused, as the v1 controller does.
            (("open", "/dev/null", "rw"), EPERM),
            (("mknod", str(devdir / "null"), "c", 1, 3), EPERM),
            # Two rules for the same device add up.
            (("open", "/dev/full", "rw"), OK),
            (("mknod", zero, "c", 1, 5), OK),
            (("open", zero, "r"), EPERM),
        ],
    )


def test_none_leaves_the_rules_alone(manager: Manager, spawn: Spawn, tmp_path: Path) -> None:
    manager.apply(Resources(devices=[allow("c", 1, 3)]))
    manager.apply(Resources(pids_limit=50))
    expect(spawn, manager, tmp_path, [(("open", "/dev/null", "r"), OK), (("open", "/dev/zero", "r"), EPERM)])


def test_a_hole_in_a_wildcard_rule_is_refused_and_changes_nothing(
    manager: Manager, spawn: Spawn, tmp_path: Path
) -> None:
    manager.apply(Resources(devices=[allow("c", 1, -1, "rw")]))
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(devices=[allow("c", 1, -1, "rw"), deny("c", 1, 5, "w")]))
    assert str(caught.value) == (
        "device rule 'deny c 1:5 w' cannot be enforced: it would cut a hole in the wider rule 'c 1:* rw', "
        "which the devices controller ignores"
    )
    expect(spawn, manager, tmp_path, [(("open", "/dev/zero", "rw"), OK)])


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (allow("x", 1, 3), "the type must be a, c or b"),
        (allow("c", 1, 3, ""), "the access must be a non-empty combination of r, w and m"),
        (allow("c", 1, 3, "rx"), "the access must be a non-empty combination of r, w and m"),
        (allow("c", -2, 3), "a device number must be -1 (any) or between 0 and 2147483647"),
        (allow("c", 1, 1 << 31), "a device number must be -1 (any) or between 0 and 2147483647"),
    ],
)
def test_an_invalid_rule_is_a_one_line_error(manager: Manager, rule: DeviceRule, problem: str) -> None:
    with pytest.raises(CgroupError) as caught:
        manager.apply(Resources(devices=[rule]))
    assert str(caught.value).endswith(f": {problem}")
    assert str(caught.value).startswith("invalid device rule '")


# Updates alternate between these: /dev/null stays allowed throughout, first through a wildcard, then not.
_WIDE = [allow("c", 1, -1, "rw")]
_NARROW = [allow("c", 1, 3, "rw"), allow("c", 1, 7, "rw")]

_OPEN_NULL_UNTIL_STOPPED = """
import errno, json, os
opened = failed = 0
while not os.path.exists(STOP):
    try:
        os.close(os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC))
        opened += 1
        if opened == 1:
            open(READY, "w").close()
    except OSError:
        failed += 1

def attempt(path):
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
        return "ok"
    except OSError as exc:
        return errno.errorcode[exc.errno]

result = {"opened": opened, "failed": failed, "zero": attempt("/dev/zero"), "full": attempt("/dev/full")}
with open(OUT, "w") as f:
    json.dump(result, f)
"""


def test_an_update_never_takes_away_what_the_new_rules_allow(
    manager: Manager, spawn: Spawn, tmp_path: Path, layout: CgroupLayout
) -> None:
    manager.apply(Resources(devices=_WIDE))
    ready, stop, out = tmp_path / "ready", tmp_path / "stop", tmp_path / "out.json"
    child = spawn(
        manager, f"READY, STOP, OUT = {str(ready)!r}, {str(stop)!r}, {str(out)!r}\n{_OPEN_NULL_UNTIL_STOPPED}"
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the child never opened /dev/null"
        time.sleep(0.01)
    # Enough rounds that a write order opening a window of a few microseconds shows up.
    for _ in range(25):
        manager.apply(Resources(devices=_NARROW))
        manager.apply(Resources(devices=_WIDE))
    manager.apply(Resources(devices=_NARROW))
    stop.touch()
    assert child.wait(timeout=60) == 0
    result = json.loads(out.read_text())
    assert result["opened"] > 0
    assert (result["failed"], result["zero"], result["full"]) == (0, EPERM, OK)
    if layout.layout == Layout.V2:
        assert [name for _, name in attached_programs(manager)] == ["hutch_devices"]
    else:
        devices_dir = f"{layout.mountpoint('devices')}/{manager.path}"
        assert sorted(Path(f"{devices_dir}/devices.list").read_text().splitlines()) == [
            "c 1:3 rw",
            "c 1:7 rw",
        ]


def attached_programs(manager: Manager) -> list[tuple[int, str]]:
    """(id, name) of the device programs attached to the manager's v2 cgroup itself."""
    fd = os.open(manager.directories()[0], os.O_RDONLY | os.O_DIRECTORY)
    try:
        found = []
        for prog_id in bpf.prog_query(fd, bpf.CGROUP_DEVICE):
            prog_fd = bpf.prog_get_fd_by_id(prog_id)
            try:
                found.append(bpf.prog_info(prog_fd))
            finally:
                os.close(prog_fd)
        return found
    finally:
        os.close(fd)


ALLOW_EVERYTHING = bpf.alu32_imm(bpf.MOV, bpf.R0, 1) + bpf.exit_insn()


@pytest.fixture
def v2_only(layout: CgroupLayout) -> None:
    if layout.layout != Layout.V2:
        pytest.skip("device programs are cgroup v2's mechanism")


@pytest.mark.usefixtures("v2_only")
def test_v2_each_update_replaces_the_one_program(manager: Manager) -> None:
    assert attached_programs(manager) == []
    manager.apply(Resources(devices=_WIDE))
    [(first_id, name)] = attached_programs(manager)
    assert name == "hutch_devices"
    manager.apply(Resources(devices=_NARROW))
    [(second_id, name)] = attached_programs(manager)
    assert name == "hutch_devices" and second_id != first_id
    # hutch holds no reference: the replaced program is gone, not merely detached.
    with pytest.raises(OSError) as caught:
        os.close(bpf.prog_get_fd_by_id(first_id))
    assert caught.value.errno == errno.ENOENT


@pytest.mark.usefixtures("v2_only")
def test_v2_another_program_on_the_cgroup_is_left_in_place(
    manager: Manager, spawn: Spawn, tmp_path: Path
) -> None:
    other = bpf.prog_load(bpf.PROG_TYPE_CGROUP_DEVICE, ALLOW_EVERYTHING, "GPL", "other")
    directory = os.open(manager.directories()[0], os.O_RDONLY | os.O_DIRECTORY)
    try:
        bpf.prog_attach(directory, other, bpf.CGROUP_DEVICE, bpf.F_ALLOW_MULTI)
    finally:
        os.close(directory)
        os.close(other)
    manager.apply(Resources(devices=_WIDE))
    manager.apply(Resources(devices=_NARROW))
    assert sorted(name for _, name in attached_programs(manager)) == ["hutch_devices", "other"]
    # Both run: hutch's rules still decide.
    expect(spawn, manager, tmp_path, [(("open", "/dev/null", "rw"), OK), (("open", "/dev/zero", "r"), EPERM)])


@pytest.mark.usefixtures("v2_only")
def test_v2_two_stacked_hutch_programs_become_one(manager: Manager, spawn: Spawn, tmp_path: Path) -> None:
    # As an interrupted update on a kernel without BPF_F_REPLACE could leave them.
    directory = os.open(manager.directories()[0], os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(2):
            stale = bpf.prog_load(bpf.PROG_TYPE_CGROUP_DEVICE, ALLOW_EVERYTHING, "GPL", "hutch_devices")
            bpf.prog_attach(directory, stale, bpf.CGROUP_DEVICE, bpf.F_ALLOW_MULTI)
            os.close(stale)
    finally:
        os.close(directory)
    manager.apply(Resources(devices=_NARROW))
    assert [name for _, name in attached_programs(manager)] == ["hutch_devices"]
    expect(spawn, manager, tmp_path, [(("open", "/dev/null", "rw"), OK), (("open", "/dev/zero", "r"), EPERM)])


@pytest.mark.usefixtures("v2_only")
def test_v2_the_program_goes_with_the_cgroup(make_manager: Callable[..., Manager]) -> None:
    manager = make_manager()
    manager.apply(Resources(devices=_NARROW))
    [(prog_id, _)] = attached_programs(manager)
    manager.destroy()
    # The kernel frees a removed cgroup's programs asynchronously, after an RCU grace period.
    deadline = time.monotonic() + 20
    while True:
        try:
            os.close(bpf.prog_get_fd_by_id(prog_id))
        except OSError as exc:
            assert exc.errno == errno.ENOENT
            break
        assert time.monotonic() < deadline, f"program {prog_id} outlived its cgroup"
        time.sleep(0.05)


# Pure logic: how rules reduce, and what v1 writes to get from one state to another.


def test_rules_reduce_as_the_v1_controller_holds_them() -> None:
    state = reduce_rules(
        [allow("c", 1, 3, "r"), allow("c", 1, 3, "w"), deny("c", 1, 3, "r"), allow("b", 8, -1, "m")]
    )
    assert (state.default_allow, state.exceptions) == (False, {("c", 1, 3): 4, ("b", 8, -1): 1})
    # An "a" rule resets everything, whatever its numbers and access.
    state = reduce_rules([allow("c", 1, 3), allow("a", 5, 5, "r"), deny("c", 1, 5, "w")])
    assert (state.default_allow, state.exceptions) == (True, {("c", 1, 5): 4})
    # Taking access from a rule that does not exist is no error (the kernel ignores it too).
    assert reduce_rules([deny("c", 1, 3)]).exceptions == {}


def test_v1_list_parsing() -> None:
    assert parse_list("a *:* rwm\n").default_allow
    state = parse_list("c 1:3 rwm\nb *:* m\nc 136:* rw\n")
    assert (state.default_allow, state.exceptions) == (
        False,
        {("c", 1, 3): 7, ("b", -1, -1): 1, ("c", 136, -1): 6},
    )
    assert parse_list("") == reduce_rules([])
    with pytest.raises(CgroupError, match=r"cannot parse devices\.list line .c 1:3."):
        parse_list("c 1:3\n")


def test_v1_writes_only_the_differences_new_access_first() -> None:
    wide, narrow = reduce_rules(_WIDE), reduce_rules(_NARROW)
    assert transition(wide, narrow) == [(True, "c 1:3 rw"), (True, "c 1:7 rw"), (False, "c 1:* rw")]
    assert transition(narrow, reduce_rules([allow("c", 1, 3, "r")])) == [
        (False, "c 1:3 w"),
        (False, "c 1:7 rw"),
    ]
    assert transition(narrow, narrow) == []


def test_v1_a_default_switch_or_an_allow_all_cgroup_needs_a_reset_first() -> None:
    allow_all = parse_list("a *:* rwm")
    assert transition(allow_all, reduce_rules([allow("c", 1, 3)])) == [
        (False, "a *:* rwm"),
        (True, "c 1:3 rwm"),
    ]
    # The deny exceptions of an allow-all cgroup are not listed: they are rewritten after a reset.
    assert transition(allow_all, reduce_rules([allow(), deny("c", 1, 5)])) == [
        (True, "a *:* rwm"),
        (False, "c 1:5 rwm"),
    ]
    assert transition(reduce_rules(_NARROW), reduce_rules([allow()])) == [(True, "a *:* rwm")]
