"""Labelled evaluation: the reward as a classifier of correct completions, with bootstrap intervals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rewardlab._types import Score, Status
from rewardlab.audit._data import AuditRow
from rewardlab.audit._stats import clip_text

DEFAULT_BOOTSTRAP = 2000
"""Bootstrap resamples: enough for stable 2.5/97.5 percentiles at 3 decimals."""


def _ratio(num: Any, den: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


METRICS: dict[str, Callable[[Any, Any, Any, Any], Any]] = {
    "false_positive_rate": lambda tp, fp, tn, fn: _ratio(fp, fp + tn),
    "false_negative_rate": lambda tp, fp, tn, fn: _ratio(fn, fn + tp),
    "precision": lambda tp, fp, tn, fn: _ratio(tp, tp + fp),
    "recall": lambda tp, fp, tn, fn: _ratio(tp, tp + fn),
    "accuracy": lambda tp, fp, tn, fn: _ratio(tp + tn, tp + fp + tn + fn),
    "f1": lambda tp, fp, tn, fn: _ratio(2 * tp, 2 * tp + fp + fn),
}
"""Each metric from the confusion counts. FPR = FP/(FP+TN), FNR = FN/(FN+TP),
precision = TP/(TP+FP), recall = TP/(TP+FN), accuracy = (TP+TN)/N, F1 = 2TP/(2TP+FP+FN)."""


def bootstrap_intervals(
    counts: tuple[int, int, int, int], *, resamples: int, seed: int
) -> dict[str, list[float] | None]:
    """Percentile bootstrap 95% intervals of every metric.

    Resampling the N judged rows with replacement is the same as drawing the
    four confusion cells from a multinomial with N trials and the observed
    cell shares, which is what is done (seeded with ``seed``). Each interval is
    the 2.5th and 97.5th percentile of the metric over the resamples where it
    is defined; ``None`` when it is never defined.
    """
    n = sum(counts)
    if n == 0 or resamples <= 0:
        return {name: None for name in METRICS}
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, np.asarray(counts, dtype=float) / n, size=resamples)
    tp, fp, tn, fn = (draws[:, i].astype(float) for i in range(4))
    out: dict[str, list[float] | None] = {}
    for name, fn_metric in METRICS.items():
        values = fn_metric(tp, fp, tn, fn)
        values = values[~np.isnan(values)]
        out[name] = None if values.size == 0 else [float(p) for p in np.percentile(values, [2.5, 97.5])]
    return out


def labelled_section(
    rows: Sequence[AuditRow],
    scores: Sequence[Score],
    threshold: float,
    *,
    resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    max_examples: int = 5,
) -> dict[str, Any]:
    """Confusion matrix and rates of the reward against labels.

    A completion is *predicted correct* when its score is ``ok`` with
    ``value >= threshold``. Rows whose score is not ``ok`` are not judged:
    they are counted in ``unjudged`` (by status) and left out of every rate,
    never counted as a 0.

    Returns the ``labelled`` section: ``n`` (judged rows), ``unjudged``,
    ``threshold``, ``confusion`` (``tp``, ``fp``, ``tn``, ``fn``), each metric of
    `METRICS` as a number, ``ci95`` (metric -> ``[low, high]``), ``bootstrap``
    (``resamples``, ``seed``) and ``false_positives`` / ``false_negatives`` examples.
    """
    tp = fp = tn = fn = 0
    unjudged: Counter[str] = Counter()
    fps: list[dict[str, Any]] = []
    fns: list[dict[str, Any]] = []
    for row, score in zip(rows, scores, strict=True):
        if row.label is None:
            continue
        if score.status is not Status.OK or score.value is None:
            unjudged[score.status.value] += 1
            continue
        predicted = score.value >= threshold - 1e-6
        if predicted and row.label:
            tp += 1
        elif predicted:
            fp += 1
            fps.append(_example(row, score))
        elif row.label:
            fn += 1
            fns.append(_example(row, score))
        else:
            tn += 1
    counts = (tp, fp, tn, fn)
    section: dict[str, Any] = {
        "n": sum(counts),
        "unjudged": dict(sorted(unjudged.items())),
        "threshold": threshold,
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
    }
    arrays = [np.asarray(float(c)) for c in counts]
    for name, fn_metric in METRICS.items():
        value = float(fn_metric(*arrays))
        section[name] = None if np.isnan(value) else value
    section["ci95"] = bootstrap_intervals(counts, resamples=resamples, seed=seed)
    section["bootstrap"] = {"resamples": resamples, "seed": seed, "method": "percentile"}
    section["false_positives"] = fps[:max_examples]
    section["false_negatives"] = fns[:max_examples]
    return section


def _example(row: AuditRow, score: Score) -> dict[str, Any]:
    return {
        "row": row.index,
        "line": row.line,
        "id": row.id,
        "reference": clip_text(row.reference_text or ""),
        "completion": clip_text(_text(row.completion)),
        "label": row.label,
        "value": score.value,
        "reason": score.reason,
    }


def _text(completion: Any) -> str:
    from rewardlab._types import Sample

    return Sample(completion=completion).completion_text if completion is not None else ""
