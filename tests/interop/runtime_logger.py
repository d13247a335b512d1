#!@PYTHON@ -S
"""Template of a logging wrapper for an OCI runtime (interophelpers.logging_runtime fills in the paths).

Appends to the log, per call: argv, cwd, parent command line, LISTEN_*/NOTIFY_SOCKET, every open descriptor
with its flags, the --process file, and the environment; then runs the real runtime as its child (same
descriptors, same cwd) and appends its exit code, what it added to its --log file, and for the query verbs
(state, ps, list) its stdout. Records what podman and containerd send (HUTCH_INTEROP_LOG=/path/to/log).
"""

import os
import sys
import time

REAL = "@REAL@"
LOG = "@LOG@"
QUERY_VERBS = ("state", "ps", "list", "features")
GLOBAL_OPTIONS_WITH_VALUE = ("--root", "--log", "--log-format", "--criu", "--rootless", "--cgroup-manager")


def verb_of(args: list[str]) -> str:
    i = 0
    while i < len(args):
        if args[i] in GLOBAL_OPTIONS_WITH_VALUE:
            i += 2
        elif args[i].startswith("-"):
            i += 1
        else:
            return args[i]
    return ""


def option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
    return None


def describe_fds() -> list[str]:
    lines = []
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            with open(f"/proc/self/fdinfo/{fd}") as f:
                flags = next(line.split()[1] for line in f if line.startswith("flags"))
        except (OSError, StopIteration):
            continue  # the directory listing's own descriptor
        lines.append(f"fd {fd} -> {target} flags=0{flags.lstrip('0') or '0'} tty={os.isatty(fd)}")
    return lines


def describe_call(args: list[str]) -> list[str]:
    now = time.time()
    lines = [
        f"=== {time.strftime('%H:%M:%S', time.localtime(now))}.{int(now * 1e6) % 1000000:06d} "
        f"pid={os.getpid()} ppid={os.getppid()}"
    ]
    lines.append("argv: " + " ".join(repr(a) if not a or " " in a else a for a in [sys.argv[0], *args]))
    lines.append("cwd: " + os.getcwd())
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
            lines.append("parent: " + f.read().replace(b"\0", b" ").decode(errors="replace"))
    except OSError:
        pass
    for entry in initial_environment():
        if entry.startswith(("LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=")):
            lines.append(entry)
    lines += describe_fds()
    process = option(args, "--process")
    if process:
        try:
            with open(process) as f:
                lines.append("process.json: " + f.read())
        except OSError as e:
            lines.append(f"process.json: <{e}>")
    lines.append("env: " + " ".join(sorted(initial_environment())))
    return lines


def initial_environment() -> list[str]:
    """The environment exactly as the caller passed it: Python itself may add LC_CTYPE (PEP 538)."""
    with open("/proc/self/environ", "rb") as f:
        return [entry.decode(errors="replace") for entry in f.read().split(b"\0") if entry]


def append(lines: list[str]) -> None:
    with open(LOG, "a") as f:
        f.write("\n".join(lines) + "\n")


def main() -> int:
    args = sys.argv[1:]
    verb = verb_of(args)
    append(describe_call(args))
    log_file = option(args, "--log")
    try:
        log_before = os.path.getsize(log_file) if log_file else 0
    except OSError:
        log_before = 0
    out_r = out_w = -1
    if verb in QUERY_VERBS:
        out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        if out_w >= 0:
            os.dup2(out_w, 1)
            os.close(out_w)
            os.close(out_r)
        os.execv(REAL, [REAL, *args])
    stdout = b""
    if out_r >= 0:
        os.close(out_w)
        while chunk := os.read(out_r, 65536):
            stdout += chunk
        os.write(1, stdout)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    added = ""
    if log_file:
        try:
            with open(log_file, "rb") as f:
                f.seek(log_before)
                added = f.read().decode(errors="replace")
        except OSError as e:
            added = f"<{e}>"
    result = f"--- {verb} pid={os.getpid()} exit={code} log+={added!r}"
    if out_r >= 0:
        result += f" stdout={stdout.decode(errors='replace')!r}"
    append([result])
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
