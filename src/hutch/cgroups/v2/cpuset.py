"""The v2 cpuset controller: the same files as v1 (empty means "the parent's"), so the class is shared."""

from hutch.cgroups.v1.cpuset import Cpuset

__all__ = ["Cpuset"]
