"""hutch-runtime update: resources from runc's flags, or a LinuxResources JSON document (-r FILE or -)."""

from __future__ import annotations

import sys

from hutch.flags import Option, UsageError
from hutch.oci.cli.lifecycle import parse_command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.oci.cli.main import Context

UPDATE_OPTIONS = [
    Option(("-r", "--resources"), "FILE", "path to a file with the resources to update, or '-' for stdin"),
    Option(("--blkio-weight",), "N", "per cgroup weight, range is from 10 to 1000"),
    Option(("--cpu-period",), "USECS", "CPU CFS period to be used for hardcapping (in usecs)"),
    Option(("--cpu-quota",), "USECS", "CPU CFS hardcap limit (in usecs); allowed cpu time in a given period"),
    Option(("--cpu-share",), "N", "CPU shares (relative weight vs. other containers)"),
    Option(("--cpu-rt-period",), "USECS", "CPU realtime period to be used for hardcapping (in usecs)"),
    Option(("--cpu-rt-runtime",), "USECS", "CPU realtime hardcap limit (in usecs)"),
    Option(("--cpuset-cpus",), "LIST", "CPU(s) to use"),
    Option(("--cpuset-mems",), "LIST", "memory node(s) to use"),
    Option(("--memory",), "BYTES", "memory limit (in bytes, or with a unit: 50m)"),
    Option(("--memory-reservation",), "BYTES", "memory reservation or soft_limit"),
    Option(("--memory-swap",), "BYTES", "total memory usage (memory + swap); '-1' for unlimited swap"),
    Option(("--pids-limit",), "N", "maximum number of pids allowed in the container"),
    Option(("--kernel-memory",), "BYTES", "kernel memory limit (where the kernel still has one)"),
    Option(("--kernel-memory-tcp",), "BYTES", "kernel memory limit for tcp buffer"),
    Option(("--l3-cache-schema",), "SCHEMA", "Intel RDT/CAT L3 cache schema (needs resctrl)"),
    Option(("--mem-bw-schema",), "SCHEMA", "Intel RDT/MBA memory bandwidth schema (needs resctrl)"),
    Option(("-h", "--help"), help="show help"),
]

# flag -> (section, field, parser)
_FLAG_FIELDS = {
    "cpu_period": ("cpu", "period", "int"), "cpu_quota": ("cpu", "quota", "int"),
    "cpu_share": ("cpu", "shares", "int"), "cpuset_cpus": ("cpu", "cpus", "str"),
    "cpuset_mems": ("cpu", "mems", "str"), "memory": ("memory", "limit", "bytes"),
    "memory_reservation": ("memory", "reservation", "bytes"), "memory_swap": ("memory", "swap", "bytes"),
    "pids_limit": ("pids", "limit", "int"), "blkio_weight": ("blockIO", "weight", "int"),
    "cpu_rt_period": ("cpu", "realtimePeriod", "int"), "cpu_rt_runtime": ("cpu", "realtimeRuntime", "int"),
    "kernel_memory": ("memory", "kernel", "bytes"), "kernel_memory_tcp": ("memory", "kernelTCP", "bytes"),
}


def update_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("update", "[command options] <container-id>", UPDATE_OPTIONS, args, 1, 1)
    if parsed is None:
        return 0
    values, (container_id,) = parsed
    for flag in ("l3_cache_schema", "mem_bw_schema"):
        if values[flag]:
            raise UsageError(f"--{flag.replace('_', '-')}: Intel RDT is not supported on this host")
    changes = _read_document(str(values["resources"])) if values["resources"] else _from_flags(values)
    from hutch.oci.container.update import update

    update(ctx.root, container_id, changes)
    return 0


def _read_document(path: str) -> dict:
    from hutch import jsonlite

    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
        doc = jsonlite.loads(data)
    except OSError as exc:
        raise UsageError(f"cannot read the resources file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"resources file {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"resources file {path}: expected a JSON object")
    return doc


def _from_flags(values: dict[str, object]) -> dict:
    changes: dict[str, dict[str, object]] = {}
    for flag, (section, field, kind) in _FLAG_FIELDS.items():
        text = values.get(flag)
        if text is None:
            continue
        changes.setdefault(section, {})[field] = _value(str(text), kind, flag)
    return changes


def _value(text: str, kind: str, flag: str) -> object:
    name = "--" + flag.replace("_", "-")
    if kind == "str":
        return text
    if kind == "bytes" and text.strip() == "-1":
        return -1
    try:
        if kind == "bytes":
            from hutch.units import parse_size

            return parse_size(text, name)
        return int(text)
    except ValueError as exc:
        raise UsageError(f"invalid value {text!r} for {name}: {exc}") from None


COMMANDS = {"update": update_command}
