"""Seccomp over libseccomp: real filters loaded in forked children, validation, features, the ENOSYS stub."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hutch.linux import seccomp
from hutch.linux import syscalls as sc
from hutch.linux.seccomp import ArgRule, Profile, SeccompError, SyscallRule

CONFIGS = Path(__file__).parent.parent / "oci" / "configs"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def nr(name: str) -> int:
    number = seccomp.resolve_syscall(name)
    assert number is not None, name
    return number


# Resolved before any filter is loaded: after it, the child runs as few syscalls as it can.
GETPPID = nr("getppid")
GETPID = nr("getpid")
GETRANDOM = nr("getrandom")


def call(number: int, *args: int) -> int:
    """A raw syscall: its result, or -errno."""
    ctypes.set_errno(0)
    result = _libc.syscall(ctypes.c_long(number), *(ctypes.c_ulong(a) for a in args))
    return -ctypes.get_errno() if result == -1 else result


loaded: int | None = None  # in a filtered child: what load() returned


def in_filtered_child(profile: Profile, probe: Callable[[], object]) -> tuple[int, str]:
    """Load the profile's filter in a forked child and run probe there: (wait status, repr of probe's result).

    The child cannot dump core (SIGSYS would write one into the working directory), and always exits with
    os._exit: it never returns into pytest.
    """
    global loaded
    built = seccomp.build(profile)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_end)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            sc.set_dumpable(False)
            loaded = seccomp.load(built)
            os.write(write_end, repr(probe()).encode())
        except BaseException as exc:
            code = 1
            try:
                os.write(write_end, f"child failed: {exc!r}".encode())
            except BaseException:
                pass
        finally:
            os._exit(code)
    built.release()
    os.close(write_end)
    try:
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_end)
        status = os.waitpid(pid, 0)[1]
    return status, b"".join(chunks).decode()


def probe_result(profile: Profile, probe: Callable[[], object]) -> object:
    """What probe returned in a filtered child that exited normally."""
    status, output = in_filtered_child(profile, probe)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, output)
    return eval(output)  # the repr of ints, strings and tuples of them


def deny(names: list[str], errno_ret: int | None = errno.EXDEV, args: list[ArgRule] | None = None) -> Profile:
    """Allow everything but `names`, which fail with errno_ret (when args match)."""
    rule = SyscallRule(names, "SCMP_ACT_ERRNO", errno_ret=errno_ret, args=args or [])
    return Profile("SCMP_ACT_ALLOW", syscalls=[rule])


# --- Actions ---


def test_errno_rule_fails_the_syscall_with_the_chosen_errno(tmp_path: Path) -> None:
    target = tmp_path / "made"

    def probe() -> int:
        try:
            os.mkdir(target)
        except OSError as exc:
            return exc.errno
        return 0

    assert probe_result(deny(["mkdir", "mkdirat"], errno.EMLINK), probe) == errno.EMLINK
    assert not target.exists()
    assert probe_result(deny(["rmdir"], errno.EMLINK), probe) == 0
    assert target.is_dir()


def test_errno_rule_without_errno_ret_fails_with_eperm() -> None:
    assert probe_result(deny(["getppid"], errno_ret=None), lambda: call(GETPPID)) == -errno.EPERM


def test_errno_ret_zero_makes_the_syscall_return_zero_without_running() -> None:
    assert probe_result(deny(["getppid"], errno_ret=0), lambda: call(GETPPID)) == 0
    assert probe_result(deny(["getpid"], errno_ret=0), lambda: call(GETPPID)) == os.getpid()


def _killed_by(action: str) -> int:
    profile = Profile("SCMP_ACT_ALLOW", syscalls=[SyscallRule(["getppid"], action)])
    status, output = in_filtered_child(profile, lambda: call(GETPPID))
    assert os.WIFSIGNALED(status), (status, output)
    return os.WTERMSIG(status)


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS"])
def test_kill_actions_kill_a_single_threaded_process_with_sigsys(action: str) -> None:
    assert _killed_by(action) == signal.SIGSYS


def _syscall_in_a_thread() -> str:
    """Make the syscall in a second thread; report whether that thread came back and the process went on."""
    came_back = []
    # ctypes releases the GIL around the call, so a thread killed inside it leaves the interpreter usable.
    thread = threading.Thread(target=lambda: came_back.append(call(GETPPID)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while len(os.listdir("/proc/self/task")) > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    return "thread returned" if came_back else "thread killed, process alive"


def test_kill_thread_kills_only_the_calling_thread() -> None:
    profile = Profile("SCMP_ACT_ALLOW", syscalls=[SyscallRule(["getppid"], "SCMP_ACT_KILL_THREAD")])
    assert probe_result(profile, _syscall_in_a_thread) == "thread killed, process alive"


def test_kill_process_kills_every_thread() -> None:
    profile = Profile("SCMP_ACT_ALLOW", syscalls=[SyscallRule(["getppid"], "SCMP_ACT_KILL_PROCESS")])
    status, output = in_filtered_child(profile, _syscall_in_a_thread)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS, (status, output)


def test_trap_delivers_sigsys_to_a_handler_and_skips_the_syscall() -> None:
    def probe() -> tuple[int, list[int]]:
        caught: list[int] = []
        signal.signal(signal.SIGSYS, lambda signum, frame: caught.append(signum))
        result = call(GETPPID)
        return result, caught

    profile = Profile("SCMP_ACT_ALLOW", syscalls=[SyscallRule(["getppid"], "SCMP_ACT_TRAP")])
    result, caught = probe_result(profile, probe)
    assert caught == [signal.SIGSYS]
    assert result != os.getpid()  # the parent's PID is what getppid would have returned


def test_log_and_allow_let_the_syscall_run() -> None:
    me = os.getpid()
    log = Profile("SCMP_ACT_ALLOW", syscalls=[SyscallRule(["getppid"], "SCMP_ACT_LOG")])
    assert probe_result(log, lambda: call(GETPPID)) == me
    # The LOG return value is in the program: the rule was not dropped as if it were the default.
    assert struct.pack("=HBBI", 0x06, 0, 0, 0x7FFC0000) in _program(log)
    allow = Profile("SCMP_ACT_ERRNO", syscalls=[SyscallRule([*_CHILD_NEEDS, "getppid"], "SCMP_ACT_ALLOW")])
    assert probe_result(allow, lambda: (call(GETPPID), call(GETPID))) == (me, -errno.EPERM)


def _program(profile: Profile) -> bytes:
    with seccomp.build(profile) as built:
        return seccomp.export_bpf(built)


# --- Arguments ---

OPERATOR_CASES = {
    "SCMP_CMP_NE": {99, 101},
    "SCMP_CMP_LT": {99},
    "SCMP_CMP_LE": {99, 100},
    "SCMP_CMP_EQ": {100},
    "SCMP_CMP_GE": {100, 101},
    "SCMP_CMP_GT": {101},
}


def _denied(profile: Profile, calls: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Which of these getppid argument tuples the filter answers with EXDEV."""
    results = probe_result(profile, lambda: tuple(call(GETPPID, *args) for args in calls))
    return [args for args, result in zip(calls, results, strict=True) if result == -errno.EXDEV]


@pytest.mark.parametrize("op", sorted(OPERATOR_CASES))
def test_each_comparison_operator_on_an_argument(op: str) -> None:
    # getppid ignores its arguments, but seccomp sees the registers they were passed in.
    profile = deny(["getppid"], args=[ArgRule(index=0, value=100, op=op)])
    assert {args[0] for args in _denied(profile, [(99,), (100,), (101,)])} == OPERATOR_CASES[op]


def test_masked_eq_compares_the_masked_argument_with_value_two() -> None:
    profile = deny(["getppid"], args=[ArgRule(index=0, value=0xF0, value_two=0x20, op="SCMP_CMP_MASKED_EQ")])
    assert _denied(profile, [(0x25,), (0x2F,), (0x35,), (0x120,), (0x02,)]) == [(0x25,), (0x2F,), (0x120,)]


def test_comparisons_use_all_64_bits_of_the_argument() -> None:
    profile = deny(["getppid"], args=[ArgRule(index=2, value=1 << 40, op="SCMP_CMP_EQ")])
    assert _denied(profile, [(0, 0, 1 << 40), (0, 0, 0), (0, 0, (1 << 40) | 1)]) == [(0, 0, 1 << 40)]


def test_comparisons_on_different_arguments_must_all_match() -> None:
    args = [ArgRule(index=0, value=1, op="SCMP_CMP_EQ"), ArgRule(index=1, value=2, op="SCMP_CMP_EQ")]
    assert _denied(deny(["getppid"], args=args), [(1, 2), (1, 3), (0, 2)]) == [(1, 2)]


def test_comparisons_repeating_an_argument_become_alternatives_as_in_runc() -> None:
    args = [ArgRule(index=0, value=1, op="SCMP_CMP_EQ"), ArgRule(index=0, value=2, op="SCMP_CMP_EQ")]
    assert _denied(deny(["getppid"], args=args), [(1,), (2,), (3,)]) == [(1,), (2,)]


# --- Profiles as runtimes receive them ---


def test_unknown_syscall_names_are_skipped_and_the_known_ones_enforced() -> None:
    profile = deny(["hutch_no_such_syscall", "getppid", "another_future_syscall"])
    assert probe_result(profile, lambda: call(GETPPID)) == -errno.EXDEV


def test_a_rule_with_the_default_action_is_skipped() -> None:
    # libseccomp refuses such a rule (EACCES); runc drops it, and so does build().
    profile = Profile("SCMP_ACT_ALLOW", syscalls=[
        SyscallRule(["getpid"], "SCMP_ACT_ALLOW"),
        SyscallRule(["getppid"], "SCMP_ACT_ERRNO", errno_ret=errno.EXDEV),
    ])
    child_pid, parent_pid = probe_result(profile, lambda: (call(GETPID), call(GETPPID)))
    assert child_pid > 0 and parent_pid == -errno.EXDEV


def test_the_native_architecture_is_filtered_even_when_the_profile_omits_it() -> None:
    foreign = "SCMP_ARCH_AARCH64" if os.uname().machine != "aarch64" else "SCMP_ARCH_X86_64"
    profile = Profile("SCMP_ACT_ALLOW", architectures=[foreign],
                      syscalls=[SyscallRule(["getppid"], "SCMP_ACT_ERRNO", errno_ret=errno.EXDEV)])
    assert probe_result(profile, lambda: call(GETPPID)) == -errno.EXDEV


# What a Python child needs between loading a deny-by-default filter and os._exit.
_CHILD_NEEDS = ["write", "exit_group", "exit", "brk", "mmap", "munmap", "mremap", "madvise",
                "rt_sigprocmask", "futex"]


def test_syscalls_newer_than_the_profile_fail_with_enosys_as_in_runc() -> None:
    # runc's stub: under a deny default, a syscall numbered past every one the profile names is taken to be
    # unknown to it and fails with ENOSYS (so libc falls back), not with the default EPERM.
    largest = max(nr(name) for name in _CHILD_NEEDS)
    if not GETPID < largest < GETRANDOM:
        pytest.skip("this architecture numbers the probe syscalls differently")
    profile = Profile("SCMP_ACT_ERRNO", syscalls=[SyscallRule(_CHILD_NEEDS, "SCMP_ACT_ALLOW")])
    results = probe_result(profile, lambda: (call(GETPID), call(GETRANDOM, 0, 0, 0)))
    assert results == (-errno.EPERM, -errno.ENOSYS)
    # A permissive default needs no stub: the same syscall reaches the kernel (a zero-length read gives 0).
    allow = Profile("SCMP_ACT_ALLOW", syscalls=[SyscallRule(["getpid"], "SCMP_ACT_ERRNO")])
    assert probe_result(allow, lambda: call(GETRANDOM, 0, 0, 0)) == 0


def test_podmans_default_profile_loads_and_behaves() -> None:
    spec = json.loads((CONFIGS / "podman.json").read_text())["linux"]["seccomp"]
    profile = Profile(
        default_action=spec["defaultAction"],
        default_errno_ret=spec.get("defaultErrnoRet"),
        architectures=spec["architectures"],
        syscalls=[
            SyscallRule(rule["names"], rule["action"], rule.get("errnoRet"),
                        [ArgRule(a["index"], a["value"], a.get("valueTwo", 0), a["op"])
                         for a in rule.get("args", [])])
            for rule in spec["syscalls"]
        ],
    )
    seccomp.check(profile)
    nr_personality, nr_vhangup = nr("personality"), nr("vhangup")

    def probe() -> tuple[int, int, int]:
        # personality(0xffffffff) only reads the persona, and the profile allows it.
        return call(nr_personality, 0xFFFFFFFF), call(nr_personality, 0x1234), call(nr_vhangup)

    current, other, vhangup = probe_result(profile, probe)
    assert current >= 0
    assert other == -errno.ENOSYS  # the default: defaultErrnoRet 38
    assert vhangup == -errno.EPERM  # errnoRet 1


# --- Notify ---

_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif), 80 bytes
_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp), 24 bytes
_NOTIF = struct.Struct("=QII" + "iIQ6Q")  # id, pid, flags; seccomp_data: nr, arch, ip, args[6]
_NOTIF_RESP = struct.Struct("=QqiI")  # id, val, error, flags


def test_notify_returns_a_listener_that_receives_and_answers_the_syscall() -> None:
    profile = Profile("SCMP_ACT_ALLOW", syscalls=[SyscallRule(["getppid"], "SCMP_ACT_NOTIFY")])
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    built = seccomp.build(profile)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            parent_sock.close()
            listener = seccomp.load(built)
            cloexec = listener is not None and not os.get_inheritable(listener)
            socket.send_fds(child_sock, [b"1" if cloexec else b"0"], [listener])
            answer = call(GETPPID, 77)
            child_sock.sendall(str(answer).encode())
            code = 0
        finally:
            os._exit(code)
    built.release()
    child_sock.close()
    listener = -1
    try:
        cloexec, fds, _, _ = socket.recv_fds(parent_sock, 1, 1)
        (listener,) = fds
        assert cloexec == b"1", "the listener fd must be close-on-exec in the container"
        assert select.select([listener], [], [], 10)[0], "no notification within 10 s"
        buffer = bytearray(_NOTIF.size)
        fcntl.ioctl(listener, _NOTIF_RECV, buffer, True)
        notif_id, notif_pid, _, number, _, _, arg0, *_ = _NOTIF.unpack(buffer)
        assert (notif_pid, number, arg0) == (pid, GETPPID, 77)
        fcntl.ioctl(listener, _NOTIF_SEND, bytearray(_NOTIF_RESP.pack(notif_id, 4242, 0, 0)), True)
        parent_sock.settimeout(10)
        assert parent_sock.recv(64) == b"4242"
    finally:
        if listener >= 0:
            os.close(listener)
        parent_sock.close()
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def test_without_notify_load_returns_none() -> None:
    assert probe_result(deny(["getppid"]), lambda: loaded) is None


# --- Flags ---


@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
def test_supported_flags_load(flag: str) -> None:
    assert flag in seccomp.features()["flags"]
    profile = deny(["getppid"])._replace(flags=[flag])
    assert probe_result(profile, lambda: call(GETPPID)) == -errno.EXDEV


def test_a_flag_the_library_lacks_is_refused_by_name() -> None:
    flag = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    if flag in seccomp.features()["flags"]:
        pytest.skip(f"libseccomp {seccomp.version()} supports {flag}")
    with pytest.raises(SeccompError, match=f"^seccomp: libseccomp {seccomp.version()} lacks {flag}$"):
        seccomp.check(deny(["getppid"])._replace(flags=[flag]))


def test_notify_with_tsync_loads() -> None:
    # Loading only (no notified syscall is made): the kernel wants TSYNC_ESRCH with a listener.
    profile = Profile("SCMP_ACT_ALLOW", flags=["SECCOMP_FILTER_FLAG_TSYNC"],
                      syscalls=[SyscallRule(["getppid"], "SCMP_ACT_NOTIFY")])
    assert isinstance(probe_result(profile, lambda: loaded), int)


# --- Validation ---

BAD_PROFILES = [
    (Profile("SCMP_ACT_FOO"), r'unknown action "SCMP_ACT_FOO" \(defaultAction\)'),
    (deny(["getppid"])._replace(syscalls=[SyscallRule(["getppid"], "SCMP_ACT_BAR")]),
     r'unknown action "SCMP_ACT_BAR" \(syscalls\[0\]\)'),
    (Profile("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_FOO"]), 'unknown architecture "SCMP_ARCH_FOO"'),
    (Profile("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_x86_64"]),
     'unknown architecture "SCMP_ARCH_x86_64"'),
    (Profile("SCMP_ACT_ALLOW", architectures=["x86_64"]), 'unknown architecture "x86_64"'),
    (Profile("SCMP_ACT_ALLOW", flags=["SECCOMP_FILTER_FLAG_FOO"]), 'unknown flag "SECCOMP_FILTER_FLAG_FOO"'),
    (Profile("SCMP_ACT_NOTIFY"), "SCMP_ACT_NOTIFY cannot be the default action"),
    (Profile("SCMP_ACT_ALLOW", default_errno_ret=1),
     r"errnoRet is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not SCMP_ACT_ALLOW \(defaultAction\)"),
    (Profile("SCMP_ACT_ALLOW", syscalls=[SyscallRule(["getppid"], "SCMP_ACT_KILL", errno_ret=1)]),
     r"errnoRet is only valid .* not SCMP_ACT_KILL \(syscalls\[0\]\)"),
    (deny(["getppid"], errno_ret=4095), r"errnoRet 4095 of SCMP_ACT_ERRNO is not in 0\.\.4094"),
    (deny(["getppid"], errno_ret=-1), r"errnoRet -1 of SCMP_ACT_ERRNO is not in 0\.\.4094"),
    (Profile("SCMP_ACT_TRACE", default_errno_ret=1 << 16),
     r"errnoRet 65536 of SCMP_ACT_TRACE is not in 0\.\.65535"),
    (deny(["getppid"], args=[ArgRule(6, 0, op="SCMP_CMP_EQ")]),
     r"argument index 6 is not in 0\.\.5 \(syscalls\[0\]\.args\[0\]\)"),
    (deny(["getppid"], args=[ArgRule(-1, 0, op="SCMP_CMP_EQ")]), r"argument index -1 is not in 0\.\.5"),
    (deny(["getppid"], args=[ArgRule(0, 0, op="SCMP_CMP_FOO")]), 'unknown operator "SCMP_CMP_FOO"'),
    (deny(["getppid"], args=[ArgRule(0, 1 << 64, op="SCMP_CMP_EQ")]),
     "argument value 18446744073709551616 is not a 64-bit unsigned integer"),
    (deny(["getppid"], args=[ArgRule(0, -5, op="SCMP_CMP_EQ")]), "argument value -5 is not a 64-bit"),
    (deny(["getppid"], args=[ArgRule(0, 0xF0, 0x0F, op="SCMP_CMP_MASKED_EQ")]),
     "SCMP_CMP_MASKED_EQ value_two 0xf has bits outside the mask 0xf0 and can never match"),
    (deny([""]), r"names must be non-empty strings \(syscalls\[0\]\)"),
]


@pytest.mark.parametrize(("profile", "message"), BAD_PROFILES)
def test_check_refuses_with_a_one_line_message(profile: Profile, message: str) -> None:
    with pytest.raises(SeccompError, match=f"^seccomp: {message}") as caught:
        seccomp.check(profile)
    assert "\n" not in str(caught.value)
    with pytest.raises(SeccompError):  # build() checks too, before making anything
        seccomp.build(profile)


def test_an_architecture_the_library_lacks_is_refused_by_name() -> None:
    if "SCMP_ARCH_LOONGARCH64" in seccomp.features()["archs"]:
        pytest.skip(f"libseccomp {seccomp.version()} knows loongarch64")
    message = f"^seccomp: libseccomp {seccomp.version()} lacks SCMP_ARCH_LOONGARCH64$"
    with pytest.raises(SeccompError, match=message):
        seccomp.check(Profile("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_LOONGARCH64"]))


def test_architectures_of_another_byte_order_are_refused() -> None:
    if sys.byteorder != "little":
        pytest.skip("a big-endian host")
    with pytest.raises(SeccompError, match=r"^seccomp: architecture SCMP_ARCH_S390X has another byte order"):
        seccomp.check(Profile("SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_X86", "SCMP_ARCH_S390X"]))


_BIG_ENDIAN = {
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
    "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
}


def test_check_accepts_every_action_operator_and_errno_edge() -> None:
    rules = [SyscallRule(["getppid"], action) for action in seccomp.features()["actions"]]
    rules += [
        SyscallRule(["getpid"], "SCMP_ACT_ERRNO", errno_ret=0),
        SyscallRule(["getpid"], "SCMP_ACT_ERRNO", errno_ret=4094),
        SyscallRule(["getpid"], "SCMP_ACT_TRACE", errno_ret=65535),
        SyscallRule(["getpid"], "SCMP_ACT_ERRNO",
                    args=[ArgRule(i, (1 << 64) - 1, op=op) for i, op in enumerate(OPERATOR_CASES)]),
        SyscallRule(["getpid"], "SCMP_ACT_ERRNO", args=[ArgRule(5, 0xFF, 0x0F, "SCMP_CMP_MASKED_EQ")]),
    ]
    found = seccomp.features()
    little_endian = [arch for arch in found["archs"] if arch not in _BIG_ENDIAN]
    seccomp.check(Profile("SCMP_ACT_ERRNO", errno.ENOSYS, little_endian, found["flags"], rules))


def test_load_without_privilege_or_no_new_privs_fails_with_the_kernel_error() -> None:
    # load() leaves no_new_privs to the caller: without it, or CAP_SYS_ADMIN, the kernel says EACCES.
    built = seccomp.build(deny(["getppid"]))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setuid(65534)
            try:
                seccomp.load(built)
                os.write(write_end, b"loaded")
            except SeccompError as exc:
                os.write(write_end, str(exc).encode())
        finally:
            os._exit(0)
    built.release()
    os.close(write_end)
    try:
        message = os.read(read_end, 1000).decode()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert message == f"seccomp: cannot load the filter: {os.strerror(errno.EACCES)}"


def test_a_released_filter_cannot_be_exported_or_loaded() -> None:
    built = seccomp.build(deny(["getppid"]))
    built.release()
    built.release()  # twice is harmless
    with pytest.raises(SeccompError, match="released"):
        seccomp.export_bpf(built)


# --- Features and export ---


def test_features_list_what_libseccomp_2_5_supports_here() -> None:
    found = seccomp.features()
    assert set(found) == {"actions", "operators", "archs", "flags"}
    assert set(found["actions"]) == {
        "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
    }
    assert len(found["operators"]) == 7 and "SCMP_CMP_MASKED_EQ" in found["operators"]
    assert {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"} <= set(found["archs"])
    assert all(arch.startswith("SCMP_ARCH_") for arch in found["archs"])
    assert {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"} <= set(found["flags"])
    major, minor, _ = (int(part) for part in seccomp.version().split("."))
    if (major, minor) < (2, 6):
        assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" not in found["flags"]
        assert "SCMP_ARCH_LOONGARCH64" not in found["archs"]


def test_export_bpf_is_a_whole_program_ending_in_a_return() -> None:
    program = _program(deny(["getppid"]))
    assert program and len(program) % 8 == 0
    code = struct.unpack_from("=H", program, len(program) - 8)[0]
    assert code & 0x07 == 0x06  # BPF_RET
    # The EXDEV answer is in it as SCMP_ACT_ERRNO(EXDEV).
    assert struct.pack("=I", 0x00050000 | errno.EXDEV) in program


def test_the_enosys_stub_is_added_only_under_a_denying_default() -> None:
    enosys = struct.pack("=HBBI", 0x06, 0, 0, 0x00050000 | errno.ENOSYS)
    for default in ("SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"):
        assert enosys in _program(Profile(default, syscalls=[SyscallRule(["getppid"], "SCMP_ACT_ALLOW")]))
    for default in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG"):
        assert enosys not in _program(Profile(default, syscalls=[SyscallRule(["getppid"], "SCMP_ACT_KILL")]))
    # A default of ERRNO(ENOSYS) already answers as the stub would.
    allow_getppid = [SyscallRule(["getppid"], "SCMP_ACT_ALLOW")]
    enosys_default = Profile("SCMP_ACT_ERRNO", errno.ENOSYS, syscalls=allow_getppid)
    assert _program(enosys_default).count(enosys) == 1
