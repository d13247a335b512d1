"""`hutch` command line: the verbs and their flags, error reporting and exit codes."""

from __future__ import annotations

import os
import sys

from hutch.flags import Option, UsageError, help_text, parse
from hutch.oci.errors import EXIT_RUNTIME

USAGE = "hutch [--root DIR] [--debug] COMMAND [ARG...]"
RUN_USAGE = ("hutch run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
             "       hutch run [OPTIONS] --rootfs DIR [--] COMMAND [ARG...]   (--rootfs /: the host's root)")
DEFAULT_ROOT = "/var/lib/hutch"  # images and everything else hutch stores
IMAGE_VERBS = ("pull", "images", "rmi", "image", "login", "logout")
COMMANDS = """Commands:
  run       run a command in a new container
  pull      pull an image from a registry
  images    list images
  rmi       remove images
  image     image inspect|ls|pull|rm
  login     log in to a registry
  logout    log out from a registry"""

GLOBAL_OPTIONS = [
    Option(("--root",), "DIR", f"where hutch stores images (default {DEFAULT_ROOT})", default=DEFAULT_ROOT),
    Option(("--debug",), help="show tracebacks of internal errors"),
    Option(("-h", "--help"), help="show this help"),
    Option(("--version",), help="print the version"),
]

RUN_OPTIONS = [
    Option(("--rootfs",), "DIR", "a root filesystem instead of an image (/: the host's, read-only)"),
    Option(("--entrypoint",), "CMD", "replace the image's entrypoint (and its default command)"),
    Option(("--platform",), "OS/ARCH[/VARIANT]", "the platform to pull the image for"),
    Option(("--read-only",), help="mount the root filesystem read-only"),
    Option(("-m", "--memory"), "SIZE", "memory limit (e.g. 512k, 50m, 1g)"),
    Option(("--memory-swap",), "SIZE", "memory plus swap limit; -1 for unlimited swap"),
    Option(("--memory-reservation",), "SIZE", "memory soft limit"),
    Option(("--pids-limit",), "N", "maximum number of processes", int),
    Option(("--cpus",), "X", "number of CPUs (a quota over a 100 ms period)", float),
    Option(("--cpu-shares",), "N", "relative CPU weight (docker's shares)", int),
    Option(("--cpuset-cpus",), "LIST", "CPUs to run on (0-3, 0,1)"),
    Option(("--cpuset-mems",), "LIST", "memory nodes to use"),
    Option(("-e", "--env"), "KEY=VALUE", "set an environment variable", repeat=True),
    Option(("-w", "--workdir"), "DIR", "working directory inside the container"),
    Option(("-u", "--user"), "UID[:GID]", "user (and group) to run as"),
    Option(("--hostname",), "NAME", "container host name"),
    Option(("--name",), "NAME", "container name (default: a random id)"),
    Option(("--cgroup-parent",), "PATH", "parent cgroup (default: hutch)", default="hutch"),
    Option(("--init",), help="run a static init as PID 1 that reaps zombies and forwards signals"),
    Option(("-t", "--tty"), help="allocate a pseudo-terminal"),
    Option(("-i", "--interactive"), help="keep stdin open"),
    Option(("--rm",), help="remove the container when it exits (always done in the foreground)"),
    Option(("--uidmap",), "C:H:N", "user namespace uid mapping", repeat=True),
    Option(("--gidmap",), "C:H:N", "user namespace gid mapping", repeat=True),
    Option(("--network",), "MODE", "none (default: only loopback) or host", default="none",
           choices=("none", "host")),
    Option(("--report",), "FILE", "write a JSON report of the run to FILE (- for stderr)"),
    Option(("--timeout",), "SECONDS", "kill the container after SECONDS", float),
    Option(("-h", "--help"), help="show this help"),
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv[: argv.index("run")] if "run" in argv else "--debug" in argv
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the one place that turns errors into a line and a code
        return _fail(exc, debug, _verb(argv))


def _verb(argv: list[str]) -> str:
    """The command word (the first argument that is not a global option or its value), for help hints."""
    args = iter(argv)
    for arg in args:
        if arg == "--root":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return ""


def _fail(exc: BaseException, debug: bool, verb: str = "") -> int:
    from hutch.oci.errors import ContainerError

    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, UsageError):
        command = f"{verb} " if verb in ("run", *IMAGE_VERBS) else ""
        print(f"hutch: {exc} (see 'hutch {command}--help')", file=sys.stderr)
        return EXIT_RUNTIME
    if isinstance(exc, ContainerError):
        print(f"hutch: {exc}", file=sys.stderr)
        return exc.exit_code
    from hutch.cgroups import CgroupError

    if isinstance(exc, CgroupError):
        print(f"hutch: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    image_errors = sys.modules.get("hutch.image.errors")
    if image_errors is not None and isinstance(exc, image_errors.ImageError):
        print(f"hutch: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"hutch: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_RUNTIME
    hint = "" if debug else " (run with --debug for details)"
    print(f"hutch: internal error: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
    return EXIT_RUNTIME


def _main(argv: list[str]) -> int:
    flags, rest = parse(GLOBAL_OPTIONS, argv)
    if flags["help"] or (not rest and not flags["version"]):
        print(help_text(USAGE, "Containers and images.", GLOBAL_OPTIONS) + "\n\n" + COMMANDS)
        return 0 if flags["help"] else EXIT_RUNTIME
    if flags["version"]:
        from hutch import __version__

        print(f"hutch {__version__}")
        return 0
    verb, rest = rest[0], rest[1:]
    if verb in IMAGE_VERBS:
        from hutch.cli.images import run_command

        return run_command(verb, rest, str(flags["root"]))
    if verb != "run":
        raise UsageError(f"unknown command {verb!r}")
    values, command = parse(RUN_OPTIONS, rest)
    if values.pop("help"):
        print(help_text(RUN_USAGE, "Run a command in a new container, in the foreground.", RUN_OPTIONS))
        return 0
    if os.geteuid() != 0:
        print("hutch: must be run as root", file=sys.stderr)
        return EXIT_RUNTIME
    platform = values.pop("platform")
    if values["rootfs"] is None:
        if not command:
            raise UsageError("run needs an image (or --rootfs DIR and a command)")
        from hutch.cli.images import ensure_image

        record = ensure_image(command[0], str(flags["root"]), platform)
        values["image"], values["store_root"], command = record.name, str(flags["root"]), command[1:]
    elif not command:
        raise UsageError("run needs a command to run")
    return _run(values, command, bool(flags["debug"]))


def _run(values: dict[str, object], command: list[str], debug: bool) -> int:
    from hutch.cgroups import warmup

    warmup.start()  # first thing: overlaps a kernel wait with the imports and set-up below
    from hutch.engine.options import RunOptions
    from hutch.engine.report import write_report
    from hutch.engine.run import run

    values.pop("rm")
    values["tty"], values["interactive"] = bool(values["tty"]), bool(values["interactive"])
    values["init"], values["read_only"] = bool(values["init"]), bool(values["read_only"])
    opts = RunOptions(args=command, debug=debug, **values)
    report = run(opts)
    if report.oom_killed:
        print(f"hutch: {report.oom_message()}", file=sys.stderr)
    if opts.report:
        write_report(report, opts.report)
    return report.exit_code
