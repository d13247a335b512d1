"""The config's linux.seccomp in the terms of the seccomp layer (hutch.linux.seccomp)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.linux.seccomp import Profile
    from hutch.oci.config.linux import Seccomp


def to_profile(model: Seccomp) -> Profile:
    from hutch.linux.seccomp import ArgRule, Profile, SyscallRule

    return Profile(
        default_action=model.default_action, default_errno_ret=model.default_errno_ret,
        architectures=list(model.architectures), flags=list(model.flags),
        syscalls=[SyscallRule(names=list(rule.names), action=rule.action, errno_ret=rule.errno_ret,
                              args=[ArgRule(index=a.index, value=a.value, value_two=a.value_two, op=a.op)
                                    for a in rule.args])
                  for rule in model.syscalls],
    )
