"""bpf(2) wrappers: instruction encoding, loading with the verifier's log, attach/replace/query/detach."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator

import pytest

from hutch.linux import bpf, mountinfo


def test_instructions_encode_as_the_kernel_macros_do() -> None:
    # Bytes of the kernel's BPF_* macros (include/linux/filter.h) for the same instructions.
    assert bpf.exit_insn() == bytes.fromhex("9500000000000000")
    assert bpf.alu32_imm(bpf.MOV, bpf.R0, 1) == bytes.fromhex("b400000001000000")
    assert bpf.load_mem(bpf.R2, bpf.R1, 4) == bytes.fromhex("6112040000000000")
    assert bpf.alu32_imm(bpf.RSH, bpf.R3, 16) == bytes.fromhex("7403000010000000")
    assert bpf.alu32_reg(bpf.MOV, bpf.R1, bpf.R3) == bytes.fromhex("bc31000000000000")
    assert bpf.jump_reg(bpf.JNE, bpf.R1, bpf.R3, 3) == bytes.fromhex("5d31030000000000")
    # Negative offsets and immediates are two's complement.
    assert bpf.jump_imm(bpf.JNE, bpf.R4, -1, -2) == bytes.fromhex("5504feffffffffff")


@pytest.mark.parametrize(
    "fields", [{"dst": 11}, {"src": -1}, {"off": 1 << 15}, {"imm": 1 << 32}, {"imm": -(1 << 31) - 1}]
)
def test_out_of_range_fields_are_refused(fields: dict) -> None:
    with pytest.raises(ValueError, match="out of range"):
        bpf.insn(bpf.ALU | bpf.MOV, **fields)


ALLOW_ALL = bpf.alu32_imm(bpf.MOV, bpf.R0, 1) + bpf.exit_insn()


def load(insns: bytes = ALLOW_ALL, name: str = "hutch_test") -> int:
    return bpf.prog_load(bpf.PROG_TYPE_CGROUP_DEVICE, insns, "GPL", name)


def test_a_loaded_program_has_its_name_and_a_close_on_exec_fd() -> None:
    fd = load()
    try:
        prog_id, name = bpf.prog_info(fd)
        assert name == "hutch_test" and prog_id > 0
        assert not os.get_inheritable(fd)
        again = bpf.prog_get_fd_by_id(prog_id)
        assert bpf.prog_info(again) == (prog_id, name)
        os.close(again)
    finally:
        os.close(fd)


def test_a_refused_program_reports_the_verifier_log() -> None:
    # R0 is never set before exit: the verifier refuses to return an uninitialised register.
    with pytest.raises(OSError) as caught:
        load(bpf.exit_insn())
    assert caught.value.errno == errno.EACCES
    assert "verifier log:" in caught.value.strerror
    assert "R0" in caught.value.strerror
    assert "\n" not in caught.value.strerror


@pytest.fixture
def cgroup2_dir() -> Iterator[int]:
    """An fd on a fresh directory of the cgroup2 hierarchy (pure v2, or hybrid's unified tree)."""
    mounts = [m.mount_point for m in mountinfo.read() if m.fs_type == "cgroup2"]
    if not mounts:
        pytest.skip("cgroup2 is not mounted")
    parent = f"{mounts[0]}/hutch"
    os.makedirs(parent, exist_ok=True)
    path = f"{parent}/test-{uuid.uuid4().hex[:12]}"
    os.mkdir(path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)
        os.rmdir(path)


def names_attached(dir_fd: int) -> list[str]:
    names = []
    for prog_id in bpf.prog_query(dir_fd, bpf.CGROUP_DEVICE):
        fd = bpf.prog_get_fd_by_id(prog_id)
        names.append(bpf.prog_info(fd)[1])
        os.close(fd)
    return sorted(names)


def test_attach_replace_query_detach(cgroup2_dir: int) -> None:
    first, second, third = load(name="first"), load(name="second"), load(name="third")
    try:
        assert names_attached(cgroup2_dir) == []
        bpf.prog_attach(cgroup2_dir, first, bpf.CGROUP_DEVICE, bpf.F_ALLOW_MULTI)
        bpf.prog_attach(cgroup2_dir, second, bpf.CGROUP_DEVICE, bpf.F_ALLOW_MULTI)
        assert names_attached(cgroup2_dir) == ["first", "second"]
        flags = bpf.F_ALLOW_MULTI | bpf.F_REPLACE
        bpf.prog_attach(cgroup2_dir, third, bpf.CGROUP_DEVICE, flags, replace_fd=first)
        assert names_attached(cgroup2_dir) == ["second", "third"]
        bpf.prog_detach(cgroup2_dir, second, bpf.CGROUP_DEVICE)
        bpf.prog_detach(cgroup2_dir, third, bpf.CGROUP_DEVICE)
        assert names_attached(cgroup2_dir) == []
        with pytest.raises(OSError) as caught:
            bpf.prog_detach(cgroup2_dir, third, bpf.CGROUP_DEVICE)
        assert caught.value.errno == errno.ENOENT
    finally:
        for fd in (first, second, third):
            os.close(fd)


def test_query_grows_its_buffer_past_eight_programs(cgroup2_dir: int) -> None:
    fds = [load(name=f"p{i}") for i in range(10)]
    try:
        for fd in fds:
            bpf.prog_attach(cgroup2_dir, fd, bpf.CGROUP_DEVICE, bpf.F_ALLOW_MULTI)
        assert names_attached(cgroup2_dir) == sorted(f"p{i}" for i in range(10))
        for fd in fds:
            bpf.prog_detach(cgroup2_dir, fd, bpf.CGROUP_DEVICE)
    finally:
        for fd in fds:
            os.close(fd)
