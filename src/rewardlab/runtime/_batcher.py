"""Cross-request dynamic batching with a bounded queue and per-request deadlines.

Concurrent requests for one reward are gathered into batches (up to ``max_batch``
samples, waiting at most ``max_wait_s`` after the first one arrives) so a model
reward sees full batches even when every client sends one sample. The queue is
bounded by samples, not requests: a full queue refuses new work at once (the
server answers 503 with ``Retry-After``) instead of letting latency grow without
bound. Every request carries a deadline; past it the request is answered with
``timeout`` scores and whatever its batch computes later is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from rewardlab._types import Sample, Score


class QueueFull(Exception):
    """The batcher holds as many samples as it may; retry later."""

    def __init__(self, pending: int, limit: int) -> None:
        super().__init__(f"queue full: {pending} samples waiting (limit {limit})")
        self.pending = pending
        self.limit = limit


class ShuttingDown(Exception):
    """The server is draining and takes no new work."""


@dataclass
class _Entry:
    samples: list[Sample]
    future: asyncio.Future[list[Score]]
    deadline: float
    enqueued: float = field(default_factory=time.monotonic)


ScoreBatch = Callable[[list[Sample]], Awaitable[list[Score]]]
Observer = Callable[[int, float], None]


class Batcher:
    """Gathers requests for one reward into batches and scores them.

    Args:
        score_batch: Coroutine function scoring a list of samples (one score each).
        max_batch: Most samples per batch (a larger single request is one batch).
        max_wait_s: Longest wait for more requests after the first one of a batch.
        max_queue: Most samples waiting or being scored at once.
        concurrency: Batches scored at the same time (one gathers while another runs).
        on_batch: Called with (batch size, seconds) after every batch, for metrics.
    """

    def __init__(
        self,
        score_batch: ScoreBatch,
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.005,
        max_queue: int = 4096,
        concurrency: int = 2,
        on_batch: Observer | None = None,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or concurrency < 1:
            raise ValueError("max_batch, max_queue and concurrency must be at least 1")
        self._score_batch = score_batch
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self.max_queue = max_queue
        self._slots = asyncio.Semaphore(concurrency)
        self._on_batch = on_batch
        self._waiting: deque[_Entry] = deque()
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._held = 0  # samples waiting or being scored
        self._queued = 0  # samples waiting (not yet in a batch)
        self._closing = False
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        """Samples waiting or being scored."""
        return self._held

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._gather(), name="rewardlab-batcher")

    def submit(self, samples: list[Sample], deadline: float) -> asyncio.Future[list[Score]]:
        """Queue samples; the future resolves to their scores.

        Raises:
            QueueFull: taking them would exceed ``max_queue``.
            ShuttingDown: the batcher is draining.
        """
        if self._closing:
            raise ShuttingDown()
        if self._held + len(samples) > self.max_queue and self._held > 0:
            raise QueueFull(self._held, self.max_queue)
        future: asyncio.Future[list[Score]] = asyncio.get_running_loop().create_future()
        self._held += len(samples)
        self._queued += len(samples)
        self._waiting.append(_Entry(samples, future, deadline))
        self._wake.set()
        return future

    async def _gather(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                await self._slots.acquire()
                batch = await self._collect()
                if not batch:
                    self._slots.release()
                    continue
                task = asyncio.get_running_loop().create_task(self._run(batch))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if self._closing and not self._waiting:
                return

    async def _collect(self) -> list[_Entry]:
        """Entries for one batch: wait up to ``max_wait_s`` after the first for more to arrive."""
        first_seen = time.monotonic()
        while True:
            size = self._queued
            waited = time.monotonic() - first_seen
            if size >= self.max_batch or waited >= self.max_wait_s or self._closing:
                break
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.max_wait_s - waited)
        batch: list[_Entry] = []
        taken = 0
        now = time.monotonic()
        while self._waiting:
            entry = self._waiting[0]
            if batch and taken + len(entry.samples) > self.max_batch:
                break
            self._waiting.popleft()
            self._queued -= len(entry.samples)
            if entry.future.done() or entry.deadline <= now:
                # answered already (deadline passed, client gone): not worth scoring
                self._held -= len(entry.samples)
                continue
            batch.append(entry)
            taken += len(entry.samples)
        return batch

    async def _run(self, batch: list[_Entry]) -> None:
        samples = [s for entry in batch for s in entry.samples]
        started = time.monotonic()
        try:
            try:
                scores = await self._score_batch(samples)
                if len(scores) != len(samples):
                    raise RuntimeError(f"{len(scores)} scores for {len(samples)} samples")
            except Exception as exc:  # the reward itself failed: every sample of the batch says so
                scores = [Score.error(f"reward failed on this batch: {type(exc).__name__}: {exc}")] * len(samples)
            at = 0
            for entry in batch:
                part = scores[at : at + len(entry.samples)]
                at += len(entry.samples)
                if not entry.future.done():
                    entry.future.set_result(list(part))
        finally:
            self._held -= len(samples)
            self._slots.release()
            if self._on_batch is not None:
                self._on_batch(len(samples), time.monotonic() - started)

    async def drain(self, timeout: float) -> None:
        """Stop taking work, finish what is queued and in flight (at most ``timeout`` seconds)."""
        self._closing = True
        self._wake.set()
        deadline = time.monotonic() + timeout
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._loop_task), max(0.0, deadline - time.monotonic()))
        pending = list(self._in_flight)
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        for entry in self._waiting:
            if not entry.future.done():
                entry.future.set_result([Score.error("server shut down before scoring")] * len(entry.samples))
        self._waiting.clear()
        self._queued = 0
        if self._loop_task is not None and not self._loop_task.done():
            self._loop_task.cancel()
