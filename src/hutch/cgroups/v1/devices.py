"""The v1 devices controller: rules written to devices.allow/deny as the difference from devices.list."""

from __future__ import annotations

from hutch.cgroups import fs
from hutch.cgroups.device_rules import ALL_ACCESS, ANY, DeviceState, access_bits, reduce_rules, rule_text
from hutch.cgroups.resources import CgroupError, Resources, Stats

_RESET = ("a", ANY, ANY)


def _number(text: str) -> int:
    return ANY if text == "*" else int(text)


def parse_list(text: str) -> DeviceState:
    """devices.list as a state. An allow-all cgroup lists only "a *:* rwm": its deny exceptions are hidden."""
    state = DeviceState()
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            kind, numbers, access = line.split()
            major, minor = numbers.split(":")
            key = (kind, _number(major), _number(minor))
            bits = access_bits(access)
        except (ValueError, KeyError):
            raise CgroupError(f"cannot parse devices.list line {line!r}") from None
        if kind == "a":
            return DeviceState(default_allow=True)
        state.exceptions[key] = state.exceptions.get(key, 0) | bits
    return state


def transition(current: DeviceState, target: DeviceState) -> list[tuple[bool, str]]:
    """The (allow?, rule) writes that turn current into target, disturbing as little as the kernel permits.

    Switching the default takes an "a" rule, which also drops every exception; so does leaving an
    allow-all cgroup, whose deny exceptions cannot be read back. Otherwise only the differences are written,
    new access first: a device the new rules allow, maybe through another rule (c 1:* replaced by c 1:3),
    never loses access in between.
    """
    writes: list[tuple[bool, str]] = []
    old = current.exceptions
    if current.default_allow or current.default_allow != target.default_allow:
        writes.append((target.default_allow, rule_text(_RESET, ALL_ACCESS)))
        old = {}
    grants_allow = not target.default_allow
    for key, bits in target.sorted_exceptions():
        gained = bits & ~old.get(key, 0)
        if gained:
            writes.append((grants_allow, rule_text(key, gained)))
    for key, bits in sorted(old.items()):
        dropped = bits & ~target.exceptions.get(key, 0)
        if dropped:
            writes.append((not grants_allow, rule_text(key, dropped)))
    return writes


class Devices:
    name = "devices"

    def requested(self, res: Resources) -> bool:
        return res.wants_devices()

    def apply(self, directory: str, res: Resources) -> None:
        if res.devices is None:
            return
        target = reduce_rules(res.devices)
        list_file = f"{directory}/devices.list"
        for allow, rule in transition(parse_list(fs.read(list_file)), target):
            fs.write(f"{directory}/devices.allow" if allow else f"{directory}/devices.deny", rule)
        # The kernel takes some writes without effect (an exception its parent lacks is refused, but a
        # removal that matches nothing is silent): check that what is enforced is what was asked for.
        after = parse_list(fs.read(list_file))
        if after.default_allow != target.default_allow or (
            not target.default_allow and after.exceptions != target.exceptions
        ):
            raise CgroupError(f"{list_file} does not hold the requested device rules after writing them")

    def stats(self, directory: str, out: Stats) -> None:
        pass
