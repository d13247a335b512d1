"""hutch-runtime exec: runc's flags, --process FILE or a command, the exit code of the process."""

from __future__ import annotations

from hutch.flags import Option, UsageError, parse
from hutch.oci.cli.lifecycle import command_help

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.oci.cli.main import Context

EXIT_EXEC_FAILED = 255

EXEC_OPTIONS = [
    Option(("--console-socket",), "PATH", "path to an AF_UNIX socket which will receive the pty master"),
    Option(("--cwd",), "DIR", "current working directory in the container"),
    Option(("-e", "--env"), "KEY=VALUE", "set environment variables", repeat=True),
    Option(("-t", "--tty"), help="allocate a pseudo-TTY"),
    Option(("-u", "--user"), "UID[:GID]", "UID (format: <uid>[:<gid>])"),
    Option(("-g", "--additional-gids"), "GID", "additional gids", int, repeat=True),
    Option(("-p", "--process"), "FILE", "path to the process.json"),
    Option(("-d", "--detach"), help="detach from the container's process"),
    Option(("--pid-file",), "FILE", "specify the file to write the process id to"),
    Option(("--process-label",), "LABEL", "set the asm process label (refused: no SELinux here)"),
    Option(("--apparmor",), "PROFILE", "set the apparmor profile (refused: no AppArmor here)"),
    Option(("--no-new-privs",), help="set the no new privileges value for the process"),
    Option(("-c", "--cap"), "CAP", "add a capability to the bounding set for the process", repeat=True),
    Option(("--preserve-fds",), "N", "pass N additional file descriptors to the process", int, default=0),
    Option(("--cgroup",), "PATH", "run the process in an (existing) sub-cgroup (not supported)"),
    Option(("--ignore-paused",), help="allow exec in a paused container"),
    Option(("-h", "--help"), help="show help"),
]


def exec_command(ctx: Context, args: list[str]) -> int:
    values, positional = parse(EXEC_OPTIONS, args, go_style=True, stop_after=1)
    if values["help"]:
        print(command_help("exec", "[command options] <container-id> <command> [command options]",
                           EXEC_OPTIONS))
        return 0
    if not positional:
        raise UsageError('"exec" requires a minimum of 1 argument(s)')
    for flag in ("process_label", "apparmor", "cgroup"):
        if values[flag]:
            raise UsageError(f"--{flag.replace('_', '-')} is not supported by hutch-runtime on this host")
    from hutch.oci.container.exec import ExecOptions, execute
    from hutch.oci.errors import ContainerError

    process = _read_process(str(values["process"])) if values["process"] else None
    if process is None and len(positional) < 2:
        raise UsageError("exec needs a command to run (or --process FILE)")
    opts = ExecOptions(
        id=positional[0], root=ctx.root, process=process, args=positional[1:] or None, cwd=values["cwd"],
        env=values["env"], tty=bool(values["tty"]), user=values["user"],
        additional_gids=values["additional_gids"], caps=values["cap"],
        no_new_privs=bool(values["no_new_privs"]),
        detach=bool(values["detach"]), pid_file=values["pid_file"], console_socket=values["console_socket"],
        preserve_fds=int(values["preserve_fds"]), ignore_paused=bool(values["ignore_paused"]),
        debug=ctx.debug,
    )
    try:
        return execute(opts)
    except ContainerError as exc:
        ctx.log.error(f"exec failed: {exc}")  # runc's words and exit code for a failed exec
        return EXIT_EXEC_FAILED


def _read_process(path: str):
    from hutch import jsonlite
    from hutch.oci.config.spec import Process, SpecError
    from hutch.oci.errors import ContainerError

    try:
        with open(path, "rb") as f:
            raw = jsonlite.loads(f.read())
        return Process.from_dict(raw)
    except OSError as exc:
        raise ContainerError(f"cannot read the process file {path}: {exc.strerror}") from None
    except (ValueError, SpecError) as exc:
        raise ContainerError(f"process file {path}: {exc}") from None


COMMANDS = {"exec": exec_command}
