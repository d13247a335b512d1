"""The interface every per-controller class implements, for v1 and v2 alike."""

from __future__ import annotations

from typing import Protocol

from hutch.cgroups.resources import Resources, Stats


class Controller(Protocol):
    name: str

    def requested(self, res: Resources) -> bool:
        """Whether res asks for anything this controller enforces (so its absence is an error)."""
        ...

    def apply(self, directory: str, res: Resources) -> None: ...

    def stats(self, directory: str, out: Stats) -> None:
        """Fill the fields of out this controller knows; absent files leave them None."""
        ...
