"""The v2 pids controller: its files are the same as v1's, so the class is shared."""

from hutch.cgroups.v1.pids import Pids

__all__ = ["Pids"]
