"""Run untrusted Python in a separate, confined process tree.

A `Sandbox` runs one job (candidate code plus calls to make, tests to run or
stdin cases to feed) through a backend and returns what happened as plain data:
the values the calls returned, the program's stdout, how the process tree ended.
It never receives expected outputs, so nothing inside the sandbox can read them;
verdicts are computed by the caller.

Backends (one interface, `SandboxBackend`):

- ``bwrap`` (bubblewrap): a minimal root made of read-only binds of ``/usr`` and
  the interpreter's prefix (site-packages hidden), fresh ``/proc``, private
  ``/dev``, size-capped tmpfs for the working directory and ``/tmp``; new user,
  mount, PID, network, IPC, UTS and cgroup namespaces; the sandbox dies with
  its parent. The default when ``bwrap`` works on the machine.
- ``unshare`` (fallback, weaker): the same namespaces made with util-linux
  ``unshare`` and the same minimal root assembled by a shell prologue with
  ``mount`` and ``chroot``. Weaker because the set-up runs as a shell script
  inside the new namespaces instead of a purpose-built setuid-free tool, the
  whole tree is not tied to the parent's death (only ``--kill-child`` on the
  first process, plus the parent's process-group kill), and ``/dev`` holds
  only ``null``, ``zero`` and ``urandom`` bound from the host.

Both backends apply the same limits from inside, before any candidate byte
runs: when the parent is root the runner switches to an unprivileged uid of its
own (so ``RLIMIT_NPROC`` binds; it is not enforced for root), then sets
``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_NPROC``, ``RLIMIT_NOFILE``,
``RLIMIT_FSIZE``, ``no_new_privs`` and marks itself non-dumpable. The wall
clock and the captured output are limited from outside: at the deadline, or
when output passes its cap, the parent kills the whole process group and the
PID namespace goes with it.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import queue
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

SANDBOX_UID_BASE = 200_000
"""First uid used for sandboxes when the parent runs as root: far above the
uids a distribution hands out, so no real user's files or processes share it."""

SANDBOX_UID_SPAN = 100_000
"""Number of distinct sandbox uids. Each run picks its own, so a fork bomb in
one sandbox cannot use up the process budget (``RLIMIT_NPROC`` counts per uid)
of another running at the same time."""

RESULT_BYTES_LIMIT = 32_000_000
"""Most bytes read from the result channel of one run; more is a violation."""

MAX_JOBS_PER_WORKER = 500
"""Jobs a reused worker runs before it is replaced: a bound on anything a job
could leave behind that the between-job reset does not know about."""

MEMORY_HEADROOM_MB = 64
"""Memory the sandbox's own processes (bubblewrap, runner, zygote) may use on top of
``SandboxLimits.memory_mb`` inside the sandbox's memory cgroup."""

_WORKDIR = "/sandbox"
_RUNNER_SOURCE = (Path(__file__).with_name("_sandbox_runner.py")).read_text(encoding="utf-8")
_uid_counter = itertools.count()
_CGROUPS: dict[int, str | None] = {}
"""The memory cgroup of each running sandbox, by the pid of its first process."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource limits of one sandbox run.

    Attributes:
        wall_s: Wall-clock deadline of the whole run, enforced from outside.
        cpu_s: CPU seconds per process (``RLIMIT_CPU``).
        memory_mb: Address space per process in MiB (``RLIMIT_AS``) and, where a
            memory cgroup can be made (see `memory_cgroup_support`), the memory of
            the whole sandbox: every process, its tmpfs files and kernel-held
            buffers, plus `MEMORY_HEADROOM_MB` for the harness's own processes.
        processes: Processes and threads of the sandbox uid (``RLIMIT_NPROC``).
        open_files: Open descriptors per process (``RLIMIT_NOFILE``).
        file_size_mb: Largest file a process may write (``RLIMIT_FSIZE``).
        tmpfs_mb: Size of the writable working directory and of ``/tmp``.
        output_bytes: Captured stdout (and, separately, stderr) per run; more
            kills the run with ``output_limit`` set. In stdin mode the cap
            applies to each case's stdout.
    """

    wall_s: float = 10.0
    cpu_s: float = 10.0
    memory_mb: int = 1024
    processes: int = 32
    open_files: int = 64
    file_size_mb: int = 16
    tmpfs_mb: int = 64
    output_bytes: int = 1_000_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive, got {value!r}")


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """What came back from one sandbox run; plain data, no verdicts.

    Attributes:
        backend: Name of the backend that ran it (``bwrap``, ``unshare``, ...).
        frames: Result-channel frames in order (see `_sandbox_runner` for the protocol).
        stdout: Captured standard output of the runner's tree (truncated at the cap).
        stderr: Captured standard error (truncated at the cap).
        exit_code: Exit code of the sandbox's first process (negative: killed by that signal).
        timed_out: The wall-clock deadline passed and the tree was killed.
        output_limit: Output passed its cap and the tree was killed.
        elapsed_s: Wall time of the run.
    """

    backend: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    timed_out: bool = False
    output_limit: bool = False
    elapsed_s: float = 0.0

    @property
    def finished(self) -> bool:
        """The runner reported the end of the job (a ``done`` frame)."""
        return any(f.get("done") for f in self.frames)

    @property
    def child_status(self) -> str:
        for frame in self.frames:
            if frame.get("done"):
                return str(frame.get("child", ""))
        return ""


class SandboxUnavailable(RuntimeError):
    """No sandbox backend can run on this machine (or the one asked for cannot)."""


class SandboxError(RuntimeError):
    """The sandbox machinery itself failed (not the candidate code)."""


@dataclass(frozen=True, slots=True)
class SandboxJob:
    """One unit of work for a sandbox: the runner's job, minus the host-side details.

    Attributes:
        mode: ``calls`` (evaluate calls, return values), ``tests`` (run test
            code inside, trusted-test mode) or ``stdin`` (run the program on inputs).
        code: The candidate program.
        items: Calls (``{"expr": src}`` or ``{"args": [...], "kwargs": {...}, "fn": name}``),
            tests (``{"source": src}``) or stdin cases (``{"stdin": text}``).
        entry_point: Name of the candidate function bound to ``candidate``.
        setup: Import statements run before the calls (never expected values).
        case_timeout_s: Per-case deadline in stdin mode.
    """

    mode: Literal["calls", "tests", "stdin"]
    code: str
    items: Sequence[Mapping[str, Any]]
    entry_point: str | None = None
    setup: str = ""
    case_timeout_s: float | None = None


class SandboxBackend(ABC):
    """How a job reaches a confined interpreter. Add a container or remote backend by subclassing.

    A backend gets the runner's source and job, runs ``python -I -S -c
    <runner>`` confined, feeds the job on stdin, and hands back the result
    channel's bytes and the captured output. It owns the wall-clock deadline
    and must leave no process of the run alive when it returns.
    """

    name: ClassVar[str]
    weaker: ClassVar[bool] = False
    """True for fallbacks whose isolation is documented as weaker."""

    fallback_reason: str | None = None
    """Set when ``backend="auto"`` chose this backend because a stronger one cannot run here (why not)."""

    @classmethod
    @abstractmethod
    def unavailable_reason(cls) -> str | None:
        """Why the backend cannot run here, or ``None`` when it can."""

    @abstractmethod
    def run(self, job: SandboxJob, limits: SandboxLimits) -> SandboxResult:
        """Run one job to the end or to its deadline."""


def _python() -> str:
    return os.path.realpath(sys.executable)


def _hidden_paths() -> list[str]:
    """Directories of installed packages: hidden so candidates cannot read datasets shipped there.

    Those of this environment and of the base interpreter (a virtual environment
    may see both), every ``site-packages``/``dist-packages`` entry of ``sys.path``,
    and the distribution's own (``/usr/lib/python3/dist-packages``), which the
    read-only ``/usr`` would otherwise show.
    """
    paths: set[str] = set()
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        found = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})
        paths.update(found[key] for key in ("purelib", "platlib"))
    paths.update(p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages"))
    paths.update(str(p) for p in Path("/usr/lib").glob("python3*/dist-packages"))
    paths.update(str(p) for p in Path("/usr/local/lib").glob("python3*/dist-packages"))
    paths.update(str(p) for p in Path("/usr/lib").glob("python3*/site-packages"))
    return sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})


def _prefixes() -> list[str]:
    """Host directories the interpreter needs besides ``/usr``."""
    python = _python()
    prefix = os.path.realpath(sys.base_prefix)
    needed = [] if prefix.startswith("/usr/") or prefix == "/usr" else [prefix]
    if not any(python.startswith(p + "/") for p in ["/usr", *needed]):
        needed.append(os.path.dirname(python))
    return needed


_issued_uids: set[int] = set()
"""Sandbox uids this process handed out (tests look for processes left behind by them)."""


def _sandbox_uid() -> int | None:
    if os.geteuid() != 0:
        return None
    uid = SANDBOX_UID_BASE + (os.getpid() * 7919 + next(_uid_counter)) % SANDBOX_UID_SPAN
    _issued_uids.add(uid)
    return uid


class _Spawner:
    """One long-lived thread that starts reused workers (see `_LocalBackend._start`)."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[Future[subprocess.Popen[bytes]], list[str], dict[str, Any]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, argv: list[str], options: dict[str, Any]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="rewardlab-sandbox-spawner", daemon=True)
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((done, argv, options))
        return done.result()

    def _serve(self) -> None:
        while True:
            done, argv, options = self._requests.get()
            try:
                done.set_result(subprocess.Popen(argv, **options))
            except BaseException as exc:
                done.set_exception(exc)


_SPAWNER = _Spawner()


# -- memory cgroups -----------------------------------------------------------------
_cgroup_counter = itertools.count()
_stale_cgroups: list[str] = []
_cgroup_lock = threading.Lock()


def _own_cgroup_dirs() -> list[tuple[str, str]]:
    """(version, directory) of this process's memory cgroup, v2 first."""
    try:
        membership = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in membership:
        hierarchy, controllers, path = line.split(":", 2)
        for mount in mounts:
            fields = mount.split()
            dash = fields.index("-")
            fstype, options = fields[dash + 1], fields[dash + 3].split(",")
            root, point = fields[3], fields[4]
            relative = path[len(root) :] if root != "/" and path.startswith(root) else path
            if hierarchy == "0" and controllers == "" and fstype == "cgroup2":
                found.append(("v2", point + relative.rstrip("/")))
            elif "memory" in controllers.split(",") and fstype == "cgroup" and "memory" in options:
                found.append(("v1", point + relative.rstrip("/")))
    return sorted(found)[::-1]  # v2 before v1


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _make_cgroup(version: str, parent: str, limit: int) -> str:
    path = f"{parent}/rewardlab-{os.getpid()}-{next(_cgroup_counter)}"
    os.mkdir(path)
    try:
        if version == "v2":
            _write(f"{path}/memory.max", str(limit))
            if os.path.exists(f"{path}/memory.swap.max"):
                _write(f"{path}/memory.swap.max", "0")
        else:
            _write(f"{path}/memory.limit_in_bytes", str(limit))
            if os.path.exists(f"{path}/memory.memsw.limit_in_bytes"):
                _write(f"{path}/memory.memsw.limit_in_bytes", str(limit))
    except OSError:
        os.rmdir(path)
        raise
    return path


@cache
def _cgroup_parent() -> tuple[str, str] | None:
    for version, parent in _own_cgroup_dirs():
        if version == "v2":
            try:
                enabled = Path(f"{parent}/cgroup.subtree_control").read_text().split()
                if "memory" not in enabled:
                    _write(f"{parent}/cgroup.subtree_control", "+memory")
            except OSError:
                continue
        try:
            os.rmdir(_make_cgroup(version, parent, 64 * 1024 * 1024))
        except OSError:
            continue
        return version, parent
    return None


def memory_cgroup_support() -> str | None:
    """``"v1"`` or ``"v2"`` when sandboxes get a memory cgroup of their own here, else ``None``.

    A cgroup bounds everything a sandbox can pin in host memory (all its
    processes, tmpfs files, kernel buffers) to ``memory_mb`` plus
    `MEMORY_HEADROOM_MB`. It needs a writable cgroup hierarchy (root, or a
    delegated cgroup v2 subtree). Without one, memory is bounded per process
    (``RLIMIT_AS``), by the tmpfs sizes and by the seccomp filter that refuses
    System V shared memory, message queues and memfds.
    """
    found = _cgroup_parent()
    return found[0] if found else None


def _new_cgroup(limits: SandboxLimits) -> str | None:
    found = _cgroup_parent()
    if found is None:
        return None
    _remove_stale_cgroups()
    try:
        return _make_cgroup(found[0], found[1], (limits.memory_mb + MEMORY_HEADROOM_MB) * 1024 * 1024)
    except OSError as exc:
        raise SandboxError(f"could not create the sandbox's memory cgroup: {exc}") from exc


def _remove_cgroup(path: str | None) -> None:
    if path is None:
        return
    # The namespace's last processes die asynchronously after SIGKILL; wait for them briefly,
    # then leave the rest to a background thread.
    for _ in range(20):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
    with _cgroup_lock:
        _stale_cgroups.append(path)
        if len(_stale_cgroups) == 1:
            threading.Thread(target=_reap_cgroups, name="rewardlab-cgroup-reaper", daemon=True).start()


def _reap_cgroups() -> None:
    for _ in range(600):
        time.sleep(0.1)
        _remove_stale_cgroups()
        with _cgroup_lock:
            if not _stale_cgroups:
                return


def _remove_stale_cgroups() -> None:
    with _cgroup_lock:
        stale, _stale_cgroups[:] = list(_stale_cgroups), []
    for path in stale:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError:
            with _cgroup_lock:
                _stale_cgroups.append(path)


atexit.register(_remove_stale_cgroups)


class _LocalBackend(SandboxBackend):
    """Shared plumbing of backends that start a local process tree."""

    @abstractmethod
    def _argv(self, limits: SandboxLimits) -> list[str]: ...

    def _start(
        self, limits: SandboxLimits, header: dict[str, Any]
    ) -> tuple[subprocess.Popen[bytes], int, dict[str, Any]]:
        read_chan, write_chan = os.pipe()
        header = {
            **header,
            "limits": asdict(limits),
            "channel_fd": write_chan,
            "uid": _sandbox_uid(),
            "workdir": _WORKDIR,
        }
        cgroup = _new_cgroup(limits)
        argv = self._argv(limits)
        if cgroup is not None:
            # The shell joins the cgroup before it becomes bubblewrap: every process of the
            # sandbox starts inside it.
            argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', f"{cgroup}/cgroup.procs", *argv]
        options: dict[str, Any] = {
            "stdin": subprocess.PIPE,
            "stdout": subprocess.PIPE,
            "stderr": subprocess.PIPE,
            "pass_fds": (write_chan,),
            "start_new_session": True,
            "env": {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            "cwd": "/",
        }
        try:
            # bubblewrap dies with the *thread* that started it: a reused worker must be
            # started by a thread that lives as long as the process, not by a batch's pool.
            proc = _SPAWNER.popen(argv, options) if header.get("serve") else subprocess.Popen(argv, **options)
        except OSError as exc:
            os.close(read_chan)
            _remove_cgroup(cgroup)
            raise SandboxError(f"{self.name}: could not start: {exc}") from exc
        finally:
            os.close(write_chan)
        _CGROUPS[proc.pid] = cgroup
        return proc, read_chan, header

    def run(self, job: SandboxJob, limits: SandboxLimits) -> SandboxResult:
        start = time.monotonic()
        proc, read_chan, header = self._start(limits, {})
        data = (json.dumps(header) + "\n" + json.dumps(_job_payload(job)) + "\n").encode()
        writer = threading.Thread(target=_feed, args=(proc, data), daemon=True)
        writer.start()
        try:
            result = _collect(proc, read_chan, limits, start, self.name)
        finally:
            os.close(read_chan)
            writer.join(1.0)
        return result

    def worker(self, limits: SandboxLimits) -> SandboxWorker:
        """A long-lived sandbox that runs jobs one after another (see `SandboxWorker`)."""
        return _ReusedWorker(self, limits)


def _job_payload(job: SandboxJob) -> dict[str, Any]:
    return {
        "mode": job.mode,
        "code": job.code,
        "items": [dict(i) for i in job.items],
        "entry_point": job.entry_point,
        "setup": job.setup,
        "case_timeout_s": job.case_timeout_s,
    }


class SandboxWorker(ABC):
    """A sandbox kept alive between jobs, for throughput.

    Each job runs in a fresh fork of a runner that never runs candidate code
    itself; between jobs the runner kills every other process of the sandbox,
    empties the working directory and ``/tmp`` and removes System V IPC
    objects, and only then reads the next job. A job that times out, floods
    output or kills the runner retires the whole worker.
    """

    jobs_done: int = 0

    @abstractmethod
    def run(self, job: SandboxJob) -> SandboxResult | None:
        """Run one job; ``None`` when the worker died before the job started (retry on a new one)."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def alive(self) -> bool: ...


class _ReusedWorker(SandboxWorker):
    def __init__(self, backend: _LocalBackend, limits: SandboxLimits) -> None:
        self.backend, self.limits = backend, limits
        self.proc, self.chan, header = backend._start(limits, {"serve": True})
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(header) + "\n").encode())
        self.proc.stdin.flush()
        self._alive = True
        self.jobs_done = 0

    @property
    def alive(self) -> bool:
        return self._alive and self.proc.poll() is None

    def run(self, job: SandboxJob) -> SandboxResult | None:
        assert self.proc.stdin is not None
        start = time.monotonic()
        try:
            self.proc.stdin.write((json.dumps(_job_payload(job)) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            self.close()
            return None
        result, clean = _collect_job(self.proc, self.chan, self.limits, start, self.backend.name)
        self.jobs_done += 1
        if not clean:
            self.close()
        return result

    def close(self) -> None:
        if not self._alive:
            return
        self._alive = False
        _kill_tree(self.proc)
        try:
            self.proc.wait(timeout=10)
        finally:
            _remove_cgroup(_CGROUPS.pop(self.proc.pid, None))
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
            os.close(self.chan)


def _collect_job(
    proc: subprocess.Popen[bytes], chan: int, limits: SandboxLimits, start: float, backend: str
) -> tuple[SandboxResult, bool]:
    """Read one job's frames from a reused worker, up to its ``ready`` frame.

    Returns the result and whether the worker is fit for another job.
    """
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    buffers: dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray(), chan: bytearray()}
    caps = {out_fd: limits.output_bytes, err_fd: limits.output_bytes, chan: RESULT_BYTES_LIMIT}
    deadline = start + limits.wall_s
    timed_out = over = ended = ready = False
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        while not ready and not ended:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                fd = int(key.fd)
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    ended = True
                    continue
                buffers[fd] += chunk
                if len(buffers[fd]) > caps[fd]:
                    over = True
                if fd == chan and buffers[chan].endswith(b"\n") and b'{"ready":true}\n' in buffers[chan]:
                    ready = True
            if over:
                break
        # Output written before the job ended is already in the pipes: take it now,
        # so none of it is attributed to the next job.
        for fd in (out_fd, err_fd):
            while not over:
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                buffers[fd] += chunk
                over = len(buffers[fd]) > caps[fd]
    frames = [f for f in _parse_frames(bytes(buffers[chan])) if not f.get("ready")]
    clean = ready and not (timed_out or over or ended)
    result = SandboxResult(
        backend=backend,
        frames=frames,
        stdout=bytes(buffers[out_fd][: limits.output_bytes]).decode("utf-8", "replace"),
        stderr=bytes(buffers[err_fd][: limits.output_bytes]).decode("utf-8", "replace"),
        exit_code=None if clean else proc.poll(),
        timed_out=timed_out,
        output_limit=over,
        elapsed_s=time.monotonic() - start,
    )
    return result, clean


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
    except OSError:
        pass  # the sandbox died before reading its job; the collector reports it
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    # The leader is not reaped yet, so its process group id cannot have been reused.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _collect(
    proc: subprocess.Popen[bytes], chan: int, limits: SandboxLimits, start: float, backend: str
) -> SandboxResult:
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    buffers: dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray(), chan: bytearray()}
    caps = {out_fd: limits.output_bytes, err_fd: limits.output_bytes, chan: RESULT_BYTES_LIMIT}
    deadline = start + limits.wall_s
    timed_out = over = False
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                fd = int(key.fd)
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    continue
                buffers[fd] += chunk
                if len(buffers[fd]) > caps[fd]:
                    over = True
            if over:
                break
    _kill_tree(proc)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{backend}: sandbox process {proc.pid} survived SIGKILL") from exc
    finally:
        proc.stdout.close()
        proc.stderr.close()
        _remove_cgroup(_CGROUPS.pop(proc.pid, None))
    frames = _parse_frames(bytes(buffers[chan][:RESULT_BYTES_LIMIT]))
    return SandboxResult(
        backend=backend,
        frames=frames,
        stdout=bytes(buffers[out_fd][: limits.output_bytes]).decode("utf-8", "replace"),
        stderr=bytes(buffers[err_fd][: limits.output_bytes]).decode("utf-8", "replace"),
        exit_code=code,
        timed_out=timed_out,
        output_limit=over,
        elapsed_s=time.monotonic() - start,
    )


def _parse_frames(data: bytes) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            frame = json.loads(line)
        except (ValueError, RecursionError, MemoryError):
            frames.append({"violation": "unparsable frame on the result channel"})
            break
        if not isinstance(frame, dict):
            frames.append({"violation": "non-object frame on the result channel"})
            break
        frames.append(frame)
    return frames


class BubblewrapBackend(_LocalBackend):
    """The default backend: bubblewrap namespaces around a minimal read-only root."""

    name = "bwrap"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _probe(cls)

    def _argv(self, limits: SandboxLimits) -> list[str]:
        tmpfs = str(limits.tmpfs_mb * 1024 * 1024)
        argv = [
            shutil.which("bwrap") or "bwrap",
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--ro-bind", "/usr", "/usr",
        ]  # fmt: skip
        for top in ("/bin", "/lib", "/lib32", "/lib64", "/sbin"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        for prefix in _prefixes():
            # Parents bubblewrap creates are private to root; the runner reads
            # the standard library after it has left root.
            for parent in reversed(Path(prefix).parents[:-1]):
                argv += ["--perms", "0755", "--dir", str(parent)]
            argv += ["--ro-bind", prefix, prefix]
        for hidden in _hidden_paths():
            argv += ["--tmpfs", hidden, "--remount-ro", hidden]
        argv += [
            "--proc", "/proc",
            "--dev", "/dev",
            "--perms", "1777", "--size", tmpfs, "--tmpfs", _WORKDIR,
            "--perms", "1777", "--size", tmpfs, "--tmpfs", "/tmp",
            "--chdir", "/",
            "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "LANG", "C.UTF-8",
            "--setenv", "HOME", _WORKDIR,
        ]  # fmt: skip
        if os.geteuid() == 0:
            # Privileged bubblewrap keeps every capability; keep only what the
            # runner needs to switch to its own uid (which then drops them all).
            argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            argv += ["--unshare-user", "--disable-userns"]
        return [*argv, _python(), "-I", "-S", "-c", _RUNNER_SOURCE]


_UNSHARE_PROLOGUE = r"""
set -eu
new=/tmp
mount -t tmpfs -o size=$1,mode=755 rewardlab "$new"
cd "$new"
mkdir -p usr proc dev sandbox tmp
mount --bind /usr usr && mount -o remount,bind,ro usr
for top in bin lib lib32 lib64 sbin; do
  if [ -L "/$top" ]; then ln -s "$(readlink "/$top")" "$top"
  elif [ -d "/$top" ]; then mkdir "$top"; mount --bind "/$top" "$top"; mount -o remount,bind,ro "$top"; fi
done
for p in $2; do mkdir -p ".$p"; mount --bind "$p" ".$p"; mount -o remount,bind,ro ".$p"; done
for p in $3; do if [ -d ".$p" ]; then mount -t tmpfs -o size=4k,ro hidden ".$p"; fi; done
for d in null zero urandom; do touch "dev/$d"; mount --bind "/dev/$d" "dev/$d"; done
mount -t proc proc proc
mount -t tmpfs -o size=$1,mode=1777 work sandbox
mount -t tmpfs -o size=$1,mode=1777 tmp tmp
chroot=$4
shift 4
exec "$chroot" "$new" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME=/sandbox "$@"
"""


class UnshareBackend(_LocalBackend):
    """Fallback backend (weaker, see the module docs): util-linux ``unshare``, ``mount`` and ``chroot``."""

    name = "unshare"
    weaker = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _probe(cls)

    def _argv(self, limits: SandboxLimits) -> list[str]:
        argv = [
            shutil.which("unshare") or "unshare",
            "--mount", "--net", "--pid", "--ipc", "--uts", "--cgroup",
            "--fork", "--kill-child", "--propagation", "private",
        ]  # fmt: skip
        if os.geteuid() != 0:
            argv += ["--user", "--map-root-user"]
        tmpfs = str(limits.tmpfs_mb * 1024 * 1024)
        return [
            *argv,
            "/bin/sh", "-c", _UNSHARE_PROLOGUE, "rewardlab-sandbox",
            tmpfs, " ".join(_prefixes()), " ".join(_hidden_paths()), shutil.which("chroot") or "chroot",
            _python(), "-I", "-S", "-c", _RUNNER_SOURCE,
        ]  # fmt: skip


BACKENDS: dict[str, type[SandboxBackend]] = {"bwrap": BubblewrapBackend, "unshare": UnshareBackend}
"""Known backends by name, in order of preference for ``backend="auto"``."""


_PROBE_TOOLS = {"bwrap": ("bwrap",), "unshare": ("unshare", "mount", "chroot")}


@cache
def _probe(cls: type[_LocalBackend]) -> str | None:
    missing = [tool for tool in _PROBE_TOOLS.get(cls.name, ()) if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found on PATH"
    try:
        result = cls().run(SandboxJob("calls", "x = 41", [{"expr": "x + 1"}]), SandboxLimits(wall_s=30.0))
    except SandboxError as exc:
        return str(exc)
    if {"i": 0, "value": 42} not in result.frames:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
        return f"{cls.name} does not work here: {tail[0][:200]}"
    return None


_fallback_warned: set[str] = set()
_fallback_lock = threading.Lock()
_logger = logging.getLogger("rewardlab.sandbox")


def _warn_fallback(backend: SandboxBackend) -> None:
    """Log, once per process, that ``auto`` fell back to a weaker backend."""
    with _fallback_lock:
        if backend.name in _fallback_warned:
            return
        _fallback_warned.add(backend.name)
    _logger.warning(
        "sandbox backend 'auto' fell back to %r, which isolates less (see docs/code.md), because %s",
        backend.name,
        backend.fallback_reason,
    )


def available_backends() -> list[str]:
    """Names of the backends that work on this machine, best first."""
    return [name for name, cls in BACKENDS.items() if cls.unavailable_reason() is None]


def get_backend(name: str = "auto") -> SandboxBackend:
    """A working backend by name; ``"auto"`` picks the strongest that runs here.

    Raises:
        SandboxUnavailable: the named backend (or, for ``auto``, every backend) cannot run.
    """
    if name == "auto":
        reasons: list[str] = []
        for cls in BACKENDS.values():
            reason = cls.unavailable_reason()
            if reason is None:
                backend = cls()
                if reasons:
                    backend.fallback_reason = "; ".join(reasons)
                    _warn_fallback(backend)
                return backend
            reasons.append(f"{cls.name}: {reason}")
        raise SandboxUnavailable("no sandbox backend works here (" + "; ".join(reasons) + ")")
    if name not in BACKENDS:
        raise SandboxUnavailable(f"unknown sandbox backend {name!r} (known: {', '.join(BACKENDS)})")
    reason = BACKENDS[name].unavailable_reason()
    if reason is not None:
        raise SandboxUnavailable(f"sandbox backend {name!r} cannot run here: {reason}")
    return BACKENDS[name]()


class Sandbox:
    """Runs jobs of untrusted Python under one backend and one set of limits.

    Args:
        backend: ``"auto"`` (bubblewrap, else the weaker ``unshare`` fallback),
            a backend name, or a `SandboxBackend` instance.
        limits: Resource limits of each run.
        reuse: Keep sandboxes alive between jobs (`SandboxWorker`): several
            times faster, with a fresh fork and a full reset per job.
        max_jobs_per_worker: Replace a reused sandbox after this many jobs.

    Example:
        >>> job = SandboxJob("calls", "def f(x): return x * 2", [{"args": [21]}], entry_point="f")
        >>> with Sandbox() as box:
        ...     [frame for frame in box.run(job).frames if "value" in frame]
        [{'i': 0, 'value': 42}]
    """

    def __init__(
        self,
        backend: str | SandboxBackend = "auto",
        limits: SandboxLimits | None = None,
        *,
        reuse: bool = False,
        max_jobs_per_worker: int = MAX_JOBS_PER_WORKER,
    ) -> None:
        self.backend = backend if isinstance(backend, SandboxBackend) else get_backend(backend)
        self.limits = limits or SandboxLimits()
        self.reuse = reuse and hasattr(self.backend, "worker")
        self.max_jobs_per_worker = max_jobs_per_worker
        self._idle: list[SandboxWorker] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def run(self, job: SandboxJob) -> SandboxResult:
        """Run one job; see `SandboxResult`. Raises `SandboxError` only when the machinery fails."""
        if not self.reuse:
            return self.backend.run(job, self.limits)
        for _ in range(2):
            worker = self._take()
            result = worker.run(job)
            if worker.alive and worker.jobs_done < self.max_jobs_per_worker and not self._closed:
                with self._lock:
                    self._idle.append(worker)
            else:
                worker.close()
            if result is not None:
                return result
        raise SandboxError(f"{self.backend_name}: reused worker died twice before taking a job")

    def _take(self) -> SandboxWorker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                worker.close()
        return self.backend.worker(self.limits)  # type: ignore[attr-defined]

    def close(self) -> None:
        """Stop the reused workers (a no-op without ``reuse``)."""
        self._closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
