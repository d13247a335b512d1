"""hutch-runtime's lifecycle commands: create, start, run, state, kill, delete."""

from __future__ import annotations

import os
import sys

from hutch.flags import Option, UsageError, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.oci.cli.main import Context

CREATE_OPTIONS = [
    Option(("-b", "--bundle"), "DIR", "path to the root of the bundle directory (default: the current one)"),
    Option(("--console-socket",), "PATH", "path to an AF_UNIX socket which will receive a file descriptor "
           "referencing the master end of the console's pseudoterminal"),
    Option(("--pid-file",), "FILE", "specify the file to write the process id to"),
    Option(("--no-pivot",), help="do not use pivot root to jail process inside rootfs"),
    Option(("--no-new-keyring",), help="do not create a new session keyring for the container"),
    Option(("--preserve-fds",), "N", "pass N additional file descriptors to the container", int, default=0),
    Option(("-h", "--help"), help="show help"),
]
RUN_OPTIONS = [
    *CREATE_OPTIONS[:-1],
    Option(("-d", "--detach"), help="detach from the container's process"),
    Option(("--keep",), help="do not delete the container after it exits"),
    Option(("--no-subreaper",), help="disable the use of the subreaper used to reap reparented processes"),
    Option(("-h", "--help"), help="show help"),
]
HELP_ONLY = [Option(("-h", "--help"), help="show help")]
KILL_OPTIONS = [Option(("-a", "--all"), help="send the signal to all processes inside the container"),
                *HELP_ONLY]
DELETE_OPTIONS = [Option(("-f", "--force"), help="forcibly deletes the container if it is still running "
                         "(uses SIGKILL)"), *HELP_ONLY]


def parse_command(name: str, usage: str, options: list[Option], args: list[str], minimum: int,
                  maximum: int | None) -> tuple[dict[str, object], list[str]] | None:
    """Flags and positional arguments of one command, checked as runc checks them; None after --help."""
    values, positional = parse(options, args, go_style=True)
    if values.get("help"):
        print(command_help(name, usage, options))
        return None
    if maximum == minimum and len(positional) != minimum:
        raise UsageError(f'"{name}" requires exactly {minimum} argument(s)')
    if len(positional) < minimum:
        raise UsageError(f'"{name}" requires a minimum of {minimum} argument(s)')
    if maximum is not None and len(positional) > maximum:
        raise UsageError(f'"{name}" requires a maximum of {maximum} argument(s)')
    return values, positional


def command_help(name: str, usage: str, options: list[Option]) -> str:
    from hutch.oci.cli.main import COMMANDS, PROG

    lines = [f"Usage: {PROG} {name} {usage}", "", COMMANDS[name][1], "", "Options:"]
    for opt in options:
        flags = ", ".join(opt.names) + (f" {opt.metavar}" if opt.metavar else "")
        lines.append(f"   {flags:<26} {opt.help}")
    return "\n".join(lines)


def _create_options(ctx: Context, container_id: str, values: dict[str, object]):
    from hutch.oci.container.create import CreateOptions

    bundle = os.path.abspath(str(values["bundle"] or "."))
    return CreateOptions(
        id=container_id, bundle=bundle, root=ctx.root, pid_file=values["pid_file"],
        console_socket=values["console_socket"], no_pivot=bool(values["no_pivot"]),
        no_new_keyring=bool(values["no_new_keyring"]),
        preserve_fds=int(values["preserve_fds"]) + _listen_fds(), debug=ctx.debug, warn=ctx.log.debug,
    )


def _listen_fds() -> int:
    """socket activation passes LISTEN_FDS descriptors after stdio; runc passes them on, and so do we."""
    text = os.environ.get("LISTEN_FDS", "")
    return int(text) if text.isdigit() else 0


def create_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("create", "<container-id>", CREATE_OPTIONS, args, 1, 1)
    if parsed is None:
        return 0
    values, (container_id,) = parsed
    from hutch.oci.container.create import create

    created = create(_create_options(ctx, container_id, values))
    created.close()
    return 0


def start_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("start", "<container-id>", HELP_ONLY, args, 1, 1)
    if parsed is None:
        return 0
    from hutch.oci.container.start import start

    start(ctx.root, parsed[1][0], warn=ctx.log.warning)
    return 0


def run_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("run", "<container-id>", RUN_OPTIONS, args, 1, 1)
    if parsed is None:
        return 0
    values, (container_id,) = parsed
    from hutch.oci.container.run import run

    return run(_create_options(ctx, container_id, values), detach=bool(values["detach"]),
               keep=bool(values["keep"]), subreaper=not values["no_subreaper"])


def state_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("state", "<container-id>", HELP_ONLY, args, 1, 1)
    if parsed is None:
        return 0
    from hutch import jsonlite
    from hutch.oci.container.container import Container

    with Container.open(ctx.root, parsed[1][0], lock=False) as container:
        doc = container.oci_state()
    sys.stdout.write(jsonlite.dumps(doc, indent=2))
    return 0


def kill_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("kill", "<container-id> [signal]", KILL_OPTIONS, args, 1, 2)
    if parsed is None:
        return 0
    values, positional = parsed
    from hutch.oci.container.kill import kill, parse_signal

    sig = parse_signal(positional[1] if len(positional) > 1 else "SIGTERM")
    kill(ctx.root, positional[0], sig, all_processes=bool(values["all"]))
    return 0


def delete_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("delete", "<container-id>", DELETE_OPTIONS, args, 1, 1)
    if parsed is None:
        return 0
    values, (container_id,) = parsed
    from hutch.oci.container.delete import delete
    from hutch.oci.container.state import NotFound

    try:
        delete(ctx.root, container_id, force=bool(values["force"]), warn=ctx.log.warning)
    except NotFound:
        if values["force"]:
            return 0  # as runc: deleting what is already gone with --force succeeds
        raise
    return 0


COMMANDS = {
    "create": create_command,
    "start": start_command,
    "run": run_command,
    "state": state_command,
    "kill": kill_command,
    "delete": delete_command,
}
