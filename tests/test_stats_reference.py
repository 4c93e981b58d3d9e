"""The vectorised statistics (advantages, audit sections) against straightforward references.

Each reference below is the textbook loop, one value and one group at a time, with
``math.fsum``. The numpy implementations must give the same values (to 1e-9 relative), the
same ``None`` where a value is undefined, and for group advantages TRL's own torch formula's
values (to 1e-6: TRL computes in float32).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardlab._stats import pearson, ranks, spearman
from rewardlab._types import Score
from rewardlab.advantages import group_advantages
from rewardlab.audit._data import AuditRow
from rewardlab.audit._groups import ZERO_VARIANCE_TOLERANCE, completion_length, groups_section
from rewardlab.audit._stats import histogram, mean, std


def close(a: Any, b: Any, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(b))


def all_close(a: Sequence[Any], b: Sequence[Any], tol: float = 1e-9) -> bool:
    return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b, strict=True))


# -- group advantages ------------------------------------------------------------------------------


def usable(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def groups_of(keys: Sequence[Hashable], present: Sequence[bool]) -> dict[Hashable, list[int]]:
    members: dict[Hashable, list[int]] = {}
    for i, (key, ok) in enumerate(zip(keys, present, strict=True)):
        if ok:
            members.setdefault(key, []).append(i)
    return members


def standardise(values: list[float], eps: float) -> list[float]:
    if len(values) < 2 or max(values) == min(values):
        return [0.0] * len(values)
    m = math.fsum(values) / len(values)
    s = math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))
    return [0.0] * len(values) if s + eps == 0 else [(v - m) / (s + eps) for v in values]


def reference_advantages(rewards: list[Any], keys: list[Hashable], estimator: str, eps: float) -> list[float | None]:
    values = [usable(r) for r in rewards]
    out: list[float | None] = [None] * len(values)
    for rows in groups_of(keys, [v is not None for v in values]).values():
        vals: list[float] = [values[i] for i in rows]  # type: ignore[misc]
        n, total = len(vals), math.fsum(vals)
        if estimator == "grpo":
            adv: list[float | None] = list(standardise(vals, eps))
        elif estimator == "drgrpo":
            adv = [v - total / n for v in vals]
        else:
            adv = [None] if n == 1 else [v - (total - v) / (n - 1) for v in vals]
        for i, a in zip(rows, adv, strict=True):
            out[i] = a
    return out


def reference_bnpo(rewards: list[Any], keys: list[Hashable]) -> list[float | None]:
    values = [usable(r) for r in rewards]
    members = groups_of(keys, [v is not None for v in values])
    means = {k: math.fsum(values[i] for i in rows) / len(rows) for k, rows in members.items()}  # type: ignore[misc]
    ps = list(means.values())
    alpha = beta = 1.0
    if len(ps) >= 2:
        mu = math.fsum(ps) / len(ps)
        var = math.fsum((p - mu) ** 2 for p in ps) / (len(ps) - 1)
        if var > 0:
            factor = mu * (1 - mu) / var - 1
            alpha, beta = max(1 + factor * mu / 3, 1.0), max(1 + factor * (1 - mu) / 3, 1.0)
    out: list[float | None] = [None] * len(values)
    for key, rows in members.items():
        p = means[key]
        if (p == 0 and alpha > 1) or (p == 1 and beta > 1):
            density = 0.0  # the Beta density vanishes at the edge
        else:  # in logarithms: the normalising constant alone overflows for large alpha, beta
            log_density = math.lgamma(alpha + beta) - math.lgamma(alpha) - math.lgamma(beta)
            log_density += (alpha - 1) * math.log(p) if alpha != 1 else 0.0
            log_density += (beta - 1) * math.log(1 - p) if beta != 1 else 0.0
            density = math.exp(log_density) if log_density < 709 else math.inf  # beyond floats: 1 / f is 0
        weight = 1e6 if density <= 0 else min(1 / density, 1e6)
        for i in rows:
            out[i] = weight * (values[i] - p)  # type: ignore[operator]
    return out


def reference_normalize_then_sum(rows: list[list[Any]], keys: list[Hashable], eps: float) -> list[float | None]:
    values = [[usable(v) for v in row] for row in rows]
    present = [all(v is not None for v in row) for row in values]
    width = len(values[0]) if values else 0
    sums: list[float | None] = [None] * len(rows)
    for members in groups_of(keys, present).values():
        total = [0.0] * len(members)
        for k in range(width):
            z = standardise([values[i][k] for i in members], eps)  # type: ignore[misc]
            total = [t + x for t, x in zip(total, z, strict=True)]
        for i, t in zip(members, total, strict=True):
            sums[i] = t
    batch = iter(standardise([s for s in sums if s is not None], eps))
    return [None if s is None else next(batch) for s in sums]


REWARD = st.one_of(
    st.floats(-1e3, 1e3),
    st.sampled_from([0.0, 1.0, 0, 1, None, float("nan"), float("inf"), True, "0.5", "x"]),
)
KEY = st.one_of(st.integers(-2, 4), st.sampled_from(["a", "b", "", (1, 2), 1.0, None]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(KEY, REWARD), max_size=40), st.sampled_from(["grpo", "drgrpo", "rloo"]), st.booleans())
def test_advantages_equal_the_reference(rows: list[tuple[Hashable, Any]], estimator: str, sorted_keys: bool) -> None:
    if sorted_keys:  # integer keys in order: the path that needs no hashing
        rows = sorted(((i // 3, r) for i, (_, r) in enumerate(rows)), key=lambda kv: kv[0])
    keys, rewards = [k for k, _ in rows], [r for _, r in rows]
    for eps in (0.0, 1e-6):
        got = group_advantages(rewards, keys, estimator, eps=eps)
        assert all_close(got, reference_advantages(rewards, keys, estimator, eps)), (got, rewards, keys)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.one_of(st.floats(0, 1), st.none())), max_size=40))
def test_bnpo_equals_the_reference(rows: list[tuple[int, float | None]]) -> None:
    keys, rewards = [k for k, _ in rows], [r for _, r in rows]
    assert all_close(group_advantages(rewards, keys, "bnpo"), reference_bnpo(rewards, keys), 1e-7)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3).flatmap(lambda k: st.lists(st.tuples(KEY, st.lists(REWARD, min_size=k, max_size=k)))))
def test_normalize_then_sum_equals_the_reference(rows: list[tuple[Hashable, list[Any]]]) -> None:
    keys, rewards = [k for k, _ in rows], [r for _, r in rows]
    got = group_advantages(rewards, keys, "normalize_then_sum", eps=1e-6)
    assert all_close(got, reference_normalize_then_sum(rewards, keys, 1e-6))


def test_consecutive_groups_by_size_equal_group_keys() -> None:
    rewards = [1.0, 0.0, None, 1.0, 0.5, 0.5, 2.0, 0.0]
    keys = [i // 4 for i in range(8)]
    for estimator in ("grpo", "drgrpo", "rloo", "normalize_then_sum"):
        assert group_advantages(rewards, 4, estimator) == group_advantages(rewards, keys, estimator)
    with pytest.raises(ValueError, match="groups of 3"):
        group_advantages(rewards, 3)


def test_overflowing_rewards_raise_instead_of_a_silent_zero() -> None:
    with pytest.raises(OverflowError):
        group_advantages([1e308, -1e308, 1e308], ["g"] * 3, "grpo")


@pytest.mark.parametrize("estimator", ["grpo", "drgrpo", "rloo", "normalize_then_sum"])
def test_advantages_equal_trls_torch_formula(estimator: str) -> None:
    """TRL's GRPO/RLOO trainers' formulas on a batch laid out as TRL lays it out (groups of 8)."""
    torch = pytest.importorskip("torch")
    nanstd = pytest.importorskip("trl.trainer.utils").nanstd
    import random

    rnd = random.Random(3)
    n, g = 4000, 8
    single = [None if rnd.random() < 0.05 else float(rnd.random() < 0.4) for _ in range(n)]
    rewards: list[Any] = [[r, None if r is None else rnd.random()] for r in single]
    if estimator != "normalize_then_sum":
        rewards = single
    tensor = torch.tensor(
        [[math.nan if v is None else v for v in row] for row in rewards]
        if estimator == "normalize_then_sum"
        else [math.nan if v is None else v for v in rewards],
        dtype=torch.float64,
    )
    if estimator == "normalize_then_sum":
        grouped = tensor.view(-1, g, 2)
        summed = ((grouped - torch.nanmean(grouped, 1, True)) / (nanstd(grouped, 1, True) + 1e-4)).view(-1, 2)
        summed = summed.nansum(1)
        summed[torch.isnan(tensor).any(1)] = torch.nan
        theirs = ((summed - torch.nanmean(summed)) / (nanstd(summed) + 1e-4)).tolist()
    elif estimator == "rloo":
        grouped = tensor.view(-1, g)
        counts = (~torch.isnan(grouped)).sum(1, keepdim=True)
        theirs = (tensor - ((torch.nansum(grouped, 1, keepdim=True) - grouped) / (counts - 1)).view(-1)).tolist()
    else:
        grouped = tensor.view(-1, g)
        centred = tensor - torch.nanmean(grouped, 1).repeat_interleave(g)
        std = nanstd(grouped, 1).repeat_interleave(g)
        theirs = (centred if estimator == "drgrpo" else centred / (std + 1e-4)).tolist()
    ours = group_advantages(rewards, g, estimator, eps=1e-4)
    compared = [(a, b) for a, b in zip(ours, theirs, strict=True) if a is not None and not math.isnan(b)]
    assert len(compared) > 0.9 * n
    assert max(abs(a - b) for a, b in compared) <= 1e-6
    # rows TRL leaves NaN (unscorable) are exactly the rows rewardlab leaves None, plus RLOO's groups of one
    assert all(a is None for a, b in zip(ours, theirs, strict=True) if math.isnan(b))


# -- audit statistics ----------------------------------------------------------------------------------


def reference_pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 3 or n != len(ys) or min(xs) == max(xs) or min(ys) == max(ys):
        return None
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def reference_ranks(values: Sequence[float]) -> list[float]:
    return [
        sum(1 for w in values if w < v) + (sum(1 for w in values if w == v) + 1) / 2 for v in values
    ]  # rank = values below + the average position among the tied


FLOATS = st.lists(st.one_of(st.floats(-1e6, 1e6), st.integers(0, 3).map(float)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(FLOATS, st.data())
def test_correlations_and_ranks_equal_the_reference(xs: list[float], data: st.DataObject) -> None:
    ys = data.draw(st.lists(st.one_of(st.floats(-1e3, 1e3), st.just(1.0)), min_size=len(xs), max_size=len(xs)))
    assert ranks(xs) == reference_ranks(xs)
    assert close(pearson(xs, ys), reference_pearson(xs, ys), 1e-7)
    expected = None if len(xs) < 3 else reference_pearson(reference_ranks(xs), reference_ranks(ys))
    assert close(spearman(xs, ys), expected, 1e-7)


def test_correlation_of_non_finite_values_is_undefined() -> None:
    assert pearson([1.0, 2.0, math.nan], [1.0, 2.0, 3.0]) is None
    assert spearman([1.0, 2.0, math.inf], [1.0, 2.0, 3.0]) is None


@settings(max_examples=300, deadline=None)
@given(FLOATS, st.sampled_from([(0.0, 1.0), (-5.0, 5.0), (math.inf, 1.0), (1.0, 1.0)]), st.integers(1, 12))
def test_mean_std_histogram_equal_the_reference(
    values: list[float], value_range: tuple[float, float], bins: int
) -> None:
    if values:
        m = math.fsum(values) / len(values)
        assert close(mean(values), m)
        assert close(std(values), math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values)), 1e-7)
    else:
        assert mean(values) is None and std(values) is None
    low, high = value_range
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        low, high = min(values, default=0.0), max(values, default=1.0)
        high = high if high > low else low + 1.0
    width = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(max(int((v - low) / width), 0), bins - 1)] += 1
    got = histogram(values, *value_range, bins=bins)
    assert got["counts"] == counts and got["edges"] == [low + i * width for i in range(bins + 1)]


def reference_groups(rows: list[AuditRow], scores: list[Score]) -> dict[str, Any]:
    members: dict[str, list[tuple[AuditRow, Score]]] = {}
    for row, score in zip(rows, scores, strict=True):
        members.setdefault("" if row.group is None else row.group, []).append((row, score))
    ok_values = [s.value for s in scores if s.value is not None]
    informative = zero = all_max = all_min = 0
    stds, corrs = [], []
    for items in members.values():
        ok = [(r, s.value) for r, s in items if s.value is not None]
        if len(ok) < 2:
            continue
        informative += 1
        values = [v for _, v in ok]
        m = math.fsum(values) / len(values)
        stds.append(math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values)))
        if max(values) - min(values) <= ZERO_VARIANCE_TOLERANCE:
            zero += 1
            if abs(values[0] - max(ok_values)) <= ZERO_VARIANCE_TOLERANCE:
                all_max += 1
            elif abs(values[0] - min(ok_values)) <= ZERO_VARIANCE_TOLERANCE:
                all_min += 1
        else:
            corr = reference_pearson([float(completion_length(r.completion)) for r, _ in ok], values)
            if corr is not None:
                corrs.append(corr)
    return {
        "n_groups": len(members),
        "informative_groups": informative,
        "zero_variance_groups": zero,
        "all_max_groups": all_max,
        "all_min_groups": all_min,
        "mean_within_group_std": math.fsum(stds) / len(stds) if stds else None,
        "within_group_length_correlation": math.fsum(corrs) / len(corrs) if corrs else None,
    }


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "", "a", "b", "c"]),
            st.sampled_from(["x", "xx", "xxxx", ""]),
            st.one_of(st.none(), st.sampled_from([0.0, 1.0, 0.5]), st.floats(-2, 2)),
        ),
        max_size=40,
    )
)
def test_group_diagnostics_equal_the_reference(items: list[tuple[str | None, str, float | None]]) -> None:
    rows = [AuditRow(i, i + 1, str(i), None, None, None, None, c, None, g) for i, (g, c, _) in enumerate(items)]
    scores = [Score.error("failed") if v is None else Score.ok(v) for _, _, v in items]
    got = groups_section(rows, scores, "prompt")
    for key, expected in reference_groups(rows, scores).items():
        assert close(got[key], expected, 1e-7) if isinstance(expected, float) else got[key] == expected, key
    assert got["zero_variance_share"] == (
        got["zero_variance_groups"] / got["informative_groups"] if got["informative_groups"] else None
    )
