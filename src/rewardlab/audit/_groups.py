"""Training-signal diagnostics: reward distribution, length bias, components, and GRPO groups."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab._stats import pearson, spearman
from rewardlab._types import Sample, Score, Status
from rewardlab.audit._data import AuditRow
from rewardlab.audit._stats import clip_text, histogram, mean, std

ZERO_VARIANCE_TOLERANCE = 1e-9
"""Rewards in a group that differ by less than this count as equal (no advantage signal)."""

SCATTER_POINTS = 1500
"""At most this many (length, reward) points are kept for the report's scatter plot."""


def completion_length(completion: Any) -> int:
    """Length of a completion in characters (Unicode code points) of its text."""
    return len(Sample(completion=completion).completion_text) if completion is not None else 0


def signal_section(
    lengths: Sequence[int],
    scores: Sequence[Score],
    value_range: tuple[float, float],
    *,
    source: str,
    seed: int = 0,
) -> dict[str, Any]:
    """Distribution and length bias of the rewards of a set of completions.

    Returns the ``signal`` section: ``source`` (``data`` for the file's
    completions, ``probes`` when the data has none), ``n``, ``statuses``,
    ``mean``, ``std``, ``min``, ``max``, ``distinct_values``, ``histogram``
    (``edges``, ``counts``), ``length_correlation`` (``pearson``, ``spearman``
    between reward and length in characters, over ``ok`` scores),
    ``components`` (name -> ``n``, ``mean``, ``std``, ``min``, ``max``,
    ``corr_with_reward``), ``component_correlations`` (``"a|b"`` -> Pearson)
    and ``scatter`` (up to `SCATTER_POINTS` ``[length, reward]`` pairs).
    """
    import random

    statuses = Counter(s.status.value for s in scores)
    pairs = [(n, s) for n, s in zip(lengths, scores, strict=True) if s.status is Status.OK and s.value is not None]
    values = [float(s.value) for _, s in pairs if s.value is not None]
    lens = [float(n) for n, _ in pairs]
    comps: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _, s in pairs:
        for key, comp in s.components.items():
            if math.isfinite(comp) and s.value is not None:
                comps[key].append((comp, s.value))
    components = {
        key: {
            "n": len(items),
            "mean": mean([c for c, _ in items]),
            "std": std([c for c, _ in items]),
            "min": min(c for c, _ in items),
            "max": max(c for c, _ in items),
            "corr_with_reward": pearson([c for c, _ in items], [v for _, v in items]),
        }
        for key, items in sorted(comps.items())
    }
    correlations: dict[str, float | None] = {}
    names = sorted(comps)
    by_sample = [dict(s.components) for _, s in pairs]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = [(c[a], c[b]) for c in by_sample if a in c and b in c]
            correlations[f"{a}|{b}"] = pearson([x for x, _ in both], [y for _, y in both])
    points = [[n, v] for n, v in zip(lens, values, strict=True)]
    if len(points) > SCATTER_POINTS:
        points = random.Random(seed).sample(points, SCATTER_POINTS)
    return {
        "source": source,
        "n": len(scores),
        "statuses": dict(sorted(statuses.items())),
        "mean": mean(values),
        "std": std(values),
        "min": min(values, default=None),
        "max": max(values, default=None),
        "distinct_values": len({round(v, 9) for v in values}),
        "histogram": histogram(values, value_range[0], value_range[1]),
        "length_correlation": {"pearson": pearson(lens, values), "spearman": spearman(lens, values)},
        "components": components,
        "component_correlations": correlations,
        "scatter": points,
    }


def groups_section(
    rows: Sequence[AuditRow], scores: Sequence[Score], field: str, *, max_examples: int = 5
) -> dict[str, Any]:
    """GRPO-style group diagnostics.

    Rows with the same value of ``field`` form a group. A group with at least
    two ``ok`` rewards is *informative*; among those, a *zero-variance* group
    has all rewards equal (within `ZERO_VARIANCE_TOLERANCE`), so a group
    advantage ``r - mean(r)`` is 0 for every member and the group teaches
    nothing. ``zero_variance_share`` = zero-variance groups / informative groups.

    Returns the ``groups`` section: ``field``, ``n_groups``, ``size`` (``mean``,
    ``min``, ``max``), ``informative_groups``, ``zero_variance_groups``,
    ``zero_variance_share``, ``all_max_groups`` / ``all_min_groups`` (zero-variance
    groups at the group's best and worst observed reward over the whole data),
    ``mean_within_group_std``, ``within_group_length_correlation`` (mean
    Pearson of reward vs length inside informative, non-constant groups) and
    ``zero_variance_examples``.
    """
    index: dict[str, int] = {}  # group key -> code, in order of first appearance
    codes: list[int] = []
    for row in rows:
        codes.append(index.setdefault("" if row.group is None else row.group, len(index)))
    keys = list(index)
    size = len(keys)
    sizes = np.bincount(np.asarray(codes, dtype=np.intp), minlength=size)
    ok_rows = [
        (code, row, score.value)
        for code, row, score in zip(codes, rows, scores, strict=True)
        if score.status is Status.OK and score.value is not None
    ]
    group = np.fromiter((code for code, _, _ in ok_rows), dtype=np.intp, count=len(ok_rows))
    values = np.fromiter((value for _, _, value in ok_rows), dtype=np.float64, count=len(ok_rows))

    counts = np.bincount(group, minlength=size)
    informative = counts >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.bincount(group, weights=values, minlength=size) / counts
        deviation = values - means[group]
        stds = np.sqrt(np.bincount(group, weights=deviation * deviation, minlength=size) / counts)
    high, low = np.full(size, -np.inf), np.full(size, np.inf)
    np.maximum.at(high, group, values)
    np.minimum.at(low, group, values)
    zero = informative & (high - low <= ZERO_VARIANCE_TOLERANCE)
    first = np.full(size, len(ok_rows), dtype=np.intp)  # each group's first ok reward, in row order
    np.minimum.at(first, group, np.arange(len(ok_rows), dtype=np.intp))
    first_value = np.zeros(size)
    has_ok = counts > 0
    first_value[has_ok] = values[first[has_ok]]
    if values.size:  # zero-variance groups at the best (else at the worst) reward seen anywhere
        top, bottom = float(values.max()), float(values.min())
        at_top = zero & (np.abs(first_value - top) <= ZERO_VARIANCE_TOLERANCE)
        at_bottom = zero & ~at_top & (np.abs(first_value - bottom) <= ZERO_VARIANCE_TOLERANCE)
    else:
        at_top = at_bottom = np.zeros(size, dtype=bool)

    # Pearson of reward against completion length inside each non-constant informative group
    # (as `pearson`: at least 3 points, neither side constant)
    lengths = np.fromiter(
        (completion_length(row.completion) for code, row, _ in ok_rows if informative[code] and not zero[code]),
        dtype=np.float64,
    )
    used = (informative & ~zero)[group]
    g, v = group[used], values[used]
    length_high, length_low = np.full(size, -np.inf), np.full(size, np.inf)
    np.maximum.at(length_high, g, lengths)
    np.minimum.at(length_low, g, lengths)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = lengths - (np.bincount(g, weights=lengths, minlength=size) / counts)[g]
        dy = v - means[g]
        sxx = np.bincount(g, weights=dx * dx, minlength=size)
        syy = np.bincount(g, weights=dy * dy, minlength=size)
        corr = np.clip(np.bincount(g, weights=dx * dy, minlength=size) / np.sqrt(sxx * syy), -1.0, 1.0)
    correlated = informative & ~zero & (counts >= 3) & (length_high > length_low) & (sxx > 0) & (syy > 0)

    examples = [
        {"group": clip_text(keys[code], 200), "size": int(sizes[code]), "value": float(first_value[code])}
        for code in np.flatnonzero(zero)[:max_examples].tolist()
    ]
    n_informative = int(informative.sum())
    n_zero = int(zero.sum())
    return {
        "field": field,
        "n_groups": size,
        "size": {
            "mean": float(sizes.mean()) if size else None,
            "min": int(sizes.min()) if size else 0,
            "max": int(sizes.max()) if size else 0,
        },
        "informative_groups": n_informative,
        "zero_variance_groups": n_zero,
        "zero_variance_share": n_zero / n_informative if n_informative else None,
        "all_max_groups": int(at_top.sum()),
        "all_min_groups": int(at_bottom.sum()),
        "mean_within_group_std": float(stds[informative].mean()) if n_informative else None,
        "within_group_length_correlation": float(corr[correlated].mean()) if correlated.any() else None,
        "zero_variance_examples": examples,
    }
