"""The v2 devices controller: a BPF_CGROUP_DEVICE program compiled from the rules, attached to the cgroup.

cgroup v2 has no devices files: the kernel runs every BPF_CGROUP_DEVICE program attached to the cgroup
and its ancestors on each open and mknod of a device node, and refuses the access if any returns 0.
hutch attaches one program, named PROGRAM_NAME, and replaces it on each update. The cgroup holds the only
reference to it, so it goes when the cgroup is removed.
"""

from __future__ import annotations

import errno
import os

from hutch.cgroups.device_rules import ALL_ACCESS, ANY, DeviceState, Key, reduce_rules
from hutch.cgroups.resources import CgroupError, Resources, Stats
from hutch.linux import bpf

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

PROGRAM_NAME = "hutch_devices"
# Any string works: the program calls no helper that needs a GPL-compatible licence.
_LICENSE = "Apache-2.0"
_DEVICE_TYPES = {"c": bpf.DEVCG_DEV_CHAR, "b": bpf.DEVCG_DEV_BLOCK}

# Registers while the rules run: the context's fields, unpacked once by the prologue.
_TYPE, _ACCESS, _MAJOR, _MINOR, _SCRATCH = bpf.R2, bpf.R3, bpf.R4, bpf.R5, bpf.R1


def _prologue() -> list[bytes]:
    # R1 points at struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }.
    return [
        bpf.load_mem(_TYPE, bpf.R1, 0),
        bpf.alu32_imm(bpf.AND, _TYPE, 0xFFFF),
        bpf.load_mem(_ACCESS, bpf.R1, 0),
        bpf.alu32_imm(bpf.RSH, _ACCESS, 16),
        bpf.load_mem(_MAJOR, bpf.R1, 4),
        bpf.load_mem(_MINOR, bpf.R1, 8),
    ]


def _verdict(allow: bool) -> list[bytes]:
    return [bpf.alu32_imm(bpf.MOV, bpf.R0, int(allow)), bpf.exit_insn()]


def _exception_block(key: Key, bits: int, default_allow: bool) -> list[bytes]:
    """Instructions that return the exception's verdict when it matches, else fall through past them.

    The access test is the kernel's v1 one: an allow exception must hold all the access asked for; a deny
    exception matches when it shares any of it.
    """
    kind, major, minor = key
    block: list[bytes] = []
    # (index in block, the jump given its distance): every test that fails jumps past the block's end.
    skips: list[tuple[int, Callable[[int], bytes]]] = []

    def skip(make: Callable[[int], bytes]) -> None:
        skips.append((len(block), make))
        block.append(b"")

    skip(lambda off: bpf.jump_imm(bpf.JNE, _TYPE, _DEVICE_TYPES[kind], off))
    if bits != ALL_ACCESS:
        block.append(bpf.alu32_reg(bpf.MOV, _SCRATCH, _ACCESS))
        block.append(bpf.alu32_imm(bpf.AND, _SCRATCH, bits))
        if default_allow:  # deny exception: skip when (asked & denied) == 0
            skip(lambda off: bpf.jump_imm(bpf.JEQ, _SCRATCH, 0, off))
        else:  # allow exception: skip when (asked & allowed) != asked
            skip(lambda off: bpf.jump_reg(bpf.JNE, _SCRATCH, _ACCESS, off))
    if major != ANY:
        skip(lambda off: bpf.jump_imm(bpf.JNE, _MAJOR, major, off))
    if minor != ANY:
        skip(lambda off: bpf.jump_imm(bpf.JNE, _MINOR, minor, off))
    block.extend(_verdict(not default_allow))
    for index, make in skips:
        block[index] = make(len(block) - index - 1)
    return block


def build_program(state: DeviceState) -> bytes:
    """The program enforcing state: the first matching exception decides, else the default does."""
    insns = _prologue()
    for key, bits in state.sorted_exceptions():
        insns.extend(_exception_block(key, bits, state.default_allow))
    insns.extend(_verdict(state.default_allow))
    return b"".join(insns)


def _find_hutch_programs(dir_fd: int, found: list[int]) -> None:
    """Append fds of the programs named PROGRAM_NAME attached to the cgroup itself; the caller closes them."""
    for prog_id in bpf.prog_query(dir_fd, bpf.CGROUP_DEVICE):
        try:
            fd = bpf.prog_get_fd_by_id(prog_id)
        except OSError as exc:
            if exc.errno == errno.ENOENT:  # detached and freed since the query
                continue
            raise
        try:
            name = bpf.prog_info(fd)[1]
        except OSError:
            os.close(fd)
            raise
        if name == PROGRAM_NAME:
            found.append(fd)
        else:
            # Someone else's program can only restrict further: leave it in place.
            os.close(fd)


def _swap_programs(dir_fd: int, new_fd: int, old_fds: list[int]) -> None:
    """Attach new_fd in place of old_fds with no moment where the cgroup has none of hutch's programs."""
    if len(old_fds) == 1:
        try:
            # Atomic (Linux 5.6+): the new program takes the old one's place in the cgroup's list.
            bpf.prog_attach(dir_fd, new_fd, bpf.CGROUP_DEVICE, bpf.F_ALLOW_MULTI | bpf.F_REPLACE, old_fds[0])
            return
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    # Older kernels: both run for a moment, which only denies what either denies.
    bpf.prog_attach(dir_fd, new_fd, bpf.CGROUP_DEVICE, bpf.F_ALLOW_MULTI)
    for old_fd in old_fds:
        bpf.prog_detach(dir_fd, old_fd, bpf.CGROUP_DEVICE)


def attach(directory: str, program: bytes) -> None:
    """Load program and make it the cgroup's only hutch device program."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise CgroupError(f"cannot open {directory}: {exc.strerror}", exc.errno) from None
    loaded: list[int] = []
    old_fds: list[int] = []
    try:
        step = "load the device program for"
        new_fd = bpf.prog_load(bpf.PROG_TYPE_CGROUP_DEVICE, program, _LICENSE, PROGRAM_NAME)
        loaded.append(new_fd)
        step = "list the device programs of"
        _find_hutch_programs(dir_fd, old_fds)
        step = "attach the device program to"
        _swap_programs(dir_fd, new_fd, old_fds)
    except OSError as exc:
        raise CgroupError(f"cannot {step} {directory}: {exc.strerror}", exc.errno) from None
    finally:
        # The cgroup keeps its own reference to what is attached; ours would keep programs alive.
        for fd in (*loaded, *old_fds, dir_fd):
            os.close(fd)


class Devices:
    name = "devices"

    def requested(self, res: Resources) -> bool:
        return res.wants_devices()

    def apply(self, directory: str, res: Resources) -> None:
        if res.devices is not None:
            attach(directory, build_program(reduce_rules(res.devices)))

    def stats(self, directory: str, out: Stats) -> None:
        pass
