"""Running a benchmark: score every candidate through the runtime, then compute metrics.

All candidates of all items go to the reward as one stream of samples, in large batches
through the same runner as ``rewardlab audit`` (worker processes with deadlines for
isolated rewards, batches for model rewards): there is no per-pair loop.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab._reward import Reward
from rewardlab._types import Sample, Score, Status, _text_of
from rewardlab.bench._data import BenchRecord
from rewardlab.bench._metrics import METRICS, Item, bootstrap_ci, compute

RANDOM_DRAWS = 20
"""Draws of uniform random scores averaged into the random baseline."""

WRONG_SHOWN = 50
"""Items the reward gets wrong that the report lists (the most confident mistakes first)."""

LENGTH_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("chosen much shorter", -np.inf, -0.5),
    ("chosen shorter", -0.5, -0.1),
    ("similar length", -0.1, 0.1),
    ("chosen longer", 0.1, 0.5),
    ("chosen much longer", 0.5, np.inf),
)
"""Buckets of the relative length difference (chosen - rejected) / longer, in characters."""


@dataclass
class BenchResult:
    """What `run_bench` and `bench_scores` return; ``to_dict`` is the JSON report."""

    metric: str
    data_format: str
    items: int
    values: dict[str, float]
    interval: tuple[float, float] | None
    reward: str
    statuses: dict[str, int] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    by_length: list[dict[str, Any]] = field(default_factory=list)
    wrong: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    resamples: int = 0

    @property
    def headline(self) -> float:
        return self.values[METRICS[self.metric].headline]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "rewardlab.bench/1",
            "metric": self.metric,
            "description": METRICS[self.metric].description,
            "format": self.data_format,
            "reward": self.reward,
            "items": self.items,
            "headline": self.headline,
            "ci95": list(self.interval) if self.interval else None,
            "bootstrap_resamples": self.resamples,
            "values": self.values,
            "statuses": self.statuses,
            "baselines": self.baselines,
            "by_length": self.by_length,
            "wrong": self.wrong,
            "seconds": round(self.seconds, 3),
        }


def candidate_samples(records: Sequence[BenchRecord]) -> list[Sample]:
    """Every candidate of every record as a sample, chosen ones first within a record."""
    samples = []
    for record in records:
        for kind, candidates in (("chosen", record.chosen), ("rejected", record.rejected)):
            for n, candidate in enumerate(candidates):
                samples.append(
                    Sample(
                        completion=candidate,
                        prompt=record.prompt if record.prompt != "" else None,
                        reference=record.reference,
                        id=f"{record.id}#{kind}{n}",
                    )
                )
    return samples


def items_from_values(records: Sequence[BenchRecord], values: Sequence[float | None]) -> list[Item]:
    """Regroup a flat list of candidate scores (in `candidate_samples` order) into items."""
    items = []
    at = 0
    for record in records:
        nc, nr = len(record.chosen), len(record.rejected)
        chosen = tuple(values[at : at + nc])
        rejected = tuple(values[at + nc : at + nc + nr])
        at += nc + nr
        items.append(Item(id=record.id, subset=record.subset, chosen=chosen, rejected=rejected, meta=record.meta))
    return items


def run_bench(
    records: Sequence[BenchRecord],
    reward: Reward,
    *,
    data_format: str,
    metric: str,
    workers: int | None = None,
    progress: bool = False,
    resamples: int = 1000,
    seed: int = 0,
) -> BenchResult:
    """Score every candidate with ``reward`` and compute ``metric`` with baselines."""
    from rewardlab.runtime._runner import Runner

    started = time.perf_counter()
    samples = candidate_samples(records)
    # With no worker count given, a process reward uses its own pool (warm after the first
    # use, released by the caller's reward.close()) instead of starting one for this run.
    with Runner(reward, workers=workers, open_pools=workers is not None, close_reward=False) as runner:
        scores = runner.score(samples, label="benchmarking", progress=progress)
    values = [s.value if s.status is Status.OK else None for s in scores]
    items = items_from_values(records, values)
    result = bench_items(
        items, metric=metric, data_format=data_format, reward=reward.signature, resamples=resamples, seed=seed
    )
    result.statuses = dict(Counter(str(s.status) for s in scores))
    lengths = [float(len(_text_of(s.completion))) for s in samples]
    length_items = items_from_values(records, lengths)
    result.baselines = {
        "length": compute(metric, length_items),
        "random": random_baseline(records, metric, seed=seed),
    }
    if metric in {"accuracy", "rewardbench", "judgebench", "judgebench-single"}:
        result.by_length = accuracy_by_length(records, items, length_items)
    result.wrong = wrong_items(records, items, scores, metric)
    result.seconds = time.perf_counter() - started
    return result


def bench_items(
    items: Sequence[Item],
    *,
    metric: str,
    data_format: str,
    reward: str,
    resamples: int = 1000,
    seed: int = 0,
) -> BenchResult:
    """Metric values and a bootstrap interval for items that already carry scores."""
    started = time.perf_counter()
    values = compute(metric, items)
    interval = bootstrap_ci(metric, items, resamples=resamples, seed=seed)
    unscored = sum(v is None for item in items for v in (*item.chosen, *item.rejected))
    result = BenchResult(
        metric=metric,
        data_format=data_format,
        items=len(items),
        values=values,
        interval=interval,
        reward=reward,
        resamples=resamples,
    )
    if unscored and not any("decisions" in item.meta for item in items):
        result.statuses = {"unscored": unscored}
    result.seconds = time.perf_counter() - started
    return result


def random_baseline(records: Sequence[BenchRecord], metric: str, *, seed: int = 0) -> dict[str, float]:
    """The metric under uniform random scores, averaged over `RANDOM_DRAWS` seeded draws."""
    rng = np.random.default_rng(seed)
    total = sum(len(r.chosen) + len(r.rejected) for r in records)
    draws = [compute(metric, items_from_values(records, rng.random(total).tolist())) for _ in range(RANDOM_DRAWS)]
    return {key: float(np.mean([d[key] for d in draws])) for key in draws[0]}


def accuracy_by_length(
    records: Sequence[BenchRecord], items: Sequence[Item], length_items: Sequence[Item]
) -> list[dict[str, Any]]:
    """Pairwise accuracy of the reward and of the length baseline per length-difference bucket."""
    rows = []
    correct = _pair_credit
    diffs = []
    for item in length_items:
        c, r = item.chosen[0] or 0.0, item.rejected[0] or 0.0
        diffs.append((c - r) / max(c, r, 1.0))
    for name, low, high in LENGTH_BUCKETS:
        members = [k for k, d in enumerate(diffs) if low <= d < high or (high == np.inf and d >= low)]
        if not members:
            continue
        rows.append(
            {
                "bucket": name,
                "items": len(members),
                "reward": float(np.mean([correct(items[k]) for k in members])),
                "length": float(np.mean([correct(length_items[k]) for k in members])),
            }
        )
    return rows


def _pair_credit(item: Item) -> float:
    chosen = -np.inf if item.chosen[0] is None else item.chosen[0]
    rejected = -np.inf if item.rejected[0] is None else item.rejected[0]
    return 1.0 if chosen > rejected else 0.0


def wrong_items(
    records: Sequence[BenchRecord], items: Sequence[Item], scores: Sequence[Score], metric: str
) -> list[dict[str, Any]]:
    """The items the reward gets wrong, most confident mistakes first, with their texts."""
    per_item: Callable[[Item], float] | None = METRICS[metric].per_item
    if per_item is None:
        per_item = _pair_credit
    wrong = []
    at = 0
    for record, item in zip(records, items, strict=True):
        n = len(record.chosen) + len(record.rejected)
        item_scores = scores[at : at + n]
        at += n
        if per_item(item) >= 1.0:
            continue
        best_chosen = max((v for v in item.chosen if v is not None), default=None)
        best_rejected = max((v for v in item.rejected if v is not None), default=None)
        margin = None if best_chosen is None or best_rejected is None else best_rejected - best_chosen
        problems = sorted({s.reason for s in item_scores if s.status is not Status.OK and s.reason})
        wrong.append(
            {
                "id": record.id,
                "subset": record.subset,
                "where": record.where,
                "prompt": _text_of(record.prompt) if record.prompt else "",
                "chosen": _text_of(record.chosen[0]),
                "rejected": _text_of(record.rejected[0]),
                "chosen_scores": list(item.chosen),
                "rejected_scores": list(item.rejected),
                "margin": margin,
                "problems": problems,
            }
        )
    wrong.sort(key=_mistake_order)
    return wrong[:WRONG_SHOWN]


def _mistake_order(entry: dict[str, Any]) -> float:
    """Failed items first, then the largest margins by which a rejected answer won."""
    margin = entry["margin"]
    return -np.inf if margin is None else -float(margin)
