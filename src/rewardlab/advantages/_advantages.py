"""Group advantages: GRPO, Dr. GRPO, RLOO, BNPO and GDPO-style multi-reward normalisation."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

Estimator = Literal["grpo", "drgrpo", "rloo", "bnpo", "normalize_then_sum"]
ESTIMATORS: tuple[str, ...] = ("grpo", "drgrpo", "rloo", "bnpo", "normalize_then_sum")

DEFAULT_EPS = 1e-6
"""Added to the standard deviation before dividing (GRPO, GDPO). verl uses 1e-6; TRL uses 1e-4
(pass ``eps=1e-4`` to match TRL exactly). It only matters for near-constant groups: exactly
constant groups get 0 without dividing at all."""

BNPO_MAX_WEIGHT = 1e6
"""Cap on BNPO's ``1 / f_N(p)``: the Beta density vanishes at p = 0 or 1 when alpha or beta > 1."""

RewardValue = float | int | None
RewardRow = RewardValue | Sequence[RewardValue]


def _usable(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _std_unbiased(values: Sequence[float], mean: float) -> float:
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _standardise(values: list[float], eps: float) -> list[float]:
    """``(r - mean) / (std + eps)`` with unbiased std; a constant list (or a single value) gives zeros."""
    if len(values) < 2 or max(values) == min(values):
        return [0.0] * len(values)
    mean = _mean(values)
    std = _std_unbiased(values, mean)
    if std + eps == 0.0:  # differences so small their squares underflow, with eps = 0
        return [0.0] * len(values)
    return [(v - mean) / (std + eps) for v in values]


def _groups(keys: Sequence[Hashable], valid: Sequence[bool]) -> dict[Hashable, list[int]]:
    groups: dict[Hashable, list[int]] = {}
    for i, (key, ok) in enumerate(zip(keys, valid, strict=False)):
        if ok:
            groups.setdefault(key, []).append(i)
    return groups


def _beta_pdf(p: float, alpha: float, beta: float) -> float:
    log_norm = math.lgamma(alpha + beta) - math.lgamma(alpha) - math.lgamma(beta)
    log_density = log_norm
    for exponent, x in ((alpha - 1.0, p), (beta - 1.0, 1.0 - p)):
        if exponent == 0.0:
            continue
        if x <= 0.0:
            return 0.0 if exponent > 0 else math.inf
        log_density += exponent * math.log(x)
    return math.exp(log_density)


def bnpo_beta_parameters(group_means: Sequence[float]) -> tuple[float, float]:
    """BNPO's normalising Beta parameters from the batch's per-group success rates.

    With ``mu`` and ``var`` the mean and unbiased variance of the group means
    ``p`` (method of moments for ``p ~ Beta(a, b)``)::

        a = (mu (1 - mu) / var - 1) * mu
        b = (mu (1 - mu) / var - 1) * (1 - mu)
        alpha = max(1 + a / 3, 1),  beta = max(1 + b / 3, 1)

    With fewer than two groups, or zero variance, ``alpha = beta = 1`` (a
    uniform density, so BNPO reduces to REINFORCE with a group-mean baseline).
    """
    if len(group_means) < 2:
        return 1.0, 1.0
    mu = _mean(group_means)
    var = math.fsum((p - mu) ** 2 for p in group_means) / (len(group_means) - 1)
    if var <= 0.0:
        return 1.0, 1.0
    factor = mu * (1.0 - mu) / var - 1.0
    a, b = factor * mu, factor * (1.0 - mu)
    return max(1.0 + a / 3.0, 1.0), max(1.0 + b / 3.0, 1.0)


def _bnpo(
    values: list[float | None], keys: Sequence[Hashable], min_value: float, max_value: float
) -> list[float | None]:
    if not max_value > min_value:
        raise ValueError(f"bnpo: max_value ({max_value}) must exceed min_value ({min_value})")
    scaled: list[float | None] = []
    for i, v in enumerate(values):
        if v is None:
            scaled.append(None)
            continue
        s = (v - min_value) / (max_value - min_value)
        if not -1e-12 <= s <= 1 + 1e-12:
            raise ValueError(
                f"bnpo: reward {v} at row {i} is outside [min_value, max_value] = [{min_value}, {max_value}]"
            )
        scaled.append(min(max(s, 0.0), 1.0))
    groups = _groups(keys, [s is not None for s in scaled])
    means = {key: _mean([scaled[i] for i in rows]) for key, rows in groups.items()}  # type: ignore[misc]
    alpha, beta = bnpo_beta_parameters(list(means.values()))
    out: list[float | None] = [None] * len(values)
    for key, rows in groups.items():
        p = means[key]
        density = _beta_pdf(p, alpha, beta)
        weight = BNPO_MAX_WEIGHT if density <= 0 else min(1.0 / density, BNPO_MAX_WEIGHT)
        for i in rows:
            out[i] = weight * (scaled[i] - p)  # type: ignore[operator]
    return out


def group_advantages(
    rewards: Sequence[RewardRow],
    groups: Sequence[Hashable],
    estimator: Estimator | str = "grpo",
    *,
    eps: float = DEFAULT_EPS,
    weights: Sequence[float] | None = None,
    batch_normalize: bool = True,
    min_value: float = 0.0,
    max_value: float = 1.0,
) -> list[float | None]:
    """Advantages of rewards relative to their group (the completions of one prompt).

    Rewards that are ``None``, NaN or infinite (a non-``ok`` score) are left
    out of their group's statistics and get advantage ``None``, never 0.
    Below, ``r`` is a usable reward and ``n`` the number of usable rewards in
    its group, ``mean`` their mean and ``std`` their unbiased (n - 1) standard
    deviation.

    - ``grpo``: ``(r - mean) / (std + eps)``. A group whose rewards are all
      equal gets 0 (no signal; no division by ``eps``). A group of one gets 0.
    - ``drgrpo`` (Dr. GRPO, Liu et al., 2025): ``r - mean``. Group of one: 0.
    - ``rloo`` (Ahmadian et al., 2024): ``r - mean of the other n - 1``
      ``= n / (n - 1) * (r - mean)``. Group of one: ``None`` (no baseline).
    - ``bnpo`` (Xiao et al., 2025, "BNPO: Beta Normalization Policy
      Optimization"): rewards are mapped to [0, 1] by
      ``s = (r - min_value) / (max_value - min_value)`` (an error if outside);
      ``p`` = group mean of ``s``; ``alpha, beta`` from the batch's group means
      (see `bnpo_beta_parameters`); advantage ``(s - p) / f(p; alpha, beta)``
      with ``f`` the Beta density and ``1 / f`` capped at 1e6. A group of one
      has ``p = s`` and gets 0 (the authors' code uses ``p = 0`` there).
    - ``normalize_then_sum`` (GDPO, Liu et al., 2026): each row holds K
      rewards; each reward is standardised within the group as in ``grpo``,
      the results are summed with ``weights`` (default 1), and the sums are
      standardised once more over the whole batch (``batch_normalize``; mean
      and unbiased std over all usable rows). A row with any reward missing
      gets ``None``.

    Args:
        rewards: One reward per row (K rewards per row for ``normalize_then_sum``).
        groups: One hashable group key per row (rows of a group need not be adjacent).
        estimator: One of ``ESTIMATORS``.
        eps: Added to std in ``grpo`` and ``normalize_then_sum``.
        weights: Per-reward weights for ``normalize_then_sum``.
        batch_normalize: The final batch-wide standardisation of ``normalize_then_sum``.
        min_value: Lowest possible reward, for ``bnpo``'s mapping to [0, 1].
        max_value: Highest possible reward, for ``bnpo``.

    Example:
        >>> group_advantages([1.0, 0.0, None, 1.0], ["a", "a", "a", "b"], "drgrpo")
        [0.5, -0.5, None, 0.0]
    """
    if len(rewards) != len(groups):
        raise ValueError(f"{len(rewards)} rewards but {len(groups)} group keys")
    if not eps >= 0:
        raise ValueError("eps must be non-negative")
    if estimator == "normalize_then_sum":
        return _normalize_then_sum(rewards, groups, eps, weights, batch_normalize)
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    values: list[float | None] = []
    for i, r in enumerate(rewards):
        if isinstance(r, Sequence) and not isinstance(r, str):
            raise ValueError(f"row {i}: estimator {estimator!r} takes one reward per row, got {len(r)}")
        values.append(_usable(r))
    if estimator == "bnpo":
        return _bnpo(values, groups, min_value, max_value)
    out: list[float | None] = [None] * len(values)
    for rows in _groups(groups, [v is not None for v in values]).values():
        group = [values[i] for i in rows]
        assert all(v is not None for v in group)
        vals: list[float] = group  # type: ignore[assignment]
        n = len(vals)
        if estimator == "grpo":
            adv: list[float | None] = list(_standardise(vals, eps))
        elif estimator == "drgrpo":
            m = _mean(vals)
            adv = [v - m for v in vals]
        else:
            total = math.fsum(vals)
            adv = [None] if n == 1 else [v - (total - v) / (n - 1) for v in vals]
        for i, a in zip(rows, adv, strict=False):
            out[i] = a
    return out


def _normalize_then_sum(
    rewards: Sequence[RewardRow],
    groups: Sequence[Hashable],
    eps: float,
    weights: Sequence[float] | None,
    batch_normalize: bool,
) -> list[float | None]:
    rows: list[list[float | None]] = []
    width: int | None = None
    for i, r in enumerate(rewards):
        vector = [r] if r is None or not isinstance(r, Sequence) or isinstance(r, str) else list(r)
        if width is None:
            width = len(vector)
        elif len(vector) != width:
            raise ValueError(f"row {i}: {len(vector)} rewards, but the first row has {width}")
        rows.append([_usable(v) for v in vector])
    width = width or 0
    w = [1.0] * width if weights is None else [float(x) for x in weights]
    if len(w) != width:
        raise ValueError(f"{len(w)} weights for {width} rewards per row")
    valid = [all(v is not None for v in row) for row in rows]
    sums: list[float | None] = [None] * len(rows)
    for members in _groups(groups, valid).values():
        total = [0.0] * len(members)
        for k in range(width):
            normalised = _standardise([rows[i][k] for i in members], eps)  # type: ignore[misc]
            total = [t + w[k] * z for t, z in zip(total, normalised, strict=False)]
        for i, t in zip(members, total, strict=False):
            sums[i] = t
    if not batch_normalize:
        return sums
    present = [s for s in sums if s is not None]
    batch = _standardise(present, eps)
    it = iter(batch)
    return [None if s is None else next(it) for s in sums]


def field_value(row: Mapping[str, object], field: str) -> object:
    """``row[field]``, or, for a dotted name absent as such, the nested value (``reward_components.format``)."""
    if field in row:
        return row[field]
    current: object = row
    for part in field.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current
