"""The trusted program that runs *inside* the sandbox (stdlib only, no rewardlab import).

Its source is passed to ``python -I -S -c``. It reads a header (limits, the
result channel's descriptor number) and then jobs (JSON, one per line) from
stdin, and writes its findings as JSON lines to the result channel. Protocol,
one frame per line:

- ``{"started": true}``: the runner is about to hand the job to a candidate
  process; anything that goes wrong after this frame may be the candidate's doing.
- ``{"compile_error": "..."}``: the candidate code does not compile; nothing ran.
- ``{"load_error": "..."}``: running the candidate module raised.
- ``{"i": k, "value": <encoded>}``: call ``k`` returned this plain-data value.
- ``{"i": k, "error": "..."}``: call ``k`` raised, or returned something that is not plain data
  (standard-library containers count as the plain data they hold; see `_stdlib_container_data`).
- ``{"i": k, "passed": true}``: trusted-test ``k`` ran to the end (``"error"`` when it did not).
- ``{"i": k, "stdout": "...", "exit": n, "stderr": "...", "timeout": bool, "output_limit": bool}``:
  the program's run on stdin case ``k``.
- ``{"violation": "..."}``: the candidate process broke the protocol (its own 0).
- ``{"done": true, "child": "..."}``: the runner finished; ``child`` says how the candidate process ended.
- ``{"runner_error": "..."}``: the runner itself failed (a harness error, not the candidate's doing).
- ``{"ready": true}``: (reused workers) the reset after a job is complete.

Three processes take part, and candidate code runs in only one of them:

- the **runner** reads jobs and talks to the host; it never runs candidate code;
- the **zygote** is forked by the runner before the first job is read, so it
  never holds any job's data (no code, no tests, not even freed memory). It
  imports the modules candidates commonly use, confines itself (seccomp filter,
  no new privileges, non-dumpable) and then only forks on request;
- a **candidate process** is a fresh fork of the zygote per job (or per stdin
  case, which then ``exec``s a new interpreter). It switches to the sandbox uid,
  takes its rlimits and only then reads its own job from a private pipe.

So a candidate's whole address space holds nothing of any other job. The
runner is non-dumpable, so no candidate can read its memory or reopen its
descriptors through ``/proc``; the result channel is never inherited. The
runner checks every line a candidate sends and forwards only well-formed frames,
in order: whatever a candidate writes, it can at most claim a value for a call,
which it could equally have returned. Expected outputs are never sent into the
sandbox.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time

FRAME_LIMIT = 4_000_000
"""Largest single frame a candidate may send (bytes); a longer line is a protocol violation."""

JOB_LIMIT = 64_000_000
"""Largest job a candidate process reads from its pipe (the host sends far less)."""

ENCODE_DEPTH = 100
"""Deepest nesting of a returned value; deeper structures are rejected, not truncated."""

ENCODE_ITEMS = 1_000_000
"""Most elements a returned value may hold in total."""

PREWARM = (
    "typing", "collections", "itertools", "functools", "math", "re", "heapq", "bisect", "string",
    "operator", "copy", "random", "fractions", "decimal", "statistics", "datetime", "hashlib",
)  # fmt: skip
"""Modules the zygote imports before the first job, so candidates do not pay for them per sample."""

_WARM_UP = """
import math
class Warm:
    def up(self, x: int = 0, *args, **kw) -> list:
        return [i * 2 for i in range(x) if i % 2] + list({k: v for k, v in kw.items()})
def warm(x):
    try:
        return sum(x) / len(x) if x else lambda y: (y, f"{x!r}")
    except ZeroDivisionError as exc:
        raise ValueError(str(exc)) from exc
"""
"""Source the zygote compiles once, so that candidate processes find the compiler ready."""

_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SECCOMP_MODE_FILTER = 2
_CAP_SETGID, _CAP_SETUID = 6, 7


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _frame(fd: int, frame: dict) -> None:
    _write_all(fd, (json.dumps(frame, ensure_ascii=True, separators=(",", ":")) + "\n").encode())


_LIBC: list = []


def _libc():
    # Loaded once (in the zygote, before the first fork): every candidate process inherits it.
    import ctypes

    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return ctypes, _LIBC[0]


def _prctl(option: int, value: int) -> bool:
    try:
        _, libc = _libc()
        return libc.prctl(option, value, 0, 0, 0) == 0
    except Exception:
        return False


# -- seccomp: what no candidate process may ask the kernel for -------------------------
# Syscall numbers per architecture: (audit arch, x32 bit?, {name: nr}).
_SYSCALLS = {
    "x86_64": (0xC000003E, True, {
        "shmget": 29, "msgget": 68, "memfd_create": 319, "memfd_secret": 447, "userfaultfd": 323,
        "io_uring_setup": 425, "bpf": 321, "perf_event_open": 298, "add_key": 248, "request_key": 249,
        "keyctl": 250, "unshare": 272, "clone": 56, "clone3": 435,
    }),
    "aarch64": (0xC00000B7, False, {
        "shmget": 194, "msgget": 186, "memfd_create": 279, "memfd_secret": 447, "userfaultfd": 282,
        "io_uring_setup": 425, "bpf": 280, "perf_event_open": 241, "add_key": 217, "request_key": 218,
        "keyctl": 219, "unshare": 97, "clone": 220, "clone3": 435,
    }),
}  # fmt: skip
_DENIED = (
    # Memory that outlives or escapes the address-space limit: System V shared memory and
    # message queues persist after their creator, memfds live on while a descriptor does.
    "shmget", "msgget", "memfd_create", "memfd_secret",
    # Kernel interfaces a unit test never needs and that widen the attack surface.
    "userfaultfd", "io_uring_setup", "bpf", "perf_event_open", "add_key", "request_key", "keyctl",
)  # fmt: skip
_CLONE_NEWUSER = 0x10000000


def _seccomp_program() -> bytes:
    """A classic-BPF filter: deny ``_DENIED``, new user namespaces and foreign syscall ABIs."""
    arch = os.uname().machine
    if arch not in _SYSCALLS:
        raise OSError(f"no seccomp table for {arch}")
    audit_arch, has_x32, numbers = _SYSCALLS[arch]
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38
    allow = 0x7FFF0000
    prog: list[tuple[int, object, object, int]] = []  # (code, jump-if-true, jump-if-false, k)

    def op(code: int, k: int, jt: object = 0, jf: object = 0) -> None:
        prog.append((code, jt, jf, k))

    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    op(ld, 4)
    op(jeq, audit_arch, 0, "deny")
    op(ld, 0)
    if has_x32:
        op(jge, 0x40000000, "deny", 0)
    for name in _DENIED:
        op(jeq, numbers[name], "deny", 0)
    op(jeq, numbers["clone3"], "enosys", 0)  # its flags live in memory BPF cannot read; libc falls back to clone
    op(jeq, numbers["unshare"], "flags", 0)
    op(jeq, numbers["clone"], "flags", 0)
    op(ret, allow)
    labels = {"flags": len(prog)}
    op(ld, 16)  # low half of the first argument: the clone/unshare flags
    op(jset, _CLONE_NEWUSER, "deny", 0)
    op(ret, allow)
    labels["deny"] = len(prog)
    op(ret, eperm)
    labels["enosys"] = len(prog)
    op(ret, enosys)
    out = b""
    for index, (code, jt, jf, k) in enumerate(prog):
        jumps = [labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf)]
        out += struct.pack("=HBBI", code, jumps[0], jumps[1], k)
    return out


def _install_seccomp() -> None:
    ctypes, libc = _libc()
    program = _seccomp_program()
    buffer = ctypes.create_string_buffer(program)
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }: the pointer sits at offset 8.
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(buffer))
    fprog_buffer = ctypes.create_string_buffer(fprog)
    if not _prctl(_PR_SET_NO_NEW_PRIVS, 1):
        raise OSError("prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog_buffer, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def _keep_only_setuid_caps() -> None:
    """Drop every capability but CAP_SETUID/CAP_SETGID (the zygote needs them to hand out the sandbox uid)."""
    ctypes, libc = _libc()
    for cap in range(64):
        if cap not in (_CAP_SETGID, _CAP_SETUID):
            libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails harmlessly for caps already gone
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    keep = (1 << _CAP_SETGID) | (1 << _CAP_SETUID)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)(keep, keep, 0, 0, 0, 0)
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


# -- limits ------------------------------------------------------------------------
def _cap(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def _drop_to(uid) -> None:
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # clears every capability


def _confine(limits: dict) -> None:
    """The rlimits of a sandbox process (the runner, and every candidate process)."""
    mb = 1024 * 1024
    _cap(resource.RLIMIT_AS, limits["memory_mb"] * mb)
    _cap(resource.RLIMIT_NPROC, limits["processes"])
    _cap(resource.RLIMIT_NOFILE, limits["open_files"])
    _cap(resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb)
    _cap(resource.RLIMIT_CORE, 0)
    _cap(resource.RLIMIT_MSGQUEUE, 0)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _prctl(_PR_SET_DUMPABLE, 0)


def _limit_cpu(seconds: float) -> None:
    # Per candidate process: the runner lives across jobs and must not run out of CPU time.
    value = max(1, int(seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (value, value))


# -- plain-data encoding -------------------------------------------------------
# Exact types only: a subclass of int or list can override __eq__ and claim to
# equal anything, so it is refused here and never reaches the comparison.
def _encode(value, depth=0, budget=None, _type=type, _len=len, _repr=repr):
    if budget is None:
        budget = [ENCODE_ITEMS]
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"value has more than {ENCODE_ITEMS} elements")
    if depth > ENCODE_DEPTH:
        raise ValueError(f"value is nested deeper than {ENCODE_DEPTH}")
    kind = _type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value if -(2**53) < value < 2**53 else {"$int": str(value)}
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            return {"$float": _repr(value)}
        return value
    if kind is list:
        return [_encode(v, depth + 1, budget) for v in value]
    if kind is tuple:
        return {"$tuple": [_encode(v, depth + 1, budget) for v in value]}
    if kind is dict:
        return {"$dict": [[_encode(k, depth + 1, budget), _encode(v, depth + 1, budget)] for k, v in value.items()]}
    if kind is set or kind is frozenset:
        return {"$" + kind.__name__: [_encode(v, depth + 1, budget) for v in value]}
    if kind is bytes:
        return {"$bytes": value.hex()}
    if kind is complex:
        return {"$complex": [_encode(value.real, depth + 1, budget), _encode(value.imag, depth + 1, budget)]}
    held = _stdlib_container_data(value, kind)
    if held is None:
        raise TypeError(f"returned a {kind.__name__!s} object, which is not plain data")
    tag, data = held
    encoded = _encode(data, depth, budget)
    return encoded if tag is None else {tag: encoded}


# -- standard-library containers ---------------------------------------------------
# The standard library's dict and list subclasses, deques and named tuples hold
# plain data; Python compares them with plain data by that data (a Counter equals
# the dict it holds, a named tuple the tuple). They are encoded as that data, read
# from the builtin storage (dict.items, tuple.__iter__), so no method of the
# value runs and their __eq__ is never consulted. A deque keeps its own tag: it
# never equals a list in Python, and decoding it as a deque keeps that. Exact
# classes only: a subclass of Counter, or a named tuple class that defines its
# own comparison, is not standard-library data and stays refused.
_DICT_CONTAINERS = (collections.Counter, collections.defaultdict, collections.OrderedDict)
_WRAPPERS = (collections.UserDict, collections.UserList, collections.UserString)
_COMPARISON_METHODS = frozenset(("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__"))


def _is_named_tuple_class(kind):
    attributes = kind.__dict__
    return (
        kind.__bases__ == (tuple,)
        and type(attributes.get("_fields")) is tuple
        and not _COMPARISON_METHODS.intersection(attributes.keys())
    )


def _stdlib_container_data(value, kind):
    """``(tag, plain data)`` for a standard-library container, ``None`` for anything else."""
    # identity, not `in`: a metaclass can make a class compare equal to Counter
    if any(kind is known for known in _DICT_CONTAINERS):
        return None, dict(dict.items(value))
    if kind is collections.deque:
        return "$deque", list(collections.deque.__iter__(value))
    if any(kind is known for known in _WRAPPERS):
        return None, value.data  # encoded by the same rules, so only plain data passes
    if issubclass(kind, tuple) and _is_named_tuple_class(kind):
        return None, tuple(tuple.__iter__(value))
    return None


def _describe(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:
        text = type(exc).__name__
    return text[:300]


# -- the candidate process -------------------------------------------------------
def _read_job(fd: int) -> bytes:
    chunks = []
    size = 0
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        size += len(chunk)
        if size > JOB_LIMIT:
            raise ValueError("job too large")
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _child(job: dict, out: int) -> None:
    try:
        code = compile(job["code"], "<candidate>", "exec")
    except BaseException as exc:
        line = getattr(exc, "lineno", None)
        _frame(out, {"compile_error": _describe(exc) + (f" (line {line})" if line else "")})
        return
    ns: dict = {"__name__": "__candidate__", "__builtins__": __builtins__}
    try:
        exec(code, ns)
    except BaseException as exc:  # SystemExit included: exiting is not passing
        _frame(out, {"load_error": _describe(exc)})
        return
    mode = job["mode"]
    entry = job.get("entry_point")
    if job.get("setup"):
        # In the candidate's own module, as the reference harnesses run code, setup and tests as one program.
        try:
            exec(compile(job["setup"], "<setup>", "exec"), ns)
        except BaseException as exc:
            _frame(out, {"load_error": "test setup failed: " + _describe(exc)})
            return
    env = dict(ns)
    if entry:
        if entry not in ns:
            _frame(out, {"load_error": f"NameError: the code defines no {entry!r}"})
            return
        env["candidate"] = ns[entry]
    for index, item in enumerate(job["items"]):
        try:
            if mode == "calls":
                if "expr" in item:
                    result = eval(compile(item["expr"], f"<call {index}>", "eval"), env)
                else:
                    target = ns[item["fn"]] if item.get("fn") else env["candidate"]
                    result = target(*item.get("args", []), **item.get("kwargs", {}))
                frame = {"i": index, "value": _encode(result)}
            else:
                exec(compile(item["source"], f"<test {index}>", "exec"), env)
                frame = {"i": index, "passed": True}
        except BaseException as exc:
            frame = {"i": index, "error": _describe(exc)}
        try:
            encoded = json.dumps(frame, ensure_ascii=True, separators=(",", ":"))
        except BaseException as exc:
            encoded = json.dumps({"i": index, "error": "result not serialisable: " + _describe(exc)})
        _write_all(out, (encoded + "\n").encode())
    _frame(out, {"end": True})


def _candidate(op: str, fds: list[int], header: dict) -> None:
    """In a fresh fork of the zygote: become the sandbox user, take the limits, then run."""
    # Move the descriptors out of the way of 0-3 before arranging them.
    import fcntl

    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
    for fd in fds:
        os.close(fd)
    _drop_to(header.get("uid"))
    _confine(header["limits"])
    _limit_cpu(header["limits"]["cpu_s"])
    if op == "exec":
        for target, fd in enumerate(moved):  # stdin, stdout, stderr, program
            os.dup2(fd, target)
        os.closerange(4, 1 << 16)
        os.execv(sys.executable, [sys.executable, "-I", "-S", "/proc/self/fd/3"])
    job_fd, out = moved
    os.set_inheritable(out, False)
    data = _read_job(job_fd)  # a pre-forked process waits here, confined, until its job comes
    if data:
        _child(json.loads(data), out)


# -- the zygote ------------------------------------------------------------------
def _zygote(header: dict, sock: socket.socket) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # the host's job stream stays the runner's alone
    os.close(null)
    _prctl(_PR_SET_DUMPABLE, 0)
    try:
        if header.get("uid") is not None:
            _keep_only_setuid_caps()
        _install_seccomp()
    except Exception as exc:
        sock.send(b"fail " + _describe(exc).encode())
        return
    import fcntl  # noqa: F401  (what every candidate process needs, loaded once)

    _prctl(_PR_SET_DUMPABLE, 0)
    for name in PREWARM:
        try:
            __import__(name)
        except Exception:
            pass
    # The first compile of a process builds the compiler's AST types (a hundred classes,
    # milliseconds); do it once here, not in every candidate process. Then keep the
    # collector off these objects, so that no candidate process copies their pages.
    compile(_WARM_UP, "<warm-up>", "exec")
    json.loads(json.dumps({"warm": [1, 2.5, None, "up"]}))
    import gc

    gc.collect()
    gc.freeze()
    sock.send(b"ready")
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 64, 8)
        except OSError:
            return
        if not msg:
            return
        pid = os.fork()
        if pid == 0:
            try:
                sock.close()
                _candidate(msg.decode(), fds, header)
            finally:
                os._exit(0)  # lingering threads of the candidate must not keep it alive
        for fd in fds:
            os.close(fd)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        sock.send(b"exit %d" % status)


class Zygote:
    """The runner's handle on its zygote: spawn a candidate process, learn how it ended."""

    def __init__(self, header: dict, channel: int) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.fork()
        if self.pid == 0:
            try:
                self.sock.close()
                os.close(channel)
                _zygote(header, theirs)
            finally:
                os._exit(0)
        theirs.close()
        self.state = "starting"
        self.waiting: tuple[int, int] | None = None

    def _recv(self, timeout: float | None = None) -> str:
        if timeout is not None:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return ""
        try:
            data = self.sock.recv(256)
        except OSError:
            data = b""
        if not data:
            self.state = "dead"
        return data.decode()

    def ready(self) -> str | None:
        """``None`` when the zygote works, else why not."""
        if self.state == "starting":
            answer = self._recv()
            self.state = "ready" if answer == "ready" else "dead"
            if answer != "ready":
                return answer[5:] if answer.startswith("fail ") else "the zygote died while starting"
        return None if self.state == "ready" else "the zygote died"

    def spawn(self, op: str, fds: list[int]) -> bool:
        """Have the zygote fork a candidate process that gets ``fds``; ``False`` when the zygote is gone.

        No answer is awaited: the caller goes on (writing the job) while the zygote forks.
        """
        try:
            socket.send_fds(self.sock, [op.encode()], fds)
        except OSError:
            self.state = "dead"
            return False
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def prefork(self) -> None:
        """Start the next job's candidate process now, off the critical path: it confines itself
        and then waits for its job on a pipe (it has read nothing, so it holds nothing)."""
        if self.waiting is None and self.state != "dead":
            job_r, job_w = os.pipe()
            res_r, res_w = os.pipe()
            if self.spawn("calls", [job_r, res_w]):
                self.waiting = (job_w, res_r)
            else:
                os.close(job_w)
                os.close(res_r)

    def take(self) -> tuple[int, int] | None:
        """The job and result pipes of a waiting candidate process (forked now if none waits)."""
        self.prefork()
        taken, self.waiting = self.waiting, None
        return taken

    def discard(self) -> None:
        """End a waiting candidate process unused (its job pipe closes empty) and collect its status."""
        if self.waiting is not None:
            for fd in self.waiting:
                os.close(fd)
            self.waiting = None
            self.wait()

    def wait(self, timeout: float | None = None) -> int | None:
        """The wait status of the last candidate process; ``None`` when not yet (or the zygote died)."""
        answer = self._recv(timeout)
        return int(answer[5:]) if answer.startswith("exit ") else None


def _valid(frame: object, expected_index: int, mode: str) -> bool:
    if not isinstance(frame, dict):
        return False
    if "i" in frame:
        if type(frame["i"]) is not int or frame["i"] != expected_index or len(frame) != 2:
            return False
        if "error" in frame:
            return isinstance(frame["error"], str)
        return "value" in frame if mode == "calls" else frame.get("passed") is True
    if len(frame) != 1:
        return False
    if "compile_error" in frame:
        return expected_index == 0 and isinstance(frame["compile_error"], str)
    return ("load_error" in frame and isinstance(frame["load_error"], str)) or frame == {"end": True}


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}"


def _relay(read_end: int, channel: int, mode: str) -> bool:
    """Forward the candidate's well-formed frames in order; whether it reached its end frame."""
    expected = 0
    buffer = bytearray()
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            return False
        buffer += chunk
        start = 0
        while True:
            newline = buffer.find(b"\n", start)
            if newline < 0:
                break
            line = bytes(buffer[start:newline])
            start = newline + 1
            try:
                frame = json.loads(line)
            except Exception:  # RecursionError from deep nesting too
                frame = None
            if not _valid(frame, expected, mode):
                _frame(channel, {"violation": "malformed frame from the candidate process"})
                return True
            if "end" in frame:
                return True
            _write_all(channel, line + b"\n")
            if "load_error" in frame or "compile_error" in frame:
                return True
            expected += 1
        del buffer[:start]
        if len(buffer) > FRAME_LIMIT:
            _frame(channel, {"violation": f"frame longer than {FRAME_LIMIT} bytes"})
            return True


def _run_in_child(job: dict, channel: int, zygote: Zygote) -> str:
    pipes = zygote.take()
    if pipes is None:
        raise RuntimeError("the zygote died before the job started")
    job_w, res_r = pipes
    _frame(channel, {"started": True})
    payload = {k: job.get(k) for k in ("mode", "code", "items", "entry_point", "setup")}
    try:
        _write_all(job_w, json.dumps(payload).encode())
    except OSError:
        pass  # the candidate process died before reading its job; the status says how
    finally:
        os.close(job_w)
    finished = _relay(res_r, channel, job["mode"])
    os.close(res_r)
    if finished:
        _kill_others(zygote)
        zygote.wait()
        return "finished"
    # The channel closed early: either the process ended, or it closed the pipe and lives on.
    status = zygote.wait(0.2)
    _kill_others(zygote)
    if status is None:
        status = zygote.wait()
        return "closed its channel and was killed" if status is not None else "lost (the zygote died)"
    return _describe_status(status)


def _pids(zombies: bool = False) -> list[int]:
    """Processes of the sandbox's PID namespace: the live ones, or (``zombies``) every one that
    still has an entry in ``/proc``, dead but unreaped ones included."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    state = fh.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if zombies or state not in (b"Z", b"X"):
                pids.append(int(name))
    return pids


_SEPARATE_ZYGOTE_UID = False  # set when the zygote keeps uid 0: no signal from here can reach it


def _kill_others(zygote: Zygote | None, settle: bool = False) -> bool:
    """Kill every process of the sandbox but the runner, the zygote and the namespace's init.

    With ``settle``, return only when they are gone, reaped too (before the next job may
    start): ``False`` when that did not happen in time, and the sandbox must not serve again.
    A killed process turns into a zombie some time after the signal, possibly after the reap
    that was meant for it; its ``/proc`` entry (name, exit code, times) is readable by the
    next job until its reaper (the runner as the unshare backend's init, bubblewrap's init
    otherwise) collects it, so settling waits for that as well.
    """
    spare = {os.getpid(), 1} | ({zygote.pid} if zygote else set())
    for _ in range(2000):
        if _SEPARATE_ZYGOTE_UID:
            # One signal reaches every process of the sandbox uid, never the zygote (uid 0).
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            _reap()
            if not settle:
                return True  # a killed process runs no more code; the zygote reports the candidate's end
        else:
            # Same uid as the zygote: kill by name, again until nothing is left (a fork bomb forks back).
            for pid in _pids():
                if pid not in spare:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            _reap()
        if not [pid for pid in _pids(zombies=settle) if pid not in spare]:
            return True
        time.sleep(0.001)
    return False


def _reap() -> None:
    # When the runner is the namespace's init (unshare backend), orphans become
    # its children; reap them so not even a zombie survives into the next job.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if pid == 0:
            return


# -- stdin/stdout programs -------------------------------------------------------
def _memfd(name: str, data: bytes, seal: bool) -> int:
    import fcntl

    fd = os.memfd_create(name, os.MFD_ALLOW_SEALING if seal else 0)
    _write_all(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    if seal:
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd


def _run_program(job: dict, channel: int, zygote: Zygote) -> str:
    """Run the program once per stdin case, each in a fresh interpreter.

    The program and each case's input live in sealed in-memory files handed to
    the process as descriptors, never in the working directory: nothing the
    program does to its files can make the harness fail.
    """
    try:
        compile(job["code"], "<candidate>", "exec")
    except BaseException as exc:
        line = getattr(exc, "lineno", None)
        _frame(channel, {"compile_error": _describe(exc) + (f" (line {line})" if line else "")})
        return "not started"
    zygote.discard()  # a waiting calls process is no use here
    _frame(channel, {"started": True})
    limits = job["limits"]
    case_timeout = float(job.get("case_timeout_s") or limits["wall_s"])
    cap = int(limits["output_bytes"])
    program = _memfd("prog.py", job["code"].encode(), seal=True)
    try:
        for index, item in enumerate(job["items"]):
            frame = _run_case(index, item["stdin"].encode(), program, zygote, case_timeout, cap)
            if frame is None:
                if index == 0:
                    raise RuntimeError("the zygote died before the job started")
                return "lost (the zygote died)"
            _frame(channel, frame)
    finally:
        os.close(program)
    return "finished"


def _run_case(index: int, stdin: bytes, program: int, zygote: Zygote, timeout: float, cap: int) -> dict | None:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    feed = _memfd("stdin", stdin, seal=True)
    if not zygote.spawn("exec", [feed, out_w, err_w, os.dup(program)]):
        os.close(out_r)
        os.close(err_r)
        return None
    outs = {out_r: bytearray(), err_r: bytearray()}
    open_fds = set(outs)
    deadline = time.monotonic() + timeout
    timed_out = over = False
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select(list(open_fds), [], [], left)
        for fd in ready:
            data = os.read(fd, 65536)
            if not data:
                open_fds.discard(fd)
                continue
            outs[fd] += data
            if len(outs[fd]) > cap:
                over = True
        if over:
            break
    _kill_others(zygote)
    status = zygote.wait()
    os.close(out_r)
    os.close(err_r)
    if status is None:
        return None
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return {
        "i": index,
        "stdout": bytes(outs[out_r][:cap]).decode("utf-8", "replace"),
        "exit": code,
        "stderr": bytes(outs[err_r][-2000:]).decode("utf-8", "replace"),
        "timeout": timed_out,
        "output_limit": over,
    }


def _run_job(job: dict, channel: int, zygote: Zygote) -> bool:
    """Run one job and report it; whether the runner can take another."""
    broken = zygote.ready()
    if broken is not None:
        _frame(channel, {"runner_error": f"no candidate process could be started: {broken}"})
        return False
    try:
        if job["mode"] == "stdin":
            child = _run_program(job, channel, zygote)
        else:
            child = _run_in_child(job, channel, zygote)
    except Exception as exc:
        # The runner's own failure, reported on the channel no candidate can reach.
        _frame(channel, {"runner_error": _describe(exc)})
        return False
    _frame(channel, {"done": True, "child": child})
    return zygote.state == "ready"


def _wipe(directory: str) -> None:
    import shutil

    def retry(func, path, _exc):
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
            shutil.rmtree(path, ignore_errors=True)
        else:
            func(path)

    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            os.chmod(entry.path, 0o700)
            shutil.rmtree(entry.path, onerror=retry)
        else:
            os.unlink(entry.path)


def _remove_ipc() -> None:
    # System V objects outlive their creator; the next job must not find them.
    # (Candidates cannot create shared memory or message queues; semaphores they can.)
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for kind, remove in (("shm", libc.shmctl), ("msg", libc.msgctl), ("sem", libc.semctl)):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            ident = int(row.split()[1])
            if kind == "sem":
                remove(ident, 0, 0)
            else:
                remove(ident, 0, None)


def _reset(workdir: str, zygote: Zygote) -> bool:
    """Leave nothing of one job for the next: processes, files, IPC objects.

    ``False`` when some process of the last job could not be made to go: the worker retires.
    """
    if not _kill_others(zygote, settle=True):
        return False
    for directory in (workdir, "/tmp"):
        _wipe(directory)
    _remove_ipc()
    return True


def _read_header() -> bytes:
    # Byte by byte: a buffered read could take in the start of the first job,
    # which the zygote (forked next) would then hold in its memory.
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte:
            break
        line += byte
    return bytes(line)


def main() -> None:
    global _SEPARATE_ZYGOTE_UID
    header = json.loads(_read_header())
    channel = int(header["channel_fd"])
    os.set_inheritable(channel, False)
    workdir = header.get("workdir", "/sandbox")
    os.chdir(workdir)
    # The zygote is forked before any job is read: it holds no job's data, ever.
    zygote = Zygote(header, channel)
    zygote.prefork()
    _SEPARATE_ZYGOTE_UID = header.get("uid") is not None
    _drop_to(header.get("uid"))
    _confine(header["limits"])
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return
        if not _run_job({**header, **json.loads(line)}, channel, zygote):
            return
        if not header.get("serve"):
            return
        # Reused worker: everything the last job could have left behind is
        # removed before the next job is read; a sandbox that cannot be cleaned serves no
        # other job (it exits without its ready frame, and the host retires it).
        if not _reset(workdir, zygote):
            return
        zygote.prefork()
        _frame(channel, {"ready": True})


if __name__ == "__main__":
    main()
