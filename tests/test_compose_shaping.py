"""Shaping transforms and group rewards against hand-computed values, plus their properties."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _compose_rewards
import rewardlab
from rewardlab import Status
from rewardlab.compose import (
    Term,
    affine,
    clip,
    gated_accumulation,
    length_correlation,
    length_penalty,
    lsc,
    lsc_and,
    pairwise_win_rate,
    par,
    running_normalize,
    weighted_sum,
)

V = rewardlab.load("test_compose_value")


def one(reward: rewardlab.Reward, **fields: object) -> rewardlab.Score:
    return reward.score([{"completion": "c", **fields}])[0]


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_clip_and_affine() -> None:
    assert [one(clip(V, -1, 2), value=x).value for x in (-5, 0.5, 9)] == [-1.0, 0.5, 2.0]
    assert one(affine(V, scale=-2, shift=0.5), value=3).value == -5.5
    assert one(affine(V, 2, 1), value=2).components == {"test_compose_value": 2.0}


@pytest.mark.parametrize("transform", [clip(V, 0, 1), affine(V, 2, 1), running_normalize(V), lsc(V, reference=0)])
@pytest.mark.parametrize(
    ("bad", "status"), [("boom", Status.ERROR), (None, Status.ABSTAIN), ("timeout", Status.TIMEOUT)]
)
def test_transforms_pass_failures_through(transform: rewardlab.Reward, bad: object, status: Status) -> None:
    s = one(transform, value=bad)
    assert s.status is status and s.value is None


def test_running_normalize_hand_values() -> None:
    r = running_normalize(V, eps=0.0 + 1e-12)
    first = [s.value for s in r.score([{"completion": "c", "value": x} for x in (1.0, 3.0)])]
    # stats after batch 1: mean 2, population std 1
    assert first == pytest.approx([-1.0, 1.0])
    second = r.score([{"completion": "c", "value": 8.0}])[0]
    # after batch 2: values 1, 3, 8 -> mean 4, population var (9 + 1 + 16) / 3
    assert second.value == pytest.approx((8 - 4) / math.sqrt(26 / 3))
    assert second.components["running_mean"] == pytest.approx(4.0)
    assert r.count == 3
    restored = pickle.loads(pickle.dumps(r))
    assert restored.count == 3 and restored.mean == pytest.approx(4.0)
    clipped = running_normalize(V, clip=0.5).score([{"completion": "c", "value": x} for x in (0.0, 10.0)])
    assert [s.value for s in clipped] == [-0.5, 0.5]


def test_par_hand_values_from_field_and_from_reference_completions() -> None:
    r = par(V, k=2.0, reference_rewards_field="refs")
    s = one(r, value=1.0, refs=[0.0, 1.0, 3.0])
    assert s.value == pytest.approx((sig(2.0) + sig(0.0) + sig(-4.0)) / 3)
    assert s.components["references"] == 3.0
    assert one(r, value=1.0, refs=0.5).value == pytest.approx(sig(1.0))
    assert one(r, value=1.0).status is Status.ABSTAIN
    assert one(r, value=1.0, refs=["x"]).status is Status.ABSTAIN
    from_completions = par("length", reference_completions_field="others")
    s = from_completions.score([{"completion": "abcd", "others": ["ab", "abcdef"]}])[0]
    assert s.value == pytest.approx((sig(2.0) + sig(-2.0)) / 2)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-1e6, 1e6),
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=8),
    st.floats(0.01, 50),
)
def test_par_is_bounded_in_the_open_unit_interval(r: float, refs: list[float], k: float) -> None:
    value = one(par(V, k=k, reference_rewards_field="refs"), value=r, refs=refs).value
    assert value is not None and 0.0 <= value <= 1.0
    if all(abs(k * (r - ref)) <= 30 for ref in refs):
        assert 0.0 < value < 1.0


def test_lsc_and_its_and_combination() -> None:
    assert one(lsc(V, reference=1.0), value=3.0).value == pytest.approx(math.log(sig(2.0)))
    assert one(lsc(V, reference_field="ref"), value=-40.0, ref=0.0).value == pytest.approx(-40.0, rel=1e-12)
    assert one(lsc(V, reference_field="ref"), value=1.0).status is Status.ABSTAIN
    with pytest.raises(ValueError):
        lsc(V)
    both = lsc_and(
        (Term(rewardlab.load("test_compose_value", field="a"), 2.0, name="a"), 0.5), (Term(V, name="b"), "ref")
    )
    s = one(both, a=1.5, value=-1.0, ref=1.0)
    assert s.value == pytest.approx(2 * math.log(sig(1.0)) + math.log(sig(-2.0)))
    assert s.components == {"a": 1.5, "b": -1.0}
    assert one(both, a="boom", value=1.0, ref=0.0).status is Status.ERROR


@settings(max_examples=100, deadline=None)
@given(st.floats(-50, 50), st.floats(-50, 50))
def test_lsc_is_negative_and_monotone(a: float, b: float) -> None:
    r = lsc(V, reference=0.0)
    va, vb = one(r, value=a).value, one(r, value=b).value
    assert va is not None and vb is not None and va < 0 and vb < 0
    if a < b:
        assert va <= vb


def test_gated_accumulation_hand_values() -> None:
    r = gated_accumulation(V, threshold=1.0, steps_field="steps", step_weight=0.5)
    opened = one(r, value=1.0, steps=[0.2, 0.4])
    assert opened.value == pytest.approx(1.0 + 0.5 * 0.6)
    assert opened.components["gate_open"] == 1.0 and opened.components["immediate"] == pytest.approx(0.6)
    closed = one(r, value=0.0, steps=[0.2, 0.4])
    assert closed.value == 0.0 and closed.components["gate_open"] == 0.0
    assert one(r, value=1.0).value == 1.0  # no steps recorded
    assert one(r, value=1.0, steps=[1.0, float("nan")]).status is Status.ABSTAIN


def test_length_penalty_hand_values_and_cap() -> None:
    r = length_penalty(V, target=3, coef=0.1, unit="words", length_field=None)
    s = r.score([{"completion": "a b c d e", "value": 1.0}])[0]
    assert s.value == pytest.approx(1.0 - 0.2)
    assert s.components["length"] == 5 and s.components["length_penalty"] == pytest.approx(0.2)
    assert r.score([{"completion": "a b", "value": 1.0}])[0].value == 1.0
    capped = length_penalty(V, target=0, coef=1.0, max_penalty=0.25, unit="chars", length_field=None)
    assert capped.score([{"completion": "abcdef", "value": 1.0}])[0].value == 0.75
    tokens = length_penalty(V, target=10, coef=0.01)
    assert tokens.score([{"completion": "x", "value": 1.0, "completion_tokens": 30}])[0].value == pytest.approx(0.8)
    assert tokens.score([{"completion": "x", "value": 1.0}])[0].status is Status.ABSTAIN  # no token count


def test_length_correlation_hand_values() -> None:
    scores = [rewardlab.Score.ok(v) for v in (1.0, 2.0, 3.0)] + [rewardlab.Score.error("x")]
    assert length_correlation(scores, [10, 20, 30, 40]) == {"n": 3, "pearson": 1.0, "spearman": 1.0}
    out = length_correlation([1.0, 3.0, 2.0, 5.0], [1, 2, 3, 4])
    # pearson by hand: x mean 2.75, y mean 2.5
    sxy = (-1.75 * -1.5) + (0.25 * -0.5) + (-0.75 * 0.5) + (2.25 * 1.5)
    sxx = 1.75**2 + 0.25**2 + 0.75**2 + 2.25**2
    assert out["pearson"] == pytest.approx(sxy / math.sqrt(sxx * 5.0))
    assert out["spearman"] == pytest.approx(0.8)
    assert length_correlation([1.0, 1.0, 1.0], [1, 2, 3])["pearson"] is None


def test_pairwise_win_rate_with_a_preference_function() -> None:
    r = pairwise_win_rate(_compose_rewards.longer)
    samples = [
        {"completion": c, "prompt": p} for c, p in [("aa", "p"), ("a", "p"), ("aaa", "p"), ("bb", "p"), ("z", "q")]
    ]
    out = r.score(samples)
    assert [s.value for s in out[:4]] == pytest.approx([(1 + 0 + 0.5) / 3, 0.0, 1.0, (1 + 0 + 0.5) / 3])
    assert out[4].status is Status.ABSTAIN  # alone in its group
    assert sum(s.value for s in out[:4]) == pytest.approx(4 * 3 / 2 / 3)  # every pair hands out one win
    refused = r.score([{"completion": c, "prompt": "p"} for c in ["aa", "x", "a"]])
    assert [s.value for s in refused] == [1.0, None, 0.0]
    assert refused[1].status is Status.ERROR and refused[0].components["opponents"] == 1.0
    assert rewardlab.load(r.signature).score(samples)[2].value == 1.0  # module-level function: loadable


def _judge(a: rewardlab.Sample, b: rewardlab.Sample) -> object:
    """A preference that misbehaves on pairs involving the completions 'raise', 'big', 'nan' or 'text'."""
    for s in (a, b):
        if s.completion_text == "raise":
            raise RuntimeError("judge backend down")
        if s.completion_text in ("big", "nan", "text"):
            return {"big": 1.5, "nan": float("nan"), "text": "0.5"}[s.completion_text]
    return float(len(a.completion_text) > len(b.completion_text))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("raise", "preference raised RuntimeError: judge backend down"),
        ("big", "preference returned 1.5, outside [0, 1]"),
        ("nan", "preference returned nan, outside [0, 1]"),
        ("text", "preference returned '0.5', not a probability"),
    ],
)
@pytest.mark.parametrize("symmetric", [False, True])
def test_pairwise_win_rate_a_failing_preference_makes_the_pair_an_error(bad: str, reason: str, symmetric: bool) -> None:
    r = pairwise_win_rate(_judge, symmetric=symmetric)
    rows = [{"completion": c, "prompt": "p", "id": f"s{k}"} for k, c in enumerate(["aa", bad, "a", "aaa"])]
    out = r.score(rows)
    # the bad sample fails against every opponent; each opponent fails against it
    assert [s.status for s in out] == [Status.ERROR] * 4
    assert out[1].reason == f"against sample 's0': {reason}"
    assert out[0].reason == f"against sample 's1': {reason}"
    assert out[3].reason == f"against sample 's1': {reason}"
    # samples in other groups, and pairs that gave verdicts, are not affected
    out = r.score(rows + [{"completion": c, "prompt": "q"} for c in ["bb", "b"]])
    assert [s.value for s in out[4:]] == [1.0, 0.0] and out[4].reason == ""


def test_pairwise_win_rate_a_pair_left_out_is_said_in_the_reason() -> None:
    r = pairwise_win_rate(_compose_rewards.longer)
    out = r.score([{"completion": c, "prompt": "p"} for c in ["aa", "x", "a"]])
    assert out[0].value == 1.0 and out[0].reason == "1 of 2 opponents left out (no verdict)"
    bt = pairwise_win_rate(V, group_by="g")
    out = bt.score([{"completion": "c", "g": 1, "value": v} for v in (0.0, "timeout", 0.0)])
    assert out[0].value == 0.5 and out[0].reason == "1 of 2 opponents left out (their test_compose_value is not ok)"


def test_pairwise_win_rate_symmetric_and_bradley_terry() -> None:
    def first_wins(a: rewardlab.Sample, b: rewardlab.Sample) -> float:
        return 0.9  # pure position bias

    biased = pairwise_win_rate(first_wins)
    fair = pairwise_win_rate(first_wins, symmetric=True)
    samples = [{"completion": c, "prompt": "p"} for c in "ab"]
    assert [s.value for s in biased.score(samples)] == pytest.approx([0.9, 0.1])
    assert [s.value for s in fair.score(samples)] == pytest.approx([0.5, 0.5])
    bt = pairwise_win_rate(V, group_by="g", temperature=2.0)
    out = bt.score([{"completion": "c", "g": 1, "value": v} for v in (0.0, 2.0, 4.0)])
    assert out[0].value == pytest.approx((sig(-1.0) + sig(-2.0)) / 2)
    assert out[1].value == pytest.approx((sig(1.0) + sig(-1.0)) / 2)
    assert out[2].components["test_compose_value"] == 4.0


def test_transforms_keep_no_per_batch_state_between_concurrent_calls() -> None:
    from concurrent.futures import ThreadPoolExecutor

    r = par(V, reference_rewards_field="refs")
    batches = [
        [{"completion": "c", "value": float(b), "refs": [float(b + j) for j in range(b % 5 + 1)]} for _ in range(b + 1)]
        for b in range(40)
    ]
    expected = [[s.value for s in r.score(batch)] for batch in batches]
    with ThreadPoolExecutor(8) as threads:
        got = list(threads.map(lambda batch: [s.value for s in r.score(batch)], batches))
    assert got == expected


def test_a_stateful_reward_is_never_shipped_to_workers_by_the_runner() -> None:
    # the runner behind audit, bench and the score job ships cheap rewards' batches to worker
    # processes; a running normaliser there would restart from this process's state every batch
    from rewardlab.runtime._runner import Runner

    size = 500
    rows = [rewardlab.Sample(completion="c", extras={"value": float(i % 17)}) for i in range(2 * size + 300)]
    assert running_normalize(V).stateful and weighted_sum(Term(running_normalize(V), 1.0)).stateful
    assert not V.stateful
    reference = running_normalize(V)
    expected = [s.value for k in range(0, len(rows), size) for s in reference.score(rows[k : k + size])]
    with Runner(running_normalize(V), workers=2, ship=True, batch_size=size) as runner:
        assert not runner.shipped
        got = [s.value for s in runner.score(rows)]
    assert got == pytest.approx(expected)
