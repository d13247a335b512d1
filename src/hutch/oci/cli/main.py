"""`hutch-runtime`: runc's command line — global flags, the command table, errors as runc reports them.

Each command's module is imported only when that command runs, so `state`, `kill` and `start` never load the
container-setup code.
"""

from __future__ import annotations

import os
import sys

from hutch.flags import Option, UsageError, parse
from hutch.oci.cli.log import Log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

PROG = "hutch-runtime"
EXIT_FAILURE = 1  # runc's exit code for every failure of its own

GLOBAL_OPTIONS = [
    Option(("--root",), "DIR", "root directory for storage of container state", default="/run/hutch"),
    Option(("--log",), "FILE", "set the log file to write hutch-runtime logs to (default is stderr)"),
    Option(("--log-format",), "FORMAT", "set the log format ('text' (default), or 'json')", default="text",
           choices=("text", "json")),
    Option(("--debug",), help="enable debug logging"),
    Option(("--systemd-cgroup",), help="systemd cgroup support (refused: hutch-runtime manages cgroupfs)"),
    Option(("--rootless",), "VALUE", "ignore cgroup permission errors ('true', 'false', or 'auto')",
           default="auto", choices=("true", "false", "auto")),
    Option(("--criu",), "PATH", "path to the criu binary (accepted; checkpoint is not supported)"),
    Option(("-v", "--version"), help="print the version"),
    Option(("-h", "--help"), help="show help"),
]

# command -> (module under hutch.oci.cli, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "create": ("lifecycle", "create a container"),
    "start": ("lifecycle", "executes the user defined process in a created container"),
    "run": ("lifecycle", "create and run a container"),
    "state": ("lifecycle", "output the state of a container"),
    "kill": ("lifecycle", "send the specified signal (default: SIGTERM) to the container's init process"),
    "delete": ("lifecycle", "delete any resources held by the container often used with detached container"),
    "list": ("inspect", "lists containers started by hutch-runtime with the given root"),
    "ps": ("inspect", "ps displays the processes running inside a container"),
    "events": ("inspect", "display container events such as OOM notifications, cpu, memory, and IO usage"),
    "pause": ("inspect", "pause suspends all processes inside the container"),
    "resume": ("inspect", "resumes all processes that have been previously paused"),
    "exec": ("exec_command", "execute new process inside the container"),
    "update": ("update_command", "update container resource constraints"),
    "spec": ("spec_command", "create a new specification file"),
    "features": ("spec_command", "show the enabled features"),
}


class Context:
    """What every command gets: the global flags and the log."""

    def __init__(self, flags: dict[str, object], log: Log) -> None:
        self.root = os.path.abspath(str(flags["root"]))
        self.debug = bool(flags["debug"])
        self.log = log


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = Log()
    try:
        flags, rest = parse(GLOBAL_OPTIONS, argv, go_style=True, stop_after=1)
        log = Log(flags["log"], str(flags["log_format"]), bool(flags["debug"]))  # type: ignore[arg-type]
        return _dispatch(flags, rest, log)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # the one place that turns errors into a log line and an exit code
        if isinstance(exc, SystemExit):
            raise
        return _fail(exc, log, "--debug" in argv)


def _dispatch(flags: dict[str, object], rest: list[str], log: Log) -> int:
    if flags["version"]:
        from hutch import __version__
        from hutch.oci.container.container import RUNTIME_SPEC_VERSION

        print(f"{PROG} version {__version__}\nspec: {RUNTIME_SPEC_VERSION}")
        return 0
    if flags["help"] or not rest or rest[0] in ("help", "h"):
        print(usage())
        return 0 if flags["help"] or rest else EXIT_FAILURE
    if flags["systemd_cgroup"]:
        raise UsageError("--systemd-cgroup is not supported: no systemd runs here, and hutch-runtime manages "
                         "cgroupfs itself (give linux.cgroupsPath as a path)")
    name, args = rest[0], rest[1:]
    entry = COMMANDS.get(name)
    if entry is None:
        raise UsageError(f"No help topic for '{name}'")
    module = __import__(f"hutch.oci.cli.{entry[0]}", fromlist=["COMMANDS"])
    handler: Callable[[Context, list[str]], int] = module.COMMANDS[name]
    return handler(Context(flags, log), args)


def usage() -> str:
    lines = [f"Usage: {PROG} [global options] command [command options] [arguments...]", "",
             "An OCI runtime with runc's command line.", "", "Commands:"]
    lines += [f"   {name:<10} {text}" for name, (_module, text) in COMMANDS.items()]
    lines += ["", "Global options:"]
    for opt in GLOBAL_OPTIONS:
        flags = ", ".join(opt.names) + (f" {opt.metavar}" if opt.metavar else "")
        lines.append(f"   {flags:<24} {opt.help}")
    return "\n".join(lines)


def _fail(exc: BaseException, log: Log, debug: bool) -> int:
    from hutch.oci.errors import ContainerError

    if debug:
        import traceback

        log.debug("".join(traceback.format_exception(exc)).rstrip())
    if isinstance(exc, UsageError | ContainerError):
        log.error(str(exc))
    elif isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        log.error(f"{exc.strerror or exc}{where}")
    else:
        from hutch.cgroups import CgroupError

        if isinstance(exc, CgroupError):
            log.error(str(exc))
        else:
            log.error(f"internal error: {type(exc).__name__}: {exc}")
    return EXIT_FAILURE
