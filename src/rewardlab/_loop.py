"""The event loop every reward coroutine runs on: one long-lived loop per process.

Rewards are coroutines (`Reward.ascore_batch`). Sync callers (`Reward.score`)
hand them to this loop and wait; async callers on another loop (a trainer's,
a server's) await them through it. Either way a reward's coroutines always run
on the same loop, so what a reward opened once (an HTTP client, a rate limiter,
a connection pool) serves every batch, whoever calls and from whichever thread.

A sync reward function that itself calls another reward's ``score`` (it runs
on the loop's thread, which must not block on itself) is served by the next
loop of a short chain, each also long-lived. No call ever creates a loop per
batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

SYNC_THREADS = 64
"""Threads that run blocking work for rewards (a worker-pool wait, a sync composite).
Waiting threads hold no CPU; the count only bounds how many such waits overlap."""


class _LoopThread:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._run, name=f"rewardlab-loop-{depth}", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        _LOCAL.depth = self.depth
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()


_LOCAL = threading.local()
_LOCK = threading.Lock()
_LOOPS: list[_LoopThread] = []
_THREADS: concurrent.futures.ThreadPoolExecutor | None = None
_PID = os.getpid()


def _check_fork() -> None:
    # A forked child inherits the lists but not the threads: start afresh.
    global _PID, _THREADS
    if os.getpid() != _PID:
        _PID = os.getpid()
        _LOOPS.clear()
        _THREADS = None


def _loop_at(depth: int) -> asyncio.AbstractEventLoop:
    with _LOCK:
        _check_fork()
        while len(_LOOPS) <= depth:
            _LOOPS.append(_LoopThread(len(_LOOPS)))
        return _LOOPS[depth].loop


def _depth_of_current_thread() -> int:
    depth: int = getattr(_LOCAL, "depth", -1)
    return depth


def runtime_loop() -> asyncio.AbstractEventLoop:
    """The process's reward loop (started on first use)."""
    return _loop_at(0)


def on_runtime_loop() -> bool:
    """True when called from a coroutine running on one of the reward loops."""
    return _depth_of_current_thread() >= 0


def run(awaitable: Awaitable[T]) -> T:
    """Run a reward coroutine to completion from sync code (any thread, inside a running loop too)."""
    loop = _loop_at(_depth_of_current_thread() + 1)
    coro = awaitable if isinstance(awaitable, Coroutine) else _await(awaitable)
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Await a reward coroutine from any event loop; it runs on the reward loop."""
    if on_runtime_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, runtime_loop()))


def _sync_threads() -> concurrent.futures.ThreadPoolExecutor:
    global _THREADS
    with _LOCK:
        _check_fork()
        if _THREADS is None:
            _THREADS = concurrent.futures.ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="rewardlab-sync")
        return _THREADS


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking ``fn(*args)`` off the loop, so sibling rewards keep running meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(_sync_threads(), fn, *args)


__all__ = ["in_thread", "on_runtime_loop", "run", "run_async", "runtime_loop"]
