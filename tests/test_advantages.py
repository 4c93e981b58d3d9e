"""Group advantages: every estimator against hand-computed values, properties, and the command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rewardlab.advantages import DEFAULT_EPS, bnpo_beta_parameters, group_advantages


def std1(values: list[float]) -> float:
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def test_grpo_hand_values() -> None:
    rewards = [1.0, 0.0, 0.0, 1.0, 2.0, 2.0]
    groups = ["a", "a", "a", "a", "b", "b"]
    out = group_advantages(rewards, groups, "grpo", eps=0.0)
    s = std1([1, 0, 0, 1])  # = sqrt(1/3)
    assert out[:4] == pytest.approx([0.5 / s, -0.5 / s, -0.5 / s, 0.5 / s])
    assert out[4:] == [0.0, 0.0]  # zero variance: 0, no division by eps
    with_eps = group_advantages([1.0, 0.0], ["a", "a"], "grpo")
    assert with_eps[0] == pytest.approx(0.5 / (math.sqrt(0.5) + DEFAULT_EPS))


def test_drgrpo_and_rloo_hand_values() -> None:
    rewards = [3.0, 1.0, 2.0, 5.0]
    groups = ["g"] * 3 + ["h"]
    assert group_advantages(rewards, groups, "drgrpo") == pytest.approx([1.0, -1.0, 0.0, 0.0])
    rloo = group_advantages(rewards, groups, "rloo")
    assert rloo[:3] == pytest.approx([3 - 1.5, 1 - 2.5, 2 - 2.0])
    assert rloo[3] is None  # group of one: no leave-one-out baseline


def test_unusable_rewards_are_excluded_not_zero() -> None:
    rewards = [1.0, None, float("nan"), 0.0, float("inf")]
    out = group_advantages(rewards, ["g"] * 5, "drgrpo")
    assert out == [0.5, None, None, -0.5, None]  # the mean is over the two usable rewards only
    grpo = group_advantages([None, 1.0], ["g", "g"], "grpo")
    assert grpo == [None, 0.0]  # one usable reward left: a group of one
    assert group_advantages([None, None], ["g", "g"], "rloo") == [None, None]


def test_bnpo_hand_values() -> None:
    # Three groups of binary rewards: success rates p = 0.25, 0.5, 1.0
    rewards = [1, 0, 0, 0] + [1, 1, 0, 0] + [1, 1]
    groups = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
    ps = [0.25, 0.5, 1.0]
    mu = sum(ps) / 3
    var = sum((p - mu) ** 2 for p in ps) / 2
    factor = mu * (1 - mu) / var - 1
    alpha, beta = max(1 + factor * mu / 3, 1.0), max(1 + factor * (1 - mu) / 3, 1.0)
    assert bnpo_beta_parameters(ps) == pytest.approx((alpha, beta))

    def pdf(p: float) -> float:
        return (
            p ** (alpha - 1) * (1 - p) ** (beta - 1) * math.gamma(alpha + beta) / (math.gamma(alpha) * math.gamma(beta))
        )

    out = group_advantages(rewards, groups, "bnpo")
    expected = [(r - 0.25) / pdf(0.25) for r in rewards[:4]] + [(r - 0.5) / pdf(0.5) for r in rewards[4:8]]
    assert out[:8] == pytest.approx(expected)
    assert out[8:] == [0.0, 0.0]  # p = 1: every reward equals the baseline


def test_bnpo_scaling_fallbacks_and_range_check() -> None:
    # one group: alpha = beta = 1 (uniform density), BNPO is r - p on the [0, 1] scale
    out = group_advantages([10.0, 0.0, 5.0], ["g"] * 3, "bnpo", min_value=0.0, max_value=10.0)
    assert out == pytest.approx([0.5, -0.5, 0.0])
    assert bnpo_beta_parameters([0.5, 0.5]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="outside"):
        group_advantages([2.0], ["g"], "bnpo")
    with pytest.raises(ValueError, match="must exceed"):
        group_advantages([0.5], ["g"], "bnpo", min_value=1, max_value=1)


def test_normalize_then_sum_hand_values() -> None:
    rewards = [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [3.0, 5.0], [1.0, 5.0]]
    groups = ["a", "a", "a", "b", "b"]
    raw = group_advantages(rewards, groups, "normalize_then_sum", eps=0.0, weights=[1.0, 2.0], batch_normalize=False)
    s0 = std1([1, 0, 1])
    s1 = std1([0, 0, 1])
    a = [
        (1 - 2 / 3) / s0 + 2 * (0 - 1 / 3) / s1,
        (0 - 2 / 3) / s0 + 2 * (0 - 1 / 3) / s1,
        (1 - 2 / 3) / s0 + 2 * (1 - 1 / 3) / s1,
        1 / std1([3, 1]) + 0.0,  # second reward constant in group b -> 0
        -1 / std1([3, 1]) + 0.0,
    ]
    assert raw == pytest.approx(a)
    final = group_advantages(rewards, groups, "normalize_then_sum", eps=0.0, weights=[1.0, 2.0])
    m = sum(a) / 5
    assert final == pytest.approx([(x - m) / std1(a) for x in a])
    partial = group_advantages([[1.0, None], [0.0, 1.0], [1.0, 0.0]], ["g"] * 3, "normalize_then_sum")
    assert partial[0] is None and partial[1] is not None
    with pytest.raises(ValueError, match="weights"):
        group_advantages([[1.0, 2.0]], ["g"], "normalize_then_sum", weights=[1.0])
    with pytest.raises(ValueError, match="first row"):
        group_advantages([[1.0, 2.0], [1.0]], ["g", "g"], "normalize_then_sum")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown estimator"):
        group_advantages([1.0], ["g"], "ppo")
    with pytest.raises(ValueError, match="group keys"):
        group_advantages([1.0, 2.0], ["g"], "grpo")
    with pytest.raises(ValueError, match="one reward per row"):
        group_advantages([[1.0, 2.0]], ["g"], "grpo")


finite = st.floats(-1e4, 1e4, allow_nan=False)
maybe = st.one_of(finite, st.none(), st.just(float("nan")))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), maybe), min_size=1, max_size=40), st.sampled_from(["grpo", "drgrpo", "rloo"])
)
def test_advantages_of_a_group_sum_to_zero(rows: list[tuple[int, float | None]], estimator: str) -> None:
    groups = [g for g, _ in rows]
    rewards = [r for _, r in rows]
    out = group_advantages(rewards, groups, estimator)
    for g in set(groups):
        members = [i for i, key in enumerate(groups) if key == g]
        usable = [i for i in members if rewards[i] is not None and math.isfinite(rewards[i])]  # type: ignore[arg-type]
        assert all(out[i] is None for i in members if i not in usable)
        values = [out[i] for i in usable]
        if estimator == "rloo" and len(usable) == 1:
            assert values == [None]
            continue
        assert all(v is not None for v in values)
        scale = max([abs(rewards[i]) for i in usable] + [1.0])  # type: ignore[arg-type]
        if estimator == "grpo":
            scale = max(scale / (std1([rewards[i] for i in usable]) + DEFAULT_EPS) if len(usable) > 1 else 1.0, 1.0)  # type: ignore[misc]
        assert abs(math.fsum(values)) <= 1e-9 * scale * len(values)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=2, max_size=10), st.floats(0.1, 10), st.floats(-50, 50))
def test_grpo_is_invariant_to_affine_rescaling(rewards: list[float], a: float, b: float) -> None:
    assume(max(rewards) - min(rewards) > 1e-6)
    groups = ["g"] * len(rewards)
    base = group_advantages(rewards, groups, "grpo", eps=0.0)
    scaled = group_advantages([a * r + b for r in rewards], groups, "grpo", eps=0.0)
    assert scaled == pytest.approx(base, abs=1e-6)


# -- the command ----------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from rewardlab.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_rows(path: Path) -> list[dict[str, object]]:
    rows = [
        {"prompt": "p1", "reward": 1.0, "reward_status": "ok", "reward_components": {"f": 1.0, "c": 1.0}},
        {"prompt": "p2", "reward": 0.5, "reward_status": "ok", "reward_components": {"f": 1.0, "c": 0.0}},
        {"prompt": "p1", "reward": 0.0, "reward_status": "ok", "reward_components": {"f": 0.0, "c": 0.0}},
        {"prompt": "p1", "reward": None, "reward_status": "error", "reward_components": {}},
        {"prompt": "p2", "reward": 0.5, "reward_status": "ok", "reward_components": {"f": 0.0, "c": 1.0}},
        {"prompt": "p1", "reward": 0.75, "reward_status": "abstain", "reward_components": {"f": 1.0}},
        {"prompt": "p2", "reward": None, "reward_components": {"f": 1.0}},  # no status field, no reward
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_advantages_command_jsonl(tmp_path: Path) -> None:
    src, out = tmp_path / "scored.jsonl", tmp_path / "adv.jsonl"
    rows = write_rows(src)
    result = run_cli("advantages", str(src), "--group-by", "prompt", "--estimator", "drgrpo", "-o", str(out))
    assert result.returncode == 0, result.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["advantage"] for g in got] == [0.5, 0.0, -0.5, None, 0.0, None, None]
    assert all({k: v for k, v in g.items() if k != "advantage"} == r for g, r in zip(got, rows, strict=True))
    assert "status error: 1" in result.stderr and "status abstain: 1" in result.stderr
    assert "missing or non-finite reward: 1" in result.stderr


def test_advantages_command_parquet_multi_reward(tmp_path: Path) -> None:
    src, out = tmp_path / "scored.jsonl", tmp_path / "adv.parquet"
    write_rows(src)
    result = run_cli(
        "advantages", str(src), "-g", "prompt", "-e", "normalize_then_sum", "-o", str(out),
        "-f", "reward_components.f", "-f", "reward_components.c", "--no-batch-normalize", "--eps", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out).to_pylist()
    adv = [row["advantage"] for row in table]
    # group p1 usable rows: (1,1), (0,0) -> each reward standardised to +-1/sqrt(2)
    s = std1([1.0, 0.0])
    assert adv[0] == pytest.approx(2 * 0.5 / s) and adv[2] == pytest.approx(-2 * 0.5 / s)
    assert adv[1] == pytest.approx(0.5 / s - 0.5 / s) and adv[3] is None and adv[5] is None and adv[6] is None


def test_advantages_command_reads_parquet_and_names_bad_rows(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([{"q": "a", "reward": 1.0}, {"q": "a", "reward": 0.0}]), src)
    out = tmp_path / "out.jsonl"
    ok = run_cli("advantages", str(src), "-g", "q", "-e", "rloo", "-o", str(out))
    assert ok.returncode == 0, ok.stderr
    assert [json.loads(x)["advantage"] for x in out.read_text().splitlines()] == [1.0, -1.0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "a", "reward": 1}\n{"reward": 0}\n')
    result = run_cli("advantages", str(bad), "-g", "q", "-o", str(out))
    assert result.returncode == 1 and f"{bad}:2" in result.stderr and "'q'" in result.stderr
    unknown = run_cli("advantages", str(src), "-g", "q", "-e", "magic", "-o", str(out))
    assert unknown.returncode == 2 and "unknown estimator" in unknown.stderr
