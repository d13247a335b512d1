"""The v2 rdma controller: its rdma.max is the same as v1's, so the class is shared."""

from hutch.cgroups.v1.rdma import Rdma

__all__ = ["Rdma"]
