"""The spec's linux.resources in the cgroups layer's terms, with the device rules every container needs."""

from __future__ import annotations

from hutch.cgroups import Resources
from hutch.cgroups.resources import (
    DeviceRule,
    HugepageLimit,
    InterfacePriority,
    RdmaLimit,
    ThrottleDevice,
    WeightDevice,
)
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
    mem, cpu, bio, net = res.memory, res.cpu, res.block_io, res.network
    return Resources(
        memory_limit=mem.limit, memory_reservation=mem.reservation, memory_swap=mem.swap,
        memory_swappiness=mem.swappiness, memory_kernel=mem.kernel, memory_kernel_tcp=mem.kernel_tcp,
        memory_disable_oom_killer=mem.disable_oom_killer, memory_use_hierarchy=mem.use_hierarchy,
        memory_check_before_update=bool(mem.check_before_update),
        pids_limit=res.pids.limit,
        cpu_shares=cpu.shares, cpu_quota=cpu.quota, cpu_period=cpu.period, cpu_burst=cpu.burst,
        cpu_rt_runtime=cpu.realtime_runtime, cpu_rt_period=cpu.realtime_period, cpu_idle=cpu.idle,
        cpuset_cpus=cpu.cpus, cpuset_mems=cpu.mems,
        blkio_weight=bio.weight or None, blkio_leaf_weight=bio.leaf_weight or None,
        blkio_weight_device=[WeightDevice(d.major, d.minor, d.weight, d.leaf_weight)
                             for d in bio.weight_device] or None,
        blkio_throttle_read_bps=_throttle(bio.throttle_read_bps_device),
        blkio_throttle_write_bps=_throttle(bio.throttle_write_bps_device),
        blkio_throttle_read_iops=_throttle(bio.throttle_read_iops_device),
        blkio_throttle_write_iops=_throttle(bio.throttle_write_iops_device),
        hugepage_limits=[HugepageLimit(h.page_size, h.limit) for h in res.hugepage_limits] or None,
        net_cls_classid=net.class_id,
        net_prio_ifpriomap=[InterfacePriority(p.name, p.priority) for p in net.priorities] or None,
        rdma={name: RdmaLimit(r.hca_handles, r.hca_objects) for name, r in res.rdma.items()} or None,
        unified=dict(res.unified) or None,
        devices=device_rules(res.devices or [], devices or []),
    )


def _throttle(entries: list[spec.ThrottleDevice]) -> list[ThrottleDevice] | None:
    return [ThrottleDevice(d.major, d.minor, d.rate) for d in entries] or None


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
