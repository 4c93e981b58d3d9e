"""The runner: one reward over many samples, in batches, with deadlines and a progress bar.

Every driver of rewards goes through it (the score job, audit; a server or a
Ray actor later), so batching, deadlines, where a batch runs and how a failed
batch becomes scores are decided in one place:

- a ``process`` reward (or a composite with one) is scored in this process and
  sends its work to the executor (a worker pool the runner opens, or the one
  it is given); two batches overlap, so one is prepared while the other waits;
- an ``inline`` reward that can be pickled may be *shipped*: whole batches go to
  worker processes (parse, score, serialise there), each with a batch deadline;
- a ``resident`` reward (or a composite holding one) always runs here, on the
  one instance that was set up: it is never pickled or loaded again per worker.

The runner owns the pools it opened and closes them, and the reward's own
resources, when it is closed (``with Runner(...) as runner:``).
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from rewardlab._executor import CallResult, Executor
from rewardlab._reward import Reward
from rewardlab._types import Sample, Score, Status
from rewardlab.runtime._pool import WorkerPool, default_workers

B = TypeVar("B")
T = TypeVar("T")

INLINE_BATCH = 2048
"""Samples per batch for rewards scored in the caller or shipped whole: large
enough to amortise the hand-off to a worker process."""

PROCESS_BATCH_PER_WORKER = 128
"""Samples per batch and worker for rewards that send work to an executor: small
enough that a slow sample does not leave the other workers idle for long."""

BATCH_DEADLINE_S = 600.0
"""Deadline of one shipped batch. A batch that overruns is killed, and its
samples get status ``timeout``: a slow reward cannot hang a job."""


class Progress:
    """A rich progress bar on stderr when enabled; nothing otherwise."""

    def __init__(self, total: int | None, label: str, *, enabled: bool, unit: str = "rows") -> None:
        self.bar: Any = None
        if not enabled or total == 0:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns: list[Any] = [TextColumn(label), BarColumn(), TimeRemainingColumn()]
        if unit == "rows":
            columns.insert(2, MofNCompleteColumn())
        self.bar = Progress(*columns, console=Console(file=sys.stderr), transient=False)
        self.task = self.bar.add_task(label, total=total)
        self.bar.start()

    def advance(self, amount: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, amount)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _picklable(reward: Reward) -> bool:
    try:
        pickle.dumps(reward)
    except Exception:
        return False
    return True


def failed_scores(count: int, result: CallResult) -> list[Score]:
    """The scores of a shipped batch that did not come back: its status kept, never a silent zero."""
    if result.status is Status.TIMEOUT:
        return [Score.timeout(f"batch of {count} exceeded its deadline: {result.reason}")] * count
    return [Score.error(f"batch failed: {result.reason}")] * count


def _score_batch(reward: Reward, samples: list[Sample]) -> list[Score]:
    """In a worker: score one shipped batch."""
    return reward.score(samples)


class Runner:
    """Drives one reward over many samples.

    Args:
        reward: The reward.
        workers: Worker processes for the pools the runner opens (default: CPU count).
        timeout: Default per-call deadline of the executor it opens (default: the pool's, 10 s).
        executor: An executor to use instead of opening one (not closed by the runner;
            a `WorkerPool` given here also takes shipped batches).
        ship: Send whole batches of an inline reward to worker processes (when it
            can be pickled); ``False`` scores them here, with no batch deadline.
        batch_size: Samples per batch (default: by placement, see `batch_size`).
        close_reward: Close the reward's resources when the runner closes.
        batch_executor: Where whole batches run instead (``size`` and ``call(work, reward,
            batch, ...)``), e.g. `rewardlab.ray.RewardActorPool`, whose actors each hold a
            copy of the reward set up once. The caller owns it.
        open_pools: Open a worker pool for a process reward when no executor is
            given; ``False`` lets such a reward use its own pool (opened on first
            use, kept warm across runs, stopped by the reward's ``close()``).
    """

    def __init__(
        self,
        reward: Reward,
        *,
        workers: int | None = None,
        timeout: float | None = None,
        executor: Executor | None = None,
        ship: bool = False,
        batch_size: int | None = None,
        close_reward: bool = True,
        batch_executor: Any = None,
        open_pools: bool = True,
    ) -> None:
        self.reward = reward
        self.workers = default_workers() if workers is None else max(1, workers)
        self.timeout = timeout
        self.close_reward = close_reward
        self._owned: list[WorkerPool] = []
        self.executor: Executor | None = executor
        if executor is None and reward.needs_executor and open_pools and batch_executor is None:
            pool = WorkerPool(self.workers, timeout=timeout) if timeout else WorkerPool(self.workers)
            pool.start(warm=reward.worker_modules)  # start-up overlaps the caller's first batch
            self._owned.append(pool)
            self.executor = pool
        # A stateful reward (running normalisation) must see every batch, in order, as one
        # object: copies shipped to workers would each start from this process's state.
        self.shipped = ship and reward.placement == "inline" and not reward.stateful and _picklable(reward)
        self._batch_pool: Any = None
        if batch_executor is not None and reward.stateful:
            raise ValueError(
                f"reward {reward.name!r} keeps running state between batches (a running normaliser): "
                "it cannot be split over executors that hold their own copies"
            )
        if batch_executor is not None:
            # whole batches go to executors that hold their own copy of the reward (Ray actors):
            # any placement ships, since each copy was set up once where it runs
            self.shipped = True
            self._batch_pool = batch_executor
        elif self.shipped:
            if isinstance(executor, WorkerPool):
                self._batch_pool = executor  # the caller's pool serves whole batches too
            else:
                self._batch_pool = WorkerPool(self.workers, timeout=BATCH_DEADLINE_S)
                self._owned.append(self._batch_pool)
        size = getattr(self.executor, "size", self.workers)
        per_batch = PROCESS_BATCH_PER_WORKER * max(1, size) if reward.needs_executor else INLINE_BATCH
        if batch_executor is not None:
            per_batch = INLINE_BATCH
        self.batch_size = batch_size or per_batch
        self.samples_scored = 0

    # -- the general form: any batch, any work ---------------------------------
    def run_batches(
        self,
        batches: Iterable[B],
        work: Callable[..., T],
        args: tuple[Any, ...] = (),
        *,
        on_failure: Callable[[B, CallResult], T],
    ) -> Generator[tuple[B, T], None, None]:
        """``work(reward, batch, *args, executor)`` for every batch, results in input order.

        Shipped, ``work`` runs in a worker process (without the executor) under
        `BATCH_DEADLINE_S`, and a batch that does not come back is passed to
        ``on_failure``; otherwise it runs here. A bounded number of batches is
        in flight at once.
        """
        if self._batch_pool is not None:
            pool = self._batch_pool

            def shipped(batch: B) -> T:
                outcome = pool.call(work, self.reward, batch, *args, None, timeout=BATCH_DEADLINE_S)
                return outcome.value if outcome.status is Status.OK else on_failure(batch, outcome)

            yield from _pipelined(batches, shipped, threads=pool.size, window=2 * pool.size)
            return

        def here(batch: B) -> T:
            return work(self.reward, batch, *args, self.executor)

        if self.reward.needs_executor or self.reward.placement == "resident":
            # one batch is prepared while the other waits on workers (or on a model or a server)
            yield from _pipelined(batches, here, threads=2, window=2)
        else:
            for batch in batches:
                yield batch, here(batch)

    # -- the common form: samples to scores --------------------------------------
    def score(self, samples: Sequence[Sample], *, label: str = "scoring", progress: bool = False) -> list[Score]:
        """Score every sample, in order, in batches; never raises because of a sample."""
        bar = Progress(len(samples), label, enabled=progress)
        batches = (list(samples[i : i + self.batch_size]) for i in range(0, len(samples), self.batch_size))
        out: list[Score] = []
        signature = self.reward.signature
        try:
            for batch, scores in self.run_batches(batches, _score_here, on_failure=_failed_batch):
                out.extend(s if s.signature else s.with_signature(signature) for s in scores)
                bar.advance(len(batch))
        finally:
            bar.close()
        self.samples_scored += len(samples)
        return out

    def close(self) -> None:
        """Stop the pools the runner opened and (unless told otherwise) release the reward's resources."""
        pools, self._owned = self._owned, []
        for pool in pools:
            pool.close()
        if self.close_reward:
            self.reward.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _score_here(reward: Reward, samples: list[Sample], executor: Executor | None) -> list[Score]:
    return reward.score(samples, executor=executor)


def _failed_batch(samples: list[Sample], result: CallResult) -> list[Score]:
    return failed_scores(len(samples), result)


def _pipelined(
    batches: Iterable[B], run: Callable[[B], T], *, threads: int, window: int
) -> Iterator[tuple[B, T]]:
    """Run ``run`` on a bounded number of batches at once; yield results in input order."""
    in_flight: list[tuple[B, Future[T]]] = []
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rewardlab-runner") as pool:
        try:
            for batch in batches:
                in_flight.append((batch, pool.submit(run, batch)))
                if len(in_flight) >= window:
                    done, future = in_flight.pop(0)
                    yield done, future.result()
            while in_flight:
                done, future = in_flight.pop(0)
                yield done, future.result()
        finally:
            for _, future in in_flight:
                future.cancel()


__all__ = ["BATCH_DEADLINE_S", "INLINE_BATCH", "PROCESS_BATCH_PER_WORKER", "Progress", "Runner", "failed_scores"]
