"""Scoring many samples through the runtime, in a few large batches, with a progress bar."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewardlab._reward import Reward
from rewardlab._types import Sample, Score, Status
from rewardlab.runtime._pool import WorkerPool

INLINE_CHUNK = 2000
"""Samples per batch for rewards that run in the calling process: large batches
amortise the hand-off to a worker process."""

ISOLATED_CHUNK = 512
"""Samples per call of ``reward.score`` for isolated rewards; the pool spreads
each call over its workers, and the bar advances between calls."""

CHUNK_DEADLINE_S = 300.0
"""Deadline of one batch of a non-isolated reward scored in a worker. A batch
that overruns is killed, and its samples get status ``timeout``: a slow reward
cannot hang an audit."""


class ScoreRunner:
    """Scores lists of samples with one reward, through worker processes with deadlines.

    Isolated rewards go through their own per-sample deadlines in ``pool``.
    Other rewards are scored in batches inside worker processes, each batch
    with `CHUNK_DEADLINE_S`; with ``in_process=True`` (or a reward that cannot
    be pickled) they run in the calling process instead.
    """

    def __init__(
        self,
        reward: Reward,
        *,
        pool: WorkerPool | None = None,
        workers: int | None = None,
        in_process: bool = False,
        progress: bool = False,
        label: str = "auditing",
    ) -> None:
        self.reward = reward
        self._own_pool = pool is None
        self.workers = workers
        self._pool = pool
        self.in_process = in_process or reward.resident or not _picklable(reward)
        self.progress = progress
        self.label = label
        self.samples_scored = 0

    def _get_pool(self, timeout: float | None = None) -> WorkerPool:
        if self._pool is None:
            kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
            self._pool = WorkerPool(self.workers, **kwargs)
        return self._pool

    def close(self) -> None:
        if self._own_pool and self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> ScoreRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def score(self, samples: Sequence[Sample], description: str | None = None) -> list[Score]:
        """Score every sample, in order; never raises because of a sample."""
        bar = _Bar(len(samples), description or self.label, self.progress)
        try:
            if self.reward.isolated:
                out = self._score_isolated(samples, bar)
            elif self.in_process:
                out = []
                for start in range(0, len(samples), INLINE_CHUNK):
                    chunk = list(samples[start : start + INLINE_CHUNK])
                    out.extend(self.reward.score(chunk))
                    bar.advance(len(chunk))
            else:
                out = self._score_chunks_in_workers(samples, bar)
        finally:
            bar.close()
        self.samples_scored += len(samples)
        return out

    def _score_isolated(self, samples: Sequence[Sample], bar: _Bar) -> list[Score]:
        pool = self._get_pool()
        size = ISOLATED_CHUNK * max(1, pool.size)
        out: list[Score] = []
        for start in range(0, len(samples), size):
            chunk = list(samples[start : start + size])
            out.extend(self.reward.score(chunk, pool=pool))
            bar.advance(len(chunk))
        return out

    def _score_chunks_in_workers(self, samples: Sequence[Sample], bar: _Bar) -> list[Score]:
        pool = self._get_pool(CHUNK_DEADLINE_S)
        chunks = [list(samples[i : i + INLINE_CHUNK]) for i in range(0, len(samples), INLINE_CHUNK)]
        if not chunks:
            return []

        def run(chunk: list[Sample]) -> list[Score]:
            result = pool.call(_score_chunk, self.reward, chunk, timeout=CHUNK_DEADLINE_S)
            bar.advance(len(chunk))
            if result.status is Status.OK:
                return list(result.value)
            if result.status is Status.TIMEOUT:
                return [Score.timeout(f"batch of {len(chunk)} exceeded {CHUNK_DEADLINE_S:g}s")] * len(chunk)
            return [Score.error(f"batch failed: {result.reason}")] * len(chunk)

        with ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="rewardlab-audit") as threads:
            results = list(threads.map(run, chunks))
        signature = self.reward.signature
        return [s if s.signature else s.with_signature(signature) for chunk in results for s in chunk]


def _score_chunk(reward: Reward, samples: list[Sample]) -> list[Score]:
    return reward.score(samples)


def _picklable(reward: Reward) -> bool:
    try:
        pickle.dumps(reward)
    except Exception:
        return False
    return True


class _Bar:
    """A rich progress bar on a terminal; nothing otherwise."""

    def __init__(self, total: int, description: str, enabled: bool) -> None:
        self.bar: Any = None
        if not enabled or total == 0:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn(description),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self.task = self.bar.add_task(description, total=total)
        self.bar.start()

    def advance(self, amount: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, amount)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
