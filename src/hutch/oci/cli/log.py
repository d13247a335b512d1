"""hutch-runtime's log, as runc writes it: text or JSON lines to --log (default stderr).

Engines read why a runtime call failed from there: containerd passes `--log FILE --log-format json` and shows
the last error's msg; podman shows stderr. As runc does, an error also goes to stderr as a plain line when a
log file is set.
"""

from __future__ import annotations

import os
import time

from hutch import jsonlite

_LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}


class Log:
    def __init__(self, path: str | None = None, fmt: str = "text", debug: bool = False) -> None:
        self.path = path
        self.fmt = fmt
        self.threshold = _LEVELS["debug" if debug else "info"]

    def debug(self, message: str) -> None:
        self.write("debug", message)

    def warning(self, message: str) -> None:
        self.write("warning", message)

    def error(self, message: str) -> None:
        self.write("error", message)
        if self.path is not None:
            _write_fd(2, f"{message}\n")

    def write(self, level: str, message: str) -> None:
        if _LEVELS[level] < self.threshold:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            line = jsonlite.dumps({"level": level, "msg": message, "time": stamp})
        else:
            line = f"time={jsonlite.dumps(stamp)} level={level} msg={jsonlite.dumps(message)}"
        if self.path is None:
            _write_fd(2, line + "\n")
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            _write_fd(2, line + "\n")
            return
        try:
            _write_fd(fd, line + "\n")
        finally:
            os.close(fd)


def _write_fd(fd: int, text: str) -> None:
    data = text.encode(errors="replace")
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass
