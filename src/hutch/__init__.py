"""hutch: a Linux container engine and OCI runtime. `hutch.run(argv, ...)` runs a command in a container."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.engine.api import HutchError, Result, run

__all__ = ["HutchError", "Result", "run"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Importing hutch stays cheap: the API module (and subprocess, json) load on first use.
    if name in __all__:
        from hutch.engine import api

        return getattr(api, name)
    raise AttributeError(f"module 'hutch' has no attribute {name!r}")
