"""Errors of container setup, each carrying a one-line message and docker's exit code convention."""

from __future__ import annotations

import os

EXIT_RUNTIME = 125  # the runtime itself failed
EXIT_CANNOT_EXEC = 126  # the command exists but cannot be executed
EXIT_NOT_FOUND = 127  # the command was not found


class ContainerError(Exception):
    """A failure of container setup; str() is one line for the user."""

    def __init__(self, message: str, exit_code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


class step:
    """Turn any OSError raised while doing `what` into 'cannot <what>: <reason>'.

    A class, not contextlib.contextmanager: contextlib and what it imports cost milliseconds per start.
    """

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> bool:
        if exc is None or isinstance(exc, ContainerError) or not isinstance(exc, OSError):
            return False
        raise ContainerError(f"cannot {self.what}: {describe(exc)}") from exc
