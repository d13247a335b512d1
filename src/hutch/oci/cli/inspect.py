"""hutch-runtime's commands that look at containers or freeze them: list, ps, events, pause, resume."""

from __future__ import annotations

import sys

from hutch.flags import Option, UsageError, parse
from hutch.oci.cli.lifecycle import HELP_ONLY, command_help, parse_command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.oci.cli.main import Context

FORMAT_OPTION = Option(("-f", "--format"), "FORMAT", "select one of: table or json", default="table",
                       choices=("table", "json"))
LIST_OPTIONS = [
    FORMAT_OPTION,
    Option(("-q", "--quiet"), help="display only container IDs"),
    *HELP_ONLY,
]
PS_OPTIONS = [
    FORMAT_OPTION,
    *HELP_ONLY,
]
EVENTS_OPTIONS = [
    Option(("--interval",), "DURATION", "set the stats collection interval", default="5s"),
    Option(("--stats",), help="display the container's stats then exit"),
    *HELP_ONLY,
]


def list_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("list", "", LIST_OPTIONS, args, 0, 0)
    if parsed is None:
        return 0
    values, _ = parsed
    from hutch import jsonlite
    from hutch.oci.container.container import Container
    from hutch.oci.container.state import NotFound, list_ids

    docs = []
    for container_id in list_ids(ctx.root):
        try:
            with Container.open(ctx.root, container_id, lock=False) as container:
                if container.state is not None:
                    docs.append(container.oci_state(owner=_owner(container.dir.fd)))
        except NotFound:
            continue  # deleted while we listed
    if values["quiet"]:
        sys.stdout.write("".join(f"{doc['id']}\n" for doc in docs))
    elif values["format"] == "json":
        sys.stdout.write(jsonlite.dumps(docs or None) + "\n")
    else:
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        rows += [[str(d["id"]), str(d["pid"]), str(d["status"]), str(d["bundle"]), str(d["created"]),
                  str(d["owner"])] for d in docs]
        sys.stdout.write(tabulate(rows))
    return 0


def tabulate(rows: list[list[str]], min_width: int = 12, padding: int = 3) -> str:
    """Columns as Go's tabwriter (minwidth 12, padding 3) lays runc's tables out; the last is not padded."""
    widths = [max(min_width, max(len(row[i]) for row in rows) + padding) for i in range(len(rows[0]) - 1)]
    return "".join("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + row[-1] + "\n"
                   for row in rows)


def _owner(dir_fd: int) -> str:
    import os
    import pwd

    uid = os.fstat(dir_fd).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def ps_command(ctx: Context, args: list[str]) -> int:
    values, positional = parse(PS_OPTIONS, args, go_style=True, stop_after=1)
    if values["help"]:
        print(command_help("ps", "[command options] <container-id> [ps options]", PS_OPTIONS))
        return 0
    if not positional:
        raise UsageError('"ps" requires a minimum of 1 argument(s)')
    from hutch.oci.container import ps

    container_id, ps_args = positional[0], positional[1:]
    if ps_args[:1] == ["--"]:
        ps_args = ps_args[1:]
    if values["format"] == "json":
        if ps_args:
            raise UsageError("ps arguments are not supported with --format json")
        from hutch import jsonlite

        sys.stdout.write(jsonlite.dumps(ps.pids(ctx.root, container_id)) + "\n")
    else:
        sys.stdout.write(ps.table(ctx.root, container_id, ps_args))
    return 0


def events_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("events", "[command options] <container-id>", EVENTS_OPTIONS, args, 1, 1)
    if parsed is None:
        return 0
    values, (container_id,) = parsed
    interval = parse_duration(str(values["interval"]))
    from hutch.linux import proc
    from hutch.oci.container import events
    from hutch.oci.container.container import STOPPED, Container
    from hutch.oci.errors import ContainerError

    with Container.open(ctx.root, container_id, lock=False) as container:
        state = container.require_state()
        if container.status() == STOPPED:
            raise ContainerError("container not running")
        manager = container.manager()
    if values["stats"]:
        _emit(events.encode(events.stats_event(container_id, manager.stats(detailed=True))))
        return 0
    def alive() -> bool:
        return proc.is_running(state.pid, state.pid_start)

    for event in events.watch(manager, container_id, interval, alive):
        _emit(events.encode(event))
    return 0


def _emit(line: str) -> None:
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise SystemExit(0) from None


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration for the forms runc users write: 5s, 500ms, 1m30s, 1.5s."""
    total, number, i = 0.0, "", 0
    if not text:
        raise UsageError("invalid duration ''")
    while i < len(text):
        if text[i].isdigit() or text[i] == ".":
            number += text[i]
            i += 1
            continue
        units = sorted(_DURATION_UNITS, key=len, reverse=True)
        unit = next((u for u in units if text.startswith(u, i)), None)
        if unit is None or not number:
            raise UsageError(f"invalid duration {text!r}")
        total += float(number) * _DURATION_UNITS[unit]
        number, i = "", i + len(unit)
    if number:
        raise UsageError(f"missing unit in duration {text!r}")
    if total <= 0:
        raise UsageError("duration interval must be greater than 0")
    return total


def pause_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("pause", "<container-id>", HELP_ONLY, args, 1, 1)
    if parsed is None:
        return 0
    from hutch.oci.container.pause import pause

    pause(ctx.root, parsed[1][0])
    return 0


def resume_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("resume", "<container-id>", HELP_ONLY, args, 1, 1)
    if parsed is None:
        return 0
    from hutch.oci.container.pause import resume

    resume(ctx.root, parsed[1][0])
    return 0


COMMANDS = {
    "list": list_command,
    "ps": ps_command,
    "events": events_command,
    "pause": pause_command,
    "resume": resume_command,
}
