"""The spec's linux.resources in the cgroups layer's terms, with the device rules every container needs."""

from __future__ import annotations

from hutch.cgroups import Resources
from hutch.cgroups.resources import DeviceRule
from hutch.oci.config import spec

ANY = -1

# The devices hutch itself creates in every container's /dev (oci.devices.DEFAULT_DEVICES), plus the console,
# ptmx and the pty slaves: the runtime makes them, so the container must be able to use them, whatever the
# spec's own rules say (runc appends the same list). Nothing else is allowed unless the spec allows it.
RUNTIME_DEVICE_RULES = (
    DeviceRule(True, "c", 1, 3, "rwm"),  # null
    DeviceRule(True, "c", 1, 5, "rwm"),  # zero
    DeviceRule(True, "c", 1, 7, "rwm"),  # full
    DeviceRule(True, "c", 1, 8, "rwm"),  # random
    DeviceRule(True, "c", 1, 9, "rwm"),  # urandom
    DeviceRule(True, "c", 5, 0, "rwm"),  # tty
    DeviceRule(True, "c", 5, 1, "rwm"),  # console
    DeviceRule(True, "c", 5, 2, "rwm"),  # ptmx
    DeviceRule(True, "c", 136, ANY, "rwm"),  # /dev/pts/*
)


def cgroup_resources(res: spec.Resources, devices: list[spec.Device] | None = None) -> Resources:
    """`devices` are the spec's linux.devices: the runtime creates them, so they are allowed as well.

    The device rules start from "deny everything": a spec without any rule gets only the runtime's devices.
    """
    return Resources(
        memory_limit=res.memory.limit, memory_reservation=res.memory.reservation,
        memory_swap=res.memory.swap, pids_limit=res.pids_limit, cpu_shares=res.cpu.shares,
        cpu_quota=res.cpu.quota, cpu_period=res.cpu.period, cpuset_cpus=res.cpu.cpus,
        cpuset_mems=res.cpu.mems, devices=device_rules(res.devices or [], devices or []),
    )


def update_resources(res: spec.Resources, devices: list[spec.Device]) -> Resources:
    """For `update`: only what the update names is written (device rules replace the whole set)."""
    out = cgroup_resources(res, devices)
    if res.devices is None:
        out.devices = None
    return out


def device_rules(rules: list[spec.DeviceRule], devices: list[spec.Device]) -> list[DeviceRule]:
    out = [DeviceRule(False, "a", ANY, ANY, "rwm")]
    for rule in rules:
        out.append(DeviceRule(rule.allow, rule.type or "a", _number(rule.major), _number(rule.minor),
                              rule.access or "rwm"))
    for device in devices:
        if device.type in ("c", "u", "b"):
            kind = "b" if device.type == "b" else "c"
            out.append(DeviceRule(True, kind, device.major, device.minor, "rwm"))
    out.extend(RUNTIME_DEVICE_RULES)
    return out


def _number(value: int | None) -> int:
    return ANY if value is None or value < 0 else value
