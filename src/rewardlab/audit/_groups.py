"""Training-signal diagnostics: reward distribution, length bias, components, and GRPO groups."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

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
    members: dict[str, list[tuple[AuditRow, Score]]] = defaultdict(list)
    for row, score in zip(rows, scores, strict=True):
        members["" if row.group is None else row.group].append((row, score))
    sizes = [len(m) for m in members.values()]
    all_values = [s.value for s in scores if s.status is Status.OK and s.value is not None]
    top, bottom = max(all_values, default=None), min(all_values, default=None)
    informative = zero = all_max = all_min = 0
    stds: list[float] = []
    corrs: list[float] = []
    examples: list[dict[str, Any]] = []
    for key, items in members.items():
        ok = [(r, s.value) for r, s in items if s.status is Status.OK and s.value is not None]
        if len(ok) < 2:
            continue
        informative += 1
        values = [v for _, v in ok]
        spread = max(values) - min(values)
        stds.append(std(values) or 0.0)
        if spread <= ZERO_VARIANCE_TOLERANCE:
            zero += 1
            if top is not None and abs(values[0] - top) <= ZERO_VARIANCE_TOLERANCE:
                all_max += 1
            elif bottom is not None and abs(values[0] - bottom) <= ZERO_VARIANCE_TOLERANCE:
                all_min += 1
            if len(examples) < max_examples:
                examples.append({"group": clip_text(key, 200), "size": len(items), "value": values[0]})
        else:
            corr = pearson([float(completion_length(r.completion)) for r, _ in ok], values)
            if corr is not None:
                corrs.append(corr)
    return {
        "field": field,
        "n_groups": len(members),
        "size": {"mean": mean([float(s) for s in sizes]), "min": min(sizes, default=0), "max": max(sizes, default=0)},
        "informative_groups": informative,
        "zero_variance_groups": zero,
        "zero_variance_share": zero / informative if informative else None,
        "all_max_groups": all_max,
        "all_min_groups": all_min,
        "mean_within_group_std": mean(stds),
        "within_group_length_correlation": mean(corrs),
        "zero_variance_examples": examples,
    }
