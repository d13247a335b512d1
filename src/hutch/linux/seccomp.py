"""Seccomp filters from OCI profiles: validation, libseccomp rules (ctypes), runc's -ENOSYS stub, loading.

The rules are compiled by libseccomp (libseccomp.so.2, opened on first use), as runc does through
libseccomp-golang. The program is then exported, prefixed with the -ENOSYS stub of runc's
libcontainer/seccomp/patchbpf, and loaded with seccomp(2) directly: under a denying default, a syscall
numbered past every syscall the profile names fails with ENOSYS (so libc falls back to an older one)
instead of getting the default action. As in runc, loading does not set no_new_privs: the caller sets it when
process.noNewPrivileges asks, and otherwise needs CAP_SYS_ADMIN.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os

from hutch.record import Factory, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeGuard


class SeccompError(Exception):
    """A profile hutch cannot turn into a filter, or a filter the kernel refused; the message is one line."""


class ArgRule(Record):
    """One comparison on a syscall argument (OCI linux.seccomp.syscalls[].args[])."""

    index: int
    value: int
    value_two: int = 0
    op: str


class SyscallRule(Record):
    """One action for some syscalls, optionally only when their arguments compare as `args` say."""

    names: list[str]
    action: str
    errno_ret: int | None = None
    args: list[ArgRule] = Factory(list)


class Profile(Record):
    """An OCI linux.seccomp object."""

    default_action: str
    default_errno_ret: int | None = None
    architectures: list[str] = Factory(list)
    flags: list[str] = Factory(list)
    syscalls: list[SyscallRule] = Factory(list)


# libseccomp's SCMP_ACT_* values (seccomp.h); SCMP_ACT_ERRNO and SCMP_ACT_TRACE carry a 16-bit value.
_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
_ERRNO, _TRACE, _NOTIFY = "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY"
# libseccomp refuses MAX_ERRNO (4095) itself; a trace value is the tracer's 16-bit event message.
_RETURN_LIMITS = {_ERRNO: 4094, _TRACE: 0xFFFF}
# Default actions under which runc adds no -ENOSYS stub: they let unknown syscalls reach the kernel anyway.
_PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")

# enum scmp_compare.
_OPERATORS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
_MASKED_EQ = "SCMP_CMP_MASKED_EQ"
_ARG_COUNT = 6
_DATUM_MAX = (1 << 64) - 1

# The runtime-spec's architectures; libseccomp resolves each as its suffix in lower case.
_ARCH_PREFIX = "SCMP_ARCH_"
_ARCHITECTURES = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
)

# Filter flag -> (libseccomp attribute, seccomp(2) flag bit). TSYNC is known to runc but not the spec.
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": (4, 1 << 0),  # SCMP_FLTATR_CTL_TSYNC
    "SECCOMP_FILTER_FLAG_LOG": (6, 1 << 1),  # SCMP_FLTATR_CTL_LOG
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (7, 1 << 2),  # SCMP_FLTATR_CTL_SSB
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (10, 1 << 5),  # SCMP_FLTATR_CTL_WAITKILL, libseccomp >= 2.6
}
_FLAG_TSYNC = 1 << 0
_FLAG_NEW_LISTENER = 1 << 3
_FLAG_TSYNC_ESRCH = 1 << 4
_ATTR_CTL_NNP = 3
_ATTR_CTL_OPTIMIZE = 8
# runc asks for libseccomp's binary-tree layout past 32 rules (2.5.x misbehaves with it and no rules at all).
_TREE_AFTER_RULES = 32

_NR_SCMP_ERROR = -1
_SECCOMP_SET_MODE_FILTER = 1

_X32_SYSCALL_BIT = 0x40000000
_SCMP_ARCH_X86_64 = 0xC000003E  # AUDIT_ARCH_X86_64
_SCMP_ARCH_X32 = 0x4000003E  # not an AUDIT_ARCH: the kernel reports x32 as x86_64 with _X32_SYSCALL_BIT set
_AUDIT_ARCH_S390 = (0x00000016, 0x80000016)  # s390 and s390x multiplex unknown syscalls as number 0

# Classic BPF opcodes for the stub.
_LD_W_ABS = 0x20
_JA = 0x05
_JEQ_K = 0x15
_JGT_K = 0x25
_JSET_K = 0x45
_RET_K = 0x06
_DATA_NR = 0  # offsets in struct seccomp_data
_DATA_ARCH = 4


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


_lib: ctypes.CDLL | None = None
_supported: dict[str, list[str]] | None = None


def _libseccomp() -> ctypes.CDLL:
    """libseccomp.so.2 with its prototypes, opened on first use (a spec without seccomp never pays for it)."""
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError as exc:
        raise SeccompError(f"seccomp: cannot open libseccomp.so.2: {exc}") from None
    ctx, u32, cint, name = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_char_p
    prototypes = {
        "seccomp_init": ([u32], ctx),
        "seccomp_release": ([ctx], None),
        "seccomp_arch_add": ([ctx, u32], cint),
        "seccomp_arch_native": ([], u32),
        "seccomp_arch_resolve_name": ([name], u32),
        "seccomp_attr_set": ([ctx, cint, u32], cint),
        "seccomp_syscall_resolve_name": ([name], cint),
        "seccomp_syscall_resolve_name_arch": ([u32, name], cint),
        "seccomp_rule_add_array": ([ctx, u32, cint, ctypes.c_uint, ctypes.POINTER(_ArgCmp)], cint),
        "seccomp_export_bpf": ([ctx, cint], cint),
        "seccomp_version": ([], ctypes.POINTER(_Version)),
    }
    for function, (argtypes, restype) in prototypes.items():
        getattr(lib, function).argtypes = argtypes
        getattr(lib, function).restype = restype
    _lib = lib
    return lib


def version() -> str:
    """The installed libseccomp's version, e.g. "2.5.4"."""
    v = _libseccomp().seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def features() -> dict[str, list[str]]:
    """What this libseccomp on this kernel supports, by OCI name, for `hutch-runtime features`."""
    global _supported
    if _supported is None:
        lib = _libseccomp()
        _supported = {
            "actions": sorted(name for name in _ACTIONS if _action_supported(lib, name)),
            # Every libseccomp 2.x implements all seven comparisons.
            "operators": sorted(_OPERATORS),
            "archs": sorted(name for name in _ARCHITECTURES if _arch_token(lib, name)),
            "flags": [name for name in _FLAGS if _flag_error(lib, name) is None],
        }
    return {key: list(values) for key, values in _supported.items()}


def _action_supported(lib: ctypes.CDLL, action: str) -> bool:
    # seccomp_init validates its default action against the library and the kernel (SECCOMP_GET_ACTION_AVAIL).
    value = _ACTIONS[action] | (_errno.EPERM if action == _ERRNO else 0)
    ctx = lib.seccomp_init(value)
    if not ctx:
        return False
    lib.seccomp_release(ctx)
    return True


def _arch_token(lib: ctypes.CDLL, name: object) -> int:
    """libseccomp's token for an OCI architecture name, 0 if it is not one."""
    if not isinstance(name, str) or not name.startswith(_ARCH_PREFIX) or name != name.upper():
        return 0
    return lib.seccomp_arch_resolve_name(name[len(_ARCH_PREFIX):].lower().encode())


def _flag_error(lib: ctypes.CDLL, flag: str, ctx: int | None = None) -> str | None:
    """Set the flag's attribute on ctx (a scratch context if None); why it cannot be set, or None."""
    scratch = ctx is None
    if scratch:
        ctx = lib.seccomp_init(_ACTIONS["SCMP_ACT_ALLOW"])
    try:
        rc = lib.seccomp_attr_set(ctx, _FLAGS[flag][0], 1)
    finally:
        if scratch:
            lib.seccomp_release(ctx)
    if rc == 0:
        return None
    if rc == -_errno.EINVAL:
        return f"seccomp: libseccomp {version()} lacks {flag}"
    if rc == -_errno.EOPNOTSUPP:
        return f"seccomp: this kernel lacks {flag}"
    return f"seccomp: cannot set {flag}: {os.strerror(-rc)}"


# --- Validation ---


def check(profile: Profile) -> None:
    """Refuse, with SeccompError, anything in the profile that cannot become a filter here."""
    supported = features()
    _check_action(profile.default_action, profile.default_errno_ret, "defaultAction", supported)
    if profile.default_action == _NOTIFY:
        # As runc: the process could not even hand its listener fd over if every syscall waited for it.
        raise SeccompError(f"seccomp: {_NOTIFY} cannot be the default action")
    for arch in profile.architectures:
        if arch not in _ARCHITECTURES:
            raise SeccompError(f"seccomp: unknown architecture {_quote(arch)}")
        if arch not in supported["archs"]:
            raise SeccompError(f"seccomp: libseccomp {version()} lacks {arch}")
    _check_architectures_mix(profile.architectures)
    for flag in profile.flags:
        if not isinstance(flag, str) or flag not in _FLAGS:
            raise SeccompError(f"seccomp: unknown flag {_quote(flag)}")
        if flag not in supported["flags"]:
            raise SeccompError(_flag_error(_libseccomp(), flag) or f"seccomp: cannot set {flag}")
    for position, rule in enumerate(profile.syscalls):
        where = f"syscalls[{position}]"
        if not isinstance(rule.names, list) or not all(isinstance(n, str) and n for n in rule.names):
            raise SeccompError(f"seccomp: names must be non-empty strings ({where})")
        _check_action(rule.action, rule.errno_ret, where, supported)
        for number, arg in enumerate(rule.args):
            _check_arg(arg, f"{where}.args[{number}]")


def _check_architectures_mix(names: list[str]) -> None:
    """Add the architectures to a scratch filter: one filter cannot mix byte orders (libseccomp says EDOM)."""
    lib = _libseccomp()
    ctx = lib.seccomp_init(_ACTIONS["SCMP_ACT_ALLOW"])
    try:
        _add_architectures(lib, ctx, names)
    finally:
        lib.seccomp_release(ctx)


def _check_action(action: object, errno_ret: object, where: str, supported: dict[str, list[str]]) -> None:
    if not isinstance(action, str) or action not in _ACTIONS:
        raise SeccompError(f"seccomp: unknown action {_quote(action)} ({where})")
    if action not in supported["actions"]:
        raise SeccompError(f"seccomp: libseccomp {version()} lacks {action} ({where})")
    limit = _RETURN_LIMITS.get(action)
    if errno_ret is None:
        return
    if limit is None:
        valid = f"{_ERRNO} and {_TRACE}"
        raise SeccompError(f"seccomp: errnoRet is only valid with {valid}, not {action} ({where})")
    if not _is_int(errno_ret) or not 0 <= errno_ret <= limit:
        raise SeccompError(f"seccomp: errnoRet {errno_ret!r} of {action} is not in 0..{limit} ({where})")


def _check_arg(arg: ArgRule, where: str) -> None:
    if not _is_int(arg.index) or not 0 <= arg.index < _ARG_COUNT:
        raise SeccompError(f"seccomp: argument index {arg.index!r} is not in 0..{_ARG_COUNT - 1} ({where})")
    if not isinstance(arg.op, str) or arg.op not in _OPERATORS:
        raise SeccompError(f"seccomp: unknown operator {_quote(arg.op)} ({where})")
    for field in ("value", "value_two"):
        datum = getattr(arg, field)
        if not _is_int(datum) or not 0 <= datum <= _DATUM_MAX:
            raise SeccompError(f"seccomp: argument {field} {datum!r} is not a 64-bit unsigned integer"
                               f" ({where})")
    # MASKED_EQ matches (argument & value) == value_two: a bit of value_two outside the mask never matches.
    if arg.op == _MASKED_EQ and arg.value_two & ~arg.value:
        raise SeccompError(
            f"seccomp: {_MASKED_EQ} value_two {arg.value_two:#x} has bits outside the mask {arg.value:#x}"
            f" and can never match ({where})"
        )


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _quote(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _action_value(action: str, errno_ret: int | None) -> int:
    """The libseccomp action; errnoRet defaults to EPERM for ERRNO and TRACE, as runc and the spec say."""
    if action in _RETURN_LIMITS:
        return _ACTIONS[action] | (_errno.EPERM if errno_ret is None else errno_ret)
    return _ACTIONS[action]


# --- Building ---


class Filter:
    """A libseccomp context holding a profile's rules; release() frees it."""

    __slots__ = ("_ctx", "_flags", "_program", "_stub")

    def __init__(self, ctx: int) -> None:
        self._ctx: int | None = ctx
        self._flags = 0  # seccomp(2) flags to load with
        self._stub: list[tuple[int, int, int, int]] = []
        self._program: bytes | None = None

    def context(self) -> int:
        if self._ctx is None:
            raise SeccompError("seccomp: the filter was released")
        return self._ctx

    def release(self) -> None:
        if self._ctx is not None:
            _libseccomp().seccomp_release(self._ctx)
            self._ctx = None

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def build(profile: Profile) -> Filter:
    """A filter with the profile's architectures, flags and rules, ready for load()."""
    check(profile)
    lib = _libseccomp()
    default = _action_value(profile.default_action, profile.default_errno_ret)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError(f"seccomp: libseccomp refused the default action {profile.default_action}")
    built = Filter(ctx)
    try:
        tokens = _add_architectures(lib, ctx, profile.architectures)
        for flag in profile.flags:
            # Before the rules: libseccomp checks a NOTIFY rule against TSYNC when it is added.
            error = _flag_error(lib, flag, ctx)
            if error:
                raise SeccompError(error)
            built._flags |= _FLAGS[flag][1]
        # Loaded by seccomp(2) below, not seccomp_load; cleared anyway so export shows runc's attributes.
        lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0)
        added, notify = _add_rules(lib, ctx, profile, default)
        if added > _TREE_AFTER_RULES:
            lib.seccomp_attr_set(ctx, _ATTR_CTL_OPTIMIZE, 2)  # a speed-up only: an old library may refuse it
        if notify:
            built._flags |= _FLAG_NEW_LISTENER
            if built._flags & _FLAG_TSYNC:
                built._flags |= _FLAG_TSYNC_ESRCH  # the kernel refuses TSYNC with a listener otherwise
        if _wants_enosys_stub(profile):
            built._stub = _enosys_stub(_largest_syscalls(lib, profile, tokens))
    except BaseException:
        built.release()
        raise
    return built


def _add_architectures(lib: ctypes.CDLL, ctx: int, names: list[str]) -> set[int]:
    """Add the profile's architectures; the native one is always in (seccomp_init adds it)."""
    tokens = {lib.seccomp_arch_native()}
    for name in names:
        token = _arch_token(lib, name)
        rc = lib.seccomp_arch_add(ctx, token)
        if rc == -_errno.EDOM:
            raise SeccompError(f"seccomp: architecture {name} has another byte order than the native one")
        if rc < 0 and rc != -_errno.EEXIST:
            raise SeccompError(f"seccomp: cannot add architecture {name}: {os.strerror(-rc)}")
        tokens.add(token)
    return tokens


def _add_rules(lib: ctypes.CDLL, ctx: int, profile: Profile, default: int) -> tuple[int, bool]:
    """Add every rule libseccomp can; return how many were added and whether one notifies."""
    added, notify = 0, False
    for position, rule in enumerate(profile.syscalls):
        action = _action_value(rule.action, rule.errno_ret)
        if action == default:
            continue  # redundant, and libseccomp refuses a rule with the default action (EACCES)
        condition_sets = _condition_sets(rule.args)
        for name in rule.names:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number == _NR_SCMP_ERROR:
                continue  # as runc: the profile names a syscall newer than this libseccomp
            for conditions in condition_sets:
                rc = lib.seccomp_rule_add_array(ctx, action, number, len(conditions), conditions)
                if rc < 0:
                    raise SeccompError(
                        f"seccomp: cannot add the {rule.action} rule for {name}"
                        f" (syscalls[{position}]): {os.strerror(-rc)}"
                    )
            added += 1
            notify = notify or rule.action == _NOTIFY
    return added, notify


def _condition_sets(args: list[ArgRule]) -> list[ctypes.Array]:
    """The comparisons of one rule as libseccomp arrays, one array per rule to add.

    libseccomp ANDs the comparisons of one rule but takes one per argument. As runc does, a rule that compares
    the same argument twice becomes one rule per comparison, so any of them matches.
    """
    conditions = [_ArgCmp(a.index, _OPERATORS[a.op], a.value, a.value_two) for a in args]
    indexes = [a.index for a in args]
    if len(set(indexes)) == len(indexes):
        return [(_ArgCmp * len(conditions))(*conditions)]
    return [(_ArgCmp * 1)(condition) for condition in conditions]


# --- runc's -ENOSYS stub ---


def _wants_enosys_stub(profile: Profile) -> bool:
    if profile.default_action in _PERMISSIVE:
        return False
    # A default of ERRNO(ENOSYS) already answers unknown syscalls as the stub would.
    return not (profile.default_action == _ERRNO and profile.default_errno_ret == _errno.ENOSYS)


def _largest_syscalls(lib: ctypes.CDLL, profile: Profile, tokens: set[int]) -> dict[int, dict[int, int]]:
    """Per audit architecture, per libseccomp architecture: the largest syscall number the profile names."""
    names = {name.encode() for rule in profile.syscalls for name in rule.names}
    largest: dict[int, dict[int, int]] = {}
    for token in sorted(tokens):
        top = max((lib.seccomp_syscall_resolve_name_arch(token, name) for name in names), default=0)
        if top > 0:  # negative numbers are unknown names or libseccomp's pseudo-syscalls
            audit = _SCMP_ARCH_X86_64 if token == _SCMP_ARCH_X32 else token
            largest.setdefault(audit, {})[token] = top
    return largest


def _enosys_stub(largest: dict[int, dict[int, int]]) -> list[tuple[int, int, int, int]]:
    """Instructions that answer ENOSYS for syscalls past the largest the profile names, then fall through.

    Conditional jumps only ever skip 0 or 1 instructions here; the long ones are JA, whose offset is 32 bits,
    written first as ("ja", label) and resolved at the end.
    """
    if not largest:
        return []  # the profile names no syscall known here: nothing to compare with
    sections = {audit: _stub_section(audit, maxima) for audit, maxima in largest.items()}
    program: list[tuple] = [(_LD_W_ABS, 0, 0, _DATA_ARCH)]
    for audit in sections:
        program += [(_JEQ_K, 0, 1, audit), ("ja", audit)]
    program.append(("ja", "filter"))  # an architecture without a section gets libseccomp's bad-arch action
    labels: dict[object, int] = {}
    for audit, section in sections.items():
        labels[audit] = len(program)
        program += section
    labels["enosys"] = len(program)
    program.append((_RET_K, 0, 0, _ACTIONS[_ERRNO] | _errno.ENOSYS))
    labels["filter"] = len(program)
    return [
        (_JA, 0, 0, labels[insn[1]] - pc - 1) if insn[0] == "ja" else insn for pc, insn in enumerate(program)
    ]


def _stub_section(audit: int, maxima: dict[int, int]) -> list[tuple]:
    section: list[tuple] = [(_LD_W_ABS, 0, 0, _DATA_NR)]
    if audit in _AUDIT_ARCH_S390:
        section += [(_JEQ_K, 0, 1, 0), ("ja", "enosys")]
    if audit != _SCMP_ARCH_X86_64:
        (top,) = maxima.values()
        return section + _stub_lane(top)
    # x86_64 and x32 share an audit architecture; x32 numbers have _X32_SYSCALL_BIT set.
    x32 = _stub_lane(maxima[_SCMP_ARCH_X32]) if _SCMP_ARCH_X32 in maxima else [("ja", "filter")]
    x86_64 = _stub_lane(maxima[_SCMP_ARCH_X86_64]) if _SCMP_ARCH_X86_64 in maxima else [("ja", "filter")]
    return [*section, (_JSET_K, 0, len(x32), _X32_SYSCALL_BIT), *x32, *x86_64]


def _stub_lane(top: int) -> list[tuple]:
    return [(_JGT_K, 0, 1, top), ("ja", "enosys"), ("ja", "filter")]


# --- Export and load ---


def export_bpf(built: Filter) -> bytes:
    """The classic BPF program load() installs: the stub, then libseccomp's (sock_filter, host order)."""
    if built._program is None:
        stub = (_SockFilter * len(built._stub))(*(_SockFilter(*insn) for insn in built._stub))
        built._program = bytes(stub) + _export_libseccomp(built)
    return built._program


def _export_libseccomp(built: Filter) -> bytes:
    fd = os.memfd_create("hutch-seccomp", os.MFD_CLOEXEC)
    try:
        rc = _libseccomp().seccomp_export_bpf(built.context(), fd)
        if rc < 0:
            raise SeccompError(f"seccomp: cannot export the filter: {os.strerror(-rc)}")
        size = os.lseek(fd, 0, os.SEEK_CUR)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def load(built: Filter) -> int | None:
    """Install the filter on the calling thread (every thread with TSYNC).

    Returns the listener fd (close-on-exec, as the kernel makes it) when a rule notifies, else None.
    """
    program = export_bpf(built)
    count = len(program) // ctypes.sizeof(_SockFilter)
    instructions = (_SockFilter * count).from_buffer_copy(program)
    fprog = _SockFprog(count, instructions)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    number = _libseccomp().seccomp_syscall_resolve_name(b"seccomp")
    result = libc.syscall(ctypes.c_long(number), ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
                          ctypes.c_long(built._flags), ctypes.byref(fprog))
    if result < 0:
        raise SeccompError(f"seccomp: cannot load the filter: {os.strerror(ctypes.get_errno())}")
    return result if built._flags & _FLAG_NEW_LISTENER else None


def resolve_syscall(name: str) -> int | None:
    """The native number of a syscall, None if this libseccomp does not know it (or not natively)."""
    number = _libseccomp().seccomp_syscall_resolve_name(name.encode())
    return number if number >= 0 else None
