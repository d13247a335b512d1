"""ctypes wrappers for bpf(2) on cgroup device programs, and an encoder for eBPF instructions."""

from __future__ import annotations

import ctypes
import errno as _errno
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)

# Commands (enum bpf_cmd).
_PROG_LOAD = 5
_PROG_ATTACH = 8
_PROG_DETACH = 9
_PROG_GET_FD_BY_ID = 13
_OBJ_GET_INFO_BY_FD = 15
_PROG_QUERY = 16

PROG_TYPE_CGROUP_DEVICE = 15
# Attach type (enum bpf_attach_type).
CGROUP_DEVICE = 6
F_ALLOW_OVERRIDE = 1
F_ALLOW_MULTI = 2
F_REPLACE = 4

# struct bpf_cgroup_dev_ctx: access_type is the device type in its low 16 bits, the access in the high ones.
DEVCG_DEV_BLOCK = 1
DEVCG_DEV_CHAR = 2
DEVCG_ACC_MKNOD = 1
DEVCG_ACC_READ = 2
DEVCG_ACC_WRITE = 4

OBJ_NAME_LEN = 16
_LOG_SIZE = 1 << 16
_LOG_TAIL_CHARS = 2000

# --- Instruction encoding (struct bpf_insn: u8 code, u8 dst:4 src:4, s16 off, s32 imm; little-endian) ---

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

# Classes.
LDX = 0x01
ALU = 0x04  # 32-bit operations; the upper half of the destination is zeroed
JMP = 0x05
ALU64 = 0x07
# Sizes and modes of loads.
W = 0x00
H = 0x08
B = 0x10
DW = 0x18
MEM = 0x60
# Operand source: the immediate (K) or the source register (X).
K = 0x00
X = 0x08
# ALU operations.
ADD = 0x00
SUB = 0x10
OR = 0x40
AND = 0x50
LSH = 0x60
RSH = 0x70
MOV = 0xB0
# Jump operations.
JA = 0x00
JEQ = 0x10
JGT = 0x20
JGE = 0x30
JSET = 0x40
JNE = 0x50
EXIT = 0x90


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte instruction; off and imm are signed (16 and 32 bits)."""
    registers_ok = 0 <= dst <= R10 and 0 <= src <= R10
    if not (registers_ok and -(1 << 15) <= off < (1 << 15) and -(1 << 31) <= imm < (1 << 32)):
        raise ValueError(f"bpf instruction out of range: {code=:#x} {dst=} {src=} {off=} {imm=}")
    word = code | dst << 8 | src << 12 | (off & 0xFFFF) << 16 | (imm & 0xFFFFFFFF) << 32
    return word.to_bytes(8, "little")


def load_mem(dst: int, src: int, off: int, size: int = W) -> bytes:
    """dst = *(size *)(src + off)"""
    return insn(LDX | MEM | size, dst, src, off)


def alu32_imm(op: int, dst: int, imm: int) -> bytes:
    return insn(ALU | op | K, dst, 0, 0, imm)


def alu32_reg(op: int, dst: int, src: int) -> bytes:
    return insn(ALU | op | X, dst, src)


def jump_imm(op: int, dst: int, imm: int, off: int) -> bytes:
    """if (dst op imm) skip off instructions; the 64-bit register is compared with imm sign-extended."""
    return insn(JMP | op | K, dst, 0, off, imm)


def jump_reg(op: int, dst: int, src: int, off: int) -> bytes:
    return insn(JMP | op | X, dst, src, off)


def exit_insn() -> bytes:
    return insn(JMP | EXIT)


# --- bpf(2) ---
# Each command's union bpf_attr member is packed by hand from (size, value) pairs in the kernel's field
# order, all naturally aligned: a ctypes.Structure per command would cost ~60 us each at import.


def _attr(*fields: tuple[int, int | bytes]) -> ctypes.Array:
    data = b"".join(
        value.ljust(size, b"\0") if isinstance(value, bytes) else value.to_bytes(size, "little")
        for size, value in fields
    )
    return ctypes.create_string_buffer(data, len(data))


def _u32_at(buf: ctypes.Array, offset: int) -> int:
    return int.from_bytes(buf.raw[offset : offset + 4], "little")


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    ret = _libc.syscall(_SYS_BPF, ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def prog_load(
    prog_type: int, insns: bytes, license: str, name: str = "", expected_attach_type: int = 0
) -> int:
    """Load a program and return its fd (close-on-exec); a refusal's OSError carries the verifier's log."""
    code = ctypes.create_string_buffer(insns, len(insns))
    license_buf = ctypes.create_string_buffer(license.encode())

    def attr(log: ctypes.Array | None) -> ctypes.Array:
        return _attr(
            (4, prog_type),
            (4, len(insns) // 8),  # insn_cnt
            (8, ctypes.addressof(code)),
            (8, ctypes.addressof(license_buf)),
            (4, 0 if log is None else 1),  # log_level
            (4, 0 if log is None else len(log)),  # log_size
            (8, 0 if log is None else ctypes.addressof(log)),  # log_buf
            (4, 0),  # kern_version
            (4, 0),  # prog_flags
            (OBJ_NAME_LEN, name.encode()[: OBJ_NAME_LEN - 1]),
            (4, 0),  # prog_ifindex
            (4, expected_attach_type),
        )

    try:
        return _bpf(_PROG_LOAD, attr(None))
    except OSError as first:
        # Only a refused load pays for the log: loading again with one tells why the verifier refused.
        log = ctypes.create_string_buffer(_LOG_SIZE)
        try:
            return _bpf(_PROG_LOAD, attr(log))
        except OSError as again:
            text = " ".join(log.value.decode(errors="replace").split("\n")).strip()[-_LOG_TAIL_CHARS:]
            detail = f"{again.strerror}; verifier log: {text}" if text else again.strerror
            raise OSError(again.errno or first.errno, detail) from None


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0, replace_fd: int = 0) -> None:
    """Attach to a cgroup (target_fd: its directory); with F_REPLACE, replace_fd's program is swapped out."""
    _bpf(_PROG_ATTACH, _attr((4, target_fd), (4, prog_fd), (4, attach_type), (4, flags), (4, replace_fd)))


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    _bpf(_PROG_DETACH, _attr((4, target_fd), (4, prog_fd), (4, attach_type), (4, 0), (4, 0)))


_QUERY_COUNT_OFFSET = 24


def prog_query(target_fd: int, attach_type: int, query_flags: int = 0) -> list[int]:
    """Ids of the programs attached to the cgroup itself (with BPF_F_QUERY_EFFECTIVE: all that run there)."""
    count = 8
    while True:
        ids = (ctypes.c_uint32 * count)()
        attr = _attr(
            (4, target_fd),
            (4, attach_type),
            (4, query_flags),
            (4, 0),  # attach_flags, out
            (8, ctypes.addressof(ids)),
            (4, count),  # prog_cnt, in and out
            (4, 0),
        )
        try:
            _bpf(_PROG_QUERY, attr)
        except OSError as exc:
            # ENOSPC: more programs than room; the kernel wrote the real count back.
            if exc.errno == _errno.ENOSPC and _u32_at(attr, _QUERY_COUNT_OFFSET) > count:
                count = _u32_at(attr, _QUERY_COUNT_OFFSET)
                continue
            raise
        return list(ids[: _u32_at(attr, _QUERY_COUNT_OFFSET)])


def prog_get_fd_by_id(prog_id: int) -> int:
    """An fd for a loaded program (close-on-exec); ENOENT once the program is gone."""
    return _bpf(_PROG_GET_FD_BY_ID, _attr((4, prog_id), (4, 0), (4, 0)))


# struct bpf_prog_info up to the end of its name: type, id, tag[8], ... at 64, name[16].
_INFO_ID_OFFSET = 4
_INFO_NAME_OFFSET = 64


def prog_info(prog_fd: int) -> tuple[int, str]:
    """(id, name) of a loaded program."""
    info = ctypes.create_string_buffer(_INFO_NAME_OFFSET + OBJ_NAME_LEN)
    _bpf(_OBJ_GET_INFO_BY_FD, _attr((4, prog_fd), (4, len(info)), (8, ctypes.addressof(info))))
    name = info.raw[_INFO_NAME_OFFSET:].split(b"\0", 1)[0]
    return _u32_at(info, _INFO_ID_OFFSET), name.decode(errors="replace")
