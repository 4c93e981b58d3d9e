"""The trusted program that runs *inside* the sandbox (stdlib only, no rewardlab import).

Its source is passed to ``python -I -S -c``; it reads one job (JSON) from stdin
and writes its findings as JSON lines to the result channel, a pipe whose
descriptor number the job names. Protocol, one frame per line:

- ``{"compile_error": "..."}``: the candidate code does not compile; nothing ran.
- ``{"started": true}``: the runner is about to run candidate code; anything that
  goes wrong after this frame may be the candidate's doing.
- ``{"load_error": "..."}``: running the candidate module raised.
- ``{"i": k, "value": <encoded>}``: call ``k`` returned this plain-data value.
- ``{"i": k, "error": "..."}``: call ``k`` raised, or returned something that is not plain data
  (standard-library containers count as the plain data they hold; see `_stdlib_container_data`).
- ``{"i": k, "passed": true}``: trusted-test ``k`` ran to the end (``"error"`` when it did not).
- ``{"i": k, "stdout": "...", "exit": n, "stderr": "...", "timeout": bool, "output_limit": bool}``:
  the program's run on stdin case ``k``.
- ``{"done": true, "child": "..."}``: the runner finished; ``child`` says how the candidate process ended.
- ``{"runner_error": "..."}``: the runner itself failed (a harness error, not the candidate's doing).
- ``{"ready": true}``: (reused workers) the reset after a job is complete.

Candidate code never runs in this process. It runs in a forked child that holds
only a private pipe back to this runner (the result channel is closed in the
child before any candidate byte runs, and this process is made non-dumpable so
the child cannot reopen it through ``/proc``). The runner checks every line the
child sends and forwards only well-formed frames, in order. Whatever the child
writes, it can at most claim a value for a call, which it could equally have
returned: expected outputs are never sent into the sandbox.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import select
import signal
import sys
import time

FRAME_LIMIT = 4_000_000
"""Largest single frame a child may send (bytes); a longer line is a protocol violation."""

ENCODE_DEPTH = 100
"""Deepest nesting of a returned value; deeper structures are rejected, not truncated."""

ENCODE_ITEMS = 1_000_000
"""Most elements a returned value may hold in total."""

_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _frame(fd: int, frame: dict) -> None:
    _write_all(fd, (json.dumps(frame, ensure_ascii=True, separators=(",", ":")) + "\n").encode())


def _prctl(option: int, value: int) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except Exception:
        return False


def _limit_cpu(seconds: float) -> None:
    # Per candidate process, set after the fork: the runner itself lives across
    # jobs in a reused worker and must not run out of CPU time.
    value = max(1, int(seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (value, value))


def _confine(job: dict) -> None:
    limits = job["limits"]
    mb = 1024 * 1024

    def cap(kind: int, value: int) -> None:
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value))

    uid = job.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # clears every capability: the runner was root only to get here
    cap(resource.RLIMIT_AS, limits["memory_mb"] * mb)
    cap(resource.RLIMIT_NPROC, limits["processes"])
    cap(resource.RLIMIT_NOFILE, limits["open_files"])
    cap(resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb)
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_MSGQUEUE, 0)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _prctl(_PR_SET_DUMPABLE, 0)


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
def _child(job: dict, code, out: int) -> None:
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


def _valid(frame: object, expected_index: int, mode: str) -> bool:
    if not isinstance(frame, dict):
        return False
    if "i" in frame:
        if frame["i"] != expected_index or len(frame) != 2:
            return False
        if "error" in frame:
            return isinstance(frame["error"], str)
        return "value" in frame if mode == "calls" else frame.get("passed") is True
    return (set(frame) == {"load_error"} and isinstance(frame["load_error"], str)) or frame == {"end": True}


def _run_in_child(job: dict, channel: int) -> str:
    try:
        code = compile(job["code"], "<candidate>", "exec")
    except BaseException as exc:
        line = getattr(exc, "lineno", None)
        _frame(channel, {"compile_error": _describe(exc) + (f" (line {line})" if line else "")})
        return "not started"
    _frame(channel, {"started": True})
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.close(channel)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            _limit_cpu(job["limits"]["cpu_s"])
            _child(job, code, write_end)
        finally:
            os._exit(0)  # lingering threads of the candidate must not keep it alive
    os.close(write_end)
    expected = 0
    buffer = b""
    finished = False
    while not finished:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                frame = json.loads(line)
            except ValueError:
                frame = None
            if not _valid(frame, expected, job["mode"]):
                _frame(channel, {"violation": "malformed frame from the candidate process"})
                finished = True
                break
            if "end" in frame:
                finished = True
                break
            _write_all(channel, line + b"\n")
            if "load_error" in frame:
                finished = True
                break
            expected += 1
        if len(buffer) > FRAME_LIMIT:
            _frame(channel, {"violation": f"frame longer than {FRAME_LIMIT} bytes"})
            break
    os.close(read_end)
    if finished:
        _kill_others()
        os.waitpid(pid, 0)
        return "finished"
    done, status = os.waitpid(pid, os.WNOHANG)
    _kill_others()
    if not done:
        _, status = os.waitpid(pid, 0)
        return "closed its channel and was killed"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}"


def _kill_others() -> None:
    # Every other process this user can signal in the sandbox's PID namespace:
    # grandchildren that outlived the candidate, background loops, fork bombs.
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass


def _reap() -> None:
    # When the runner is the namespace's init (unshare backend), orphans become
    # its children; reap them so not even a zombie survives into the next job.
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


# -- stdin/stdout programs -------------------------------------------------------
def _run_program(job: dict, channel: int) -> str:
    try:
        compile(job["code"], "<candidate>", "exec")
    except BaseException as exc:
        line = getattr(exc, "lineno", None)
        _frame(channel, {"compile_error": _describe(exc) + (f" (line {line})" if line else "")})
        return "not started"
    import subprocess

    _frame(channel, {"started": True})
    limits = job["limits"]
    case_timeout = float(job.get("case_timeout_s") or limits["wall_s"])
    cap = int(limits["output_bytes"])
    for index, item in enumerate(job["items"]):
        with open("prog.py", "w", encoding="utf-8") as fh:
            fh.write(job["code"])
        with open(".stdin", "wb") as fh:
            fh.write(item["stdin"].encode())
        with open(".stdin", "rb") as stdin:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "prog.py"],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
                preexec_fn=lambda: _limit_cpu(limits["cpu_s"]),
            )
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()  # type: ignore[union-attr]
        outs = {out_fd: bytearray(), err_fd: bytearray()}
        open_fds = set(outs)
        deadline = time.monotonic() + case_timeout
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
        _kill_others()
        code = proc.wait()
        stdout = bytes(outs[out_fd][:cap]).decode("utf-8", "replace")
        stderr = bytes(outs[err_fd][-2000:]).decode("utf-8", "replace")
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        _frame(
            channel,
            {"i": index, "stdout": stdout, "exit": code, "stderr": stderr, "timeout": timed_out, "output_limit": over},
        )
    return "finished"


def _run_job(job: dict, channel: int) -> bool:
    try:
        if job["mode"] == "stdin":
            child = _run_program(job, channel)
        else:
            child = _run_in_child(job, channel)
    except Exception as exc:
        # The runner's own failure, reported on the channel no candidate can reach.
        _frame(channel, {"runner_error": _describe(exc)})
        return False
    _frame(channel, {"done": True, "child": child})
    return True


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


def _reset(workdir: str) -> None:
    """Leave nothing of one job for the next: processes, files, IPC objects."""
    _kill_others()
    _reap()
    for directory in (workdir, "/tmp"):
        _wipe(directory)
    _remove_ipc()


def main() -> None:
    first = sys.stdin.buffer.readline()
    job = json.loads(first)
    channel = int(job["channel_fd"])
    os.set_inheritable(channel, False)
    workdir = job.get("workdir", "/sandbox")
    os.chdir(workdir)
    _confine(job)
    if not job.get("serve"):
        _run_job(job, channel)
        return
    # Reused worker: every job runs in a fresh fork of this process, which
    # itself never runs candidate code; between jobs everything the last one
    # could have left behind is removed before the next job is read.
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return
        if not _run_job({**job, **json.loads(line)}, channel):
            return
        _reset(workdir)
        _frame(channel, {"ready": True})


if __name__ == "__main__":
    main()
