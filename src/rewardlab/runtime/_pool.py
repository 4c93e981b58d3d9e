"""A process pool whose deadlines are enforced from outside the work.

Every call runs in a worker process. The calling thread waits on the worker's
pipe with a timeout; when the deadline passes it kills the worker's whole
process group with SIGKILL and starts a replacement. Nothing relies on
``signal.alarm``, so the behaviour is the same from the main thread, a worker
thread or an asyncio event loop (through ``acall``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import spawn as _spawn
from typing import Any

from rewardlab._executor import CallResult
from rewardlab._types import Status

DEFAULT_TIMEOUT_S = 10.0
"""Deadline of one call, in seconds, when none is given."""

DEFAULT_MEMORY_MB: int | None = 2048
"""Address-space cap of each worker (RLIMIT_AS), in MiB. Generous enough for
sympy and SQLite on long inputs, small enough that a memory bomb is stopped in
about a second, long before it can take the host."""

WARMUP_TIMEOUT_S = 120.0
"""Time allowed to a fresh worker to import the modules a call needs. Kept out
of the call's own deadline so a cold start never reads as a verifier timeout."""

_KILL_GRACE_S = 5.0
"""How long to wait for a killed worker to be reaped before giving up on it."""


def default_workers() -> int:
    """Worker count used when none is given: ``$REWARDLAB_WORKERS`` or the CPU count."""
    env = os.environ.get("REWARDLAB_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class PoolClosed(RuntimeError):
    """The pool was closed while calls were still being made."""


_STARTUP_HINT = (
    "; workers re-import the calling script (as multiprocessing does): if it scores at import time,"
    " put that code under `if __name__ == '__main__':`"
)


def _import_modules(names: Sequence[str]) -> None:
    for name in names:
        importlib.import_module(name)


def _limit_memory(memory_mb: int | None) -> None:
    if memory_mb is None:
        return
    import resource

    cap = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


# Workers do not re-run the caller's script at start-up (multiprocessing's spawn and
# forkserver do, which re-executes an unguarded training script in every worker).
# They import it on demand instead, only when a call needs something defined there.
_LAUNCH = threading.local()
_original_preparation_data = _spawn.get_preparation_data


def _preparation_data(name: str) -> dict[str, Any]:
    data = _original_preparation_data(name)
    if getattr(_LAUNCH, "skip_main", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


_spawn.get_preparation_data = _preparation_data

MainRef = tuple[str, str] | None
_PARENT_MAIN: MainRef = None
_PARENT_MAIN_LOADED = False


def _parent_main() -> MainRef:
    data = _original_preparation_data("rewardlab-worker")
    if "init_main_from_name" in data:
        return ("name", data["init_main_from_name"])
    if "init_main_from_path" in data:
        return ("path", data["init_main_from_path"])
    return None


def load_parent_main() -> bool:
    """In a worker: import the caller's ``__main__`` (once). False when there is none."""
    global _PARENT_MAIN_LOADED
    if _PARENT_MAIN is None:
        return False
    if not _PARENT_MAIN_LOADED:
        _PARENT_MAIN_LOADED = True
        kind, value = _PARENT_MAIN
        if kind == "name":
            _spawn._fixup_main_from_name(value)  # type: ignore[attr-defined]
        else:
            _spawn._fixup_main_from_path(value)  # type: ignore[attr-defined]
    return True


def _receive(conn: multiprocessing.connection.Connection) -> Any:
    raw = conn.recv_bytes()
    try:
        return pickle.loads(raw)
    except (AttributeError, ImportError):
        # something defined in the caller's script: import it, then try again
        if not _PARENT_MAIN_LOADED and load_parent_main():
            return pickle.loads(raw)
        raise


_IN_WORKER = False
_EXIT_HOOKS: list[Callable[[], None]] = []


def in_worker() -> bool:
    """True inside a worker process of a `WorkerPool`."""
    return _IN_WORKER


def on_worker_exit(hook: Callable[[], None]) -> None:
    """In a worker: run ``hook`` when the pool stops this worker (what it set up is released there)."""
    _EXIT_HOOKS.append(hook)


def _run_exit_hooks() -> None:
    while _EXIT_HOOKS:
        hook = _EXIT_HOOKS.pop()
        with contextlib.suppress(Exception):
            hook()


def _worker_main(conn: multiprocessing.connection.Connection, memory_mb: int | None, main: MainRef = None) -> None:
    global _PARENT_MAIN, _IN_WORKER
    _PARENT_MAIN = main
    _IN_WORKER = True
    try:
        _serve(conn, memory_mb)
    finally:
        _run_exit_hooks()


def _serve(conn: multiprocessing.connection.Connection, memory_mb: int | None) -> None:
    # Own process group: a kill from the parent takes any children the work started.
    with contextlib.suppress(OSError):
        os.setsid()
    # Verifier chatter must not mix into the parent's output files or terminal.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    _limit_memory(memory_mb)
    while True:
        try:
            message = _receive(conn)
        except (EOFError, OSError):
            return
        except Exception as exc:  # a call that cannot be unpickled here
            conn.send(("error", f"call could not be loaded in the worker: {type(exc).__name__}: {exc}"[:500]))
            continue
        if message is None:
            return
        fn, args, kwargs = message
        try:
            outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except MemoryError:
            outcome = ("error", f"memory limit exceeded ({memory_mb} MiB)")
        except BaseException as exc:  # the work is untrusted: SystemExit included
            outcome = ("error", f"{type(exc).__name__}: {exc}"[:500])
        try:
            conn.send(outcome)
        except Exception as exc:  # e.g. an unpicklable return value
            conn.send(("error", f"result could not be sent back: {type(exc).__name__}: {exc}"[:500]))


_CONTEXT_LOCK = threading.Lock()


def _context() -> multiprocessing.context.ForkServerContext:
    # forkserver: workers fork from a clean single-threaded server, so replacing
    # a worker from a busy multi-threaded parent is safe.
    with _CONTEXT_LOCK:
        ctx: multiprocessing.context.ForkServerContext = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["rewardlab", "rewardlab.runtime._pool"])
        return ctx


@dataclass(eq=False)
class _Worker:
    memory_mb: int | None
    process: multiprocessing.process.BaseProcess | None = None
    conn: multiprocessing.connection.Connection | None = None
    warm: set[str] = field(default_factory=set)
    tasks_done: int = 0

    def start(self) -> None:
        ctx = _context()
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(target=_worker_main, args=(child_conn, self.memory_mb, _parent_main()), daemon=True)
        _LAUNCH.skip_main = True
        try:
            process.start()
        finally:
            _LAUNCH.skip_main = False
        child_conn.close()
        self.process, self.conn, self.warm, self.tasks_done = process, parent_conn, set(), 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def kill(self) -> None:
        process, conn = self.process, self.conn
        self.process, self.conn = None, None
        if process is None:
            return
        if process.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        process.join(_KILL_GRACE_S)
        if conn is not None:
            conn.close()
        with contextlib.suppress(ValueError):
            process.close()

    def stop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
        if self.process is not None:
            self.process.join(1.0)
        self.kill()

    def prepare(self, modules: Sequence[str]) -> CallResult | None:
        """(Re)start the worker if needed and import ``modules`` outside any call's deadline.

        Returns ``None`` when ready, else the failed warm-up's result.
        """
        if not self.alive:
            self.kill()
            self.start()
        needed = [m for m in modules if m and m not in self.warm]
        if not needed:
            return None
        warmed = self.run(_import_modules, (needed,), {}, WARMUP_TIMEOUT_S)
        if warmed.status is not Status.OK:
            return warmed
        self.warm.update(needed)
        return None

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float) -> CallResult:
        if not self.alive:
            self.kill()
            self.start()
        assert self.conn is not None and self.process is not None
        start = time.monotonic()
        try:
            self.conn.send((fn, args, kwargs))
        except (OSError, ValueError) as exc:
            self.kill()
            return CallResult(Status.ERROR, reason=f"worker unavailable: {exc}")
        except Exception as exc:  # pickling the call failed: the worker is fine
            return CallResult(Status.ERROR, reason=f"call could not be sent to a worker: {type(exc).__name__}: {exc}")
        if not self.conn.poll(timeout):
            elapsed = time.monotonic() - start
            self.kill()
            return CallResult(
                Status.TIMEOUT, reason=f"deadline of {timeout:g}s exceeded; worker killed", elapsed_s=elapsed
            )
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(_KILL_GRACE_S)
            code = self.process.exitcode
            self.kill()
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            if code == -signal.SIGKILL and self.memory_mb is not None:
                how += " (possibly out of memory)"
            return CallResult(Status.ERROR, reason=f"worker died ({how})", elapsed_s=time.monotonic() - start)
        elapsed = time.monotonic() - start
        self.tasks_done += 1
        if kind == "ok":
            return CallResult(Status.OK, payload, elapsed_s=elapsed)
        return CallResult(Status.ERROR, reason=str(payload), elapsed_s=elapsed)


class WorkerPool:
    """Worker processes with hard per-call deadlines and a memory cap.

    Args:
        workers: Number of worker processes (default: `default_workers()`).
        timeout: Default deadline of one call in seconds (default 10).
        memory_mb: Address-space cap per worker in MiB (default 2048; ``None``
            for no cap). Work that exceeds it gets status ``error``.
        max_tasks_per_worker: Replace a worker after this many calls (``None``:
            never), a guard against verifiers that leak memory.

    Calls are thread-safe. A call that overruns its deadline returns status
    ``timeout`` within about the deadline; its worker is killed with its whole
    process group and replaced, and the pool keeps serving.

    Example:
        >>> with WorkerPool(workers=2, timeout=5.0) as pool:
        ...     pool.call(pow, 2, 10).value
        1024
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        memory_mb: int | None = DEFAULT_MEMORY_MB,
        max_tasks_per_worker: int | None = None,
    ) -> None:
        self.size = default_workers() if workers is None else workers
        if self.size < 1:
            raise ValueError("a pool needs at least one worker")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.max_tasks_per_worker = max_tasks_per_worker
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers = [_Worker(memory_mb) for _ in range(self.size)]
        for worker in self._workers:
            self._idle.put(worker)
        self._closed = False

    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,
        warm: Sequence[str] = (),
        **kwargs: Any,
    ) -> CallResult:
        """Run ``fn(*args, **kwargs)`` in a worker and wait at most ``timeout`` seconds.

        ``fn`` and its arguments must be picklable (a module-level function).
        ``warm`` names modules to import in the worker before the deadline
        starts, so a cold worker's imports do not count against it.
        """
        if self._closed:
            raise PoolClosed("the pool is closed")
        deadline = self.timeout if timeout is None else timeout
        worker = self._idle.get()
        try:
            if self._closed:
                raise PoolClosed("the pool is closed")
            warmed = worker.prepare((*warm, getattr(fn, "__module__", "")))
            if warmed is not None:
                return CallResult(warmed.status, reason=f"worker warm-up failed: {warmed.reason}{_STARTUP_HINT}")
            result = worker.run(fn, args, kwargs, deadline)
            if self.max_tasks_per_worker and worker.tasks_done >= self.max_tasks_per_worker:
                worker.stop()
            return result
        finally:
            self._idle.put(worker)

    def start(self, warm: Sequence[str] = ()) -> None:
        """Start every worker now, in background threads, importing ``warm``.

        Returns at once; calls made meanwhile wait for the first ready worker.
        Start-up and imports then overlap the caller's own work.
        """

        def prepare() -> None:
            worker = self._idle.get()
            try:
                if not self._closed:
                    worker.prepare(warm)
            except Exception:
                if not self._closed:
                    raise
                # closed meanwhile (a short job): close() stopped this worker under the warm-up
            finally:
                self._idle.put(worker)

        for _ in range(self.size):
            threading.Thread(target=prepare, name="rewardlab-pool-start", daemon=True).start()

    def map(
        self,
        fn: Callable[..., Any],
        items: Iterable[tuple[Any, ...]],
        *,
        timeout: float | None = None,
        warm: Sequence[str] = (),
    ) -> list[CallResult]:
        """Call ``fn(*item)`` for every item, all workers busy, results in input order."""
        items = list(items)
        if not items:
            return []
        if len(items) == 1 or self.size == 1:
            return [self.call(fn, *item, timeout=timeout, warm=warm) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.size, len(items)), thread_name_prefix="rewardlab-pool") as ex:
            return list(ex.map(lambda item: self.call(fn, *item, timeout=timeout, warm=warm), items))

    async def acall(
        self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> CallResult:
        """`call` without blocking the event loop."""
        return await asyncio.to_thread(self.call, fn, *args, timeout=timeout, **kwargs)

    def close(self) -> None:
        """Stop every worker. Calls already waiting on a worker finish first."""
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            worker.stop()

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests and monitoring)."""
        return [w.process.pid for w in self._workers if w.process is not None and w.process.pid and w.alive]

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
