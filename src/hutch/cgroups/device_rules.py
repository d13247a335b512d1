"""A device rule list reduced to what the kernel's v1 devices controller holds: a default and exceptions.

Both layouts enforce this reduction, so v1 and v2 agree: on v1 it is written to devices.allow/deny, on v2 it
is compiled into a BPF program. The reduction follows runc's emulation of the v1 controller: a type "a" rule
resets everything to allow-all or deny-all; any other rule either adds an exception (when it disagrees with
the default) or takes access away from the exception for exactly that type and numbers. The kernel silently
ignores taking access away from a rule that only partly matches (deny c 1:5 after allow c 1:*), so that
request is an error rather than a false sense of security.
"""

from __future__ import annotations

from hutch.cgroups.resources import CgroupError
from hutch.record import Factory, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.resources import DeviceRule

# The kernel's access bits, the same for the v1 controller (DEVCG_ACC_*) and BPF (BPF_DEVCG_ACC_*).
MKNOD = 1
READ = 2
WRITE = 4
ALL_ACCESS = MKNOD | READ | WRITE
_BITS = {"r": READ, "w": WRITE, "m": MKNOD}
ANY = -1
# The BPF program compares numbers as signed 32-bit immediates; real ones are far smaller (12 and 20 bits).
_MAX_NUMBER = (1 << 31) - 1

# (type "c" or "b", major, minor), ANY for a wildcard number.
Key = tuple[str, int, int]


def access_bits(access: str) -> int:
    bits = 0
    for letter in access:
        bits |= _BITS[letter]
    return bits


def access_text(bits: int) -> str:
    return "".join(letter for letter in "rwm" if bits & _BITS[letter])


def _number_text(number: int) -> str:
    return "*" if number == ANY else str(number)


def rule_text(key: Key, bits: int) -> str:
    """The v1 devices.allow/devices.list syntax: "c 1:3 rwm", "b *:* m"."""
    kind, major, minor = key
    return f"{kind} {_number_text(major)}:{_number_text(minor)} {access_text(bits)}"


def _describe(rule: DeviceRule) -> str:
    verb = "allow" if rule.allow else "deny"
    return f"{verb} {rule.type} {_number_text(rule.major)}:{_number_text(rule.minor)} {rule.access}"


def _validate(rule: DeviceRule) -> None:
    problem = None
    if rule.type not in ("a", "c", "b"):
        problem = "the type must be a, c or b"
    elif not rule.access or any(letter not in _BITS for letter in rule.access):
        problem = "the access must be a non-empty combination of r, w and m"
    elif not all(ANY <= number <= _MAX_NUMBER for number in (rule.major, rule.minor)):
        problem = "a device number must be -1 (any) or between 0 and 2147483647"
    if problem is not None:
        raise CgroupError(f"invalid device rule {_describe(rule)!r}: {problem}")


class DeviceState(Record):
    """What a device cgroup enforces: the default, and exceptions to it with their access bits.

    With default_allow False the exceptions are what is allowed; a device is allowed when one exception
    holds all the access asked for. With default_allow True they are what is denied; a device is denied
    when any exception shares a bit of the access asked for. This is the kernel's v1 check.
    """

    default_allow: bool = False
    exceptions: dict[Key, int] = Factory(dict)

    def apply(self, rule: DeviceRule) -> None:
        if rule.type == "a":
            # Whatever its numbers and access say, an "a" rule resets the whole list (as the kernel does).
            self.default_allow = rule.allow
            self.exceptions = {}
            return
        key = (rule.type, rule.major, rule.minor)
        bits = access_bits(rule.access)
        if rule.allow != self.default_allow:
            self.exceptions[key] = self.exceptions.get(key, 0) | bits
        else:
            self._take_away(key, bits, rule)

    def _take_away(self, key: Key, bits: int, rule: DeviceRule) -> None:
        kind, major, minor = key
        for wider in ((kind, ANY, minor), (kind, major, ANY), (kind, ANY, ANY)):
            if wider != key and self.exceptions.get(wider, 0) & bits:
                raise CgroupError(
                    f"device rule {_describe(rule)!r} cannot be enforced: it would cut a hole in the wider "
                    f"rule {rule_text(wider, self.exceptions[wider])!r}, which the devices controller ignores"
                )
        left = self.exceptions.get(key, 0) & ~bits
        if left:
            self.exceptions[key] = left
        else:
            self.exceptions.pop(key, None)

    def sorted_exceptions(self) -> list[tuple[Key, int]]:
        """The exceptions in a fixed order, so the same rules always produce the same writes and program."""
        return sorted(self.exceptions.items())


def reduce_rules(rules: list[DeviceRule]) -> DeviceState:
    """Apply an OCI device list, in order, to a cgroup that allows nothing; CgroupError for a bad rule."""
    state = DeviceState()
    for rule in rules:
        _validate(rule)
        state.apply(rule)
    return state
