"""`hutch` command line: argument parsing, error reporting and exit codes."""

from __future__ import annotations

import os
import sys

from hutch.oci.errors import EXIT_RUNTIME

USAGE = "hutch [--debug] run [OPTIONS] [--] COMMAND [ARG...]"


class UsageError(Exception):
    pass


def _parser():  # -> argparse.ArgumentParser
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise UsageError(message)

    parser = Parser(prog="hutch", usage=USAGE, description="Run a command in a container.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    run = sub.add_parser("run", usage="hutch run [OPTIONS] [--] COMMAND [ARG...]",
                         help="run a command in a new container, in the foreground")
    add = run.add_argument
    add("--rootfs", metavar="DIR", help="root filesystem (default: the host's /, read-only)")
    add("--read-only", action="store_true", help="mount the root filesystem read-only")
    add("-m", "--memory", metavar="SIZE", help="memory limit (e.g. 512k, 50m, 1g)")
    add("--memory-swap", metavar="SIZE", help="memory plus swap limit; -1 for unlimited swap")
    add("--memory-reservation", metavar="SIZE", help="memory soft limit")
    add("--pids-limit", metavar="N", type=int, help="maximum number of processes")
    add("--cpus", metavar="X", type=float, help="number of CPUs (quota over a 100 ms period)")
    add("--cpu-shares", metavar="N", type=int, help="relative CPU weight (docker's shares)")
    add("--cpuset-cpus", metavar="LIST", help="CPUs to run on (0-3, 0,1)")
    add("--cpuset-mems", metavar="LIST", help="memory nodes to use")
    add("-e", "--env", metavar="KEY=VALUE", action="append", default=[], help="set an environment variable")
    add("-w", "--workdir", metavar="DIR", help="working directory inside the container")
    add("-u", "--user", metavar="UID[:GID]", help="user to run as")
    add("--hostname", metavar="NAME", help="container host name")
    add("--name", metavar="NAME", help="container name (default: a random id)")
    add("--cgroup-parent", metavar="PATH", default="hutch", help="parent cgroup (default: hutch)")
    add("--init", action="store_true", help="run a static init as PID 1 that reaps zombies")
    add("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    add("-i", "--interactive", action="store_true", help="keep stdin open")
    add("--rm", action="store_true", help="remove the container when it exits (always done)")
    add("--uidmap", metavar="C:H:N", action="append", default=[], help="user namespace uid mapping")
    add("--gidmap", metavar="C:H:N", action="append", default=[], help="user namespace gid mapping")
    add("--network", metavar="MODE", default="none", choices=("none", "host"), help="none (default) or host")
    add("--report", metavar="FILE", help="write a JSON report of the run to FILE (- for stderr)")
    add("--timeout", metavar="SECONDS", type=float, help="kill the container after SECONDS")
    add("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv[: argv.index("run")] if "run" in argv else "--debug" in argv
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _fail(exc, debug)


def _fail(exc: BaseException, debug: bool) -> int:
    from hutch.oci.errors import ContainerError

    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, UsageError):
        print(f"hutch: {exc} (see 'hutch run --help')", file=sys.stderr)
        return EXIT_RUNTIME
    if isinstance(exc, ContainerError):
        print(f"hutch: {exc}", file=sys.stderr)
        return exc.exit_code
    from hutch.cgroups import CgroupError

    if isinstance(exc, CgroupError):
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
    if os.geteuid() != 0 and not {"-h", "--help"} & set(argv):
        print("hutch: must be run as root", file=sys.stderr)
        return EXIT_RUNTIME
    args = _parser().parse_args(argv)
    if args.verb != "run":
        raise UsageError("missing command: run")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise UsageError("run needs a command to run")
    from hutch.engine.options import RunOptions
    from hutch.engine.report import write_report
    from hutch.engine.run import run

    opts = RunOptions(
        args=command, rootfs=args.rootfs, read_only=args.read_only, memory=args.memory,
        memory_swap=args.memory_swap, memory_reservation=args.memory_reservation,
        pids_limit=args.pids_limit, cpus=args.cpus, cpu_shares=args.cpu_shares,
        cpuset_cpus=args.cpuset_cpus, cpuset_mems=args.cpuset_mems, env=args.env, workdir=args.workdir,
        user=args.user, hostname=args.hostname, name=args.name, cgroup_parent=args.cgroup_parent,
        init=args.init, tty=args.tty, interactive=args.interactive, uidmap=args.uidmap,
        gidmap=args.gidmap, network=args.network, report=args.report, timeout=args.timeout,
        debug=args.debug,
    )
    report = run(opts)
    if report.oom_killed:
        print(f"hutch: {report.oom_message()}", file=sys.stderr)
    if opts.report:
        write_report(report, opts.report)
    return report.exit_code
