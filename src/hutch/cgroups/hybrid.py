"""The manager for hybrid hosts: v1 controllers, plus the same path in the controller-less cgroup2 tree."""

from __future__ import annotations

from hutch.cgroups.layout import CgroupLayout
from hutch.cgroups.v1.manager import V1Manager


class HybridManager(V1Manager):
    """As runc does: systemd and other tools on hybrid hosts look a process's cgroup up in the unified tree.

    No controller is enabled there; creating, joining and removing simply include one more directory.
    """

    def __init__(self, path: str, layout: CgroupLayout | None = None) -> None:
        super().__init__(path, layout)
        unified = self.layout.unified
        self._unified_dir = f"{unified}/{self.path}" if unified else None

    def directories(self) -> list[str]:
        v1 = super().directories()
        return v1 if self._unified_dir is None else [self._unified_dir, *v1]
