"""`rewardlab select`: best-of-N, voting over equivalent answers, RAFT, threshold, and --eval."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rewardlab import Score, load
from rewardlab.bench import _select as sel


def _group(texts: list[str], values: list[float | None] | None = None) -> sel.Group:
    group = sel.Group("q")
    for n, text in enumerate(texts):
        cand = sel.Candidate(n, {"completion": text}, text)
        if values is not None:
            value = values[n]
            cand.score = Score.ok(value) if value is not None else Score.error("verifier crashed")
        group.candidates.append(cand)
    return group


def _score_many(reward, samples):
    return reward.score(samples)


def test_equivalent_answers_share_one_vote():
    group = _group(
        [
            "so the answer is \\boxed{\\frac{1}{2}}",
            "The answer is 0.5",
            "Final Answer: 1/2",
            "The answer is \\boxed{3}",
            "The answer is \\boxed{3}",
            "I am not sure.",
        ]
    )
    sel.extract_answers([group])
    compared = sel.cluster_answers([group], load("math"), _score_many)
    clusters = [c.cluster for c in group.candidates]
    assert clusters[0] == clusters[1] == clusters[2]
    assert clusters[3] == clusters[4] != clusters[0]
    assert clusters[5] is None
    assert compared == 6  # four distinct strings (\frac{1}{2}, 0.5, 1/2, 3): every pair compared once
    chosen, votes, _ = sel.select(group.candidates, "majority")
    assert chosen[0].index == 0
    assert sorted(votes.values()) == [2.0, 3.0]


def test_weighted_vote_and_best_use_rewards_and_skip_failures():
    group = _group(["\\boxed{1}", "\\boxed{2}", "\\boxed{2}", "\\boxed{1}"], [0.9, 0.3, 0.3, None])
    sel.extract_answers([group])
    sel.cluster_answers([group], load("math"), _score_many)
    chosen, votes, _ = sel.select(group.candidates, "weighted_vote")
    assert chosen[0].answer == "1" and chosen[0].index == 0
    assert votes[group.candidates[0].cluster] == pytest.approx(0.9)  # the failed candidate carries no weight
    assert votes[group.candidates[1].cluster] == pytest.approx(0.6)
    best, _, _ = sel.select(group.candidates, "best")
    assert best[0].index == 0
    majority, _, _ = sel.select(group.candidates, "majority")
    assert majority[0].answer == "1"  # 2 votes each; the cluster seen first wins the tie


def test_raw_weights_refuse_negative_rewards_exp_weights_accept_them():
    group = _group(["\\boxed{1}", "\\boxed{2}", "\\boxed{2}"], [-0.1, -2.0, -2.0])
    sel.extract_answers([group])
    sel.cluster_answers([group], load("math"), _score_many)
    with pytest.raises(ValueError, match="non-negative"):
        sel.select(group.candidates, "weighted_vote")
    chosen, votes, _ = sel.select(group.candidates, "weighted_vote", weight="exp")
    # exp(0) = 1 for the single "1" against 2 * exp(-1.9) = 0.30 for "2"
    assert chosen[0].answer == "1"


def test_raft_threshold_and_abstain():
    group = _group(["a", "b", "c", "d"], [0.2, 0.8, None, 0.5])
    raft, _, _ = sel.select(group.candidates, "raft", k=2)
    assert [c.index for c in raft] == [1, 3]
    kept, _, _ = sel.select(group.candidates, "threshold", threshold=0.7)
    assert [c.index for c in kept] == [1]
    none, _, why = sel.select(group.candidates, "threshold", threshold=0.9)
    assert none == [] and "below the threshold" in why
    failed = _group(["a", "b"], [None, None])
    assert sel.select(failed.candidates, "best")[0] == []


def test_eval_curves_oracle_bounds_every_method_and_is_seeded():
    groups = []
    for q in range(30):
        texts = [f"\\boxed{{{(q + k) % 3}}}" for k in range(4)]
        group = _group(texts, [float(k) for k in range(4)])
        for cand in group.candidates:
            cand.correct = cand.text.endswith("{0}")
        groups.append(group)
    sel.extract_answers(groups)
    sel.cluster_answers(groups, load("math"), _score_many)
    curves = sel.eval_curves(groups, ["best", "majority", "weighted_vote"], subsets=10, seed=3)
    assert [p["n"] for p in curves["oracle"]] == [1.0, 2.0, 4.0]
    for method in ("best", "majority", "weighted_vote", "first"):
        for point, oracle in zip(curves[method], curves["oracle"], strict=True):
            assert point["accuracy"] <= oracle["accuracy"] + 1e-12
    assert curves["oracle"][-1]["accuracy"] == 1.0  # every group of 4 holds a correct answer
    again = sel.eval_curves(groups, ["best", "majority", "weighted_vote"], subsets=10, seed=3)
    assert again == curves


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rewardlab", *args], capture_output=True, text=True, timeout=600)


def test_cli_select_eval_on_gsm8k_solutions(shared_data, tmp_path):
    with (shared_data / "gsm8k" / "model_solutions_labeled.jsonl").open() as handle:
        rows = [json.loads(line) for line in handle][:800]
    data = tmp_path / "solutions.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "picked.jsonl"
    proc = _cli(
        "select",
        str(data),
        "--group-by",
        "question",
        "--method",
        "majority",
        "--reference-field",
        "reference",
        "--eval",
        "-o",
        str(out),
        "--no-progress",
        "--subsets",
        "5",
    )
    assert proc.returncode == 0, proc.stderr
    picked = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(picked) == len({r["question"] for r in rows})
    assert all(p["select_method"] == "majority" for p in picked)
    report = json.loads(out.with_suffix(".json").read_text())
    majority = {p["n"]: p["accuracy"] for p in report["curves"]["majority"]}
    oracle = {p["n"]: p["accuracy"] for p in report["curves"]["oracle"]}
    first = {p["n"]: p["accuracy"] for p in report["curves"]["first"]}
    # the labels say about 38% of single solutions are right; majority of 4 does better than one
    assert majority[4.0] > first[4.0]
    assert oracle[4.0] >= majority[4.0]
    html = out.with_suffix(".html").read_text()
    assert "<svg" in html and "accuracy against N" in html
    # with the dataset's own labels the single-candidate accuracy is the labelled rate
    labelled = _cli(
        "select",
        str(data),
        "--group-by",
        "question",
        "--method",
        "majority",
        "--label-field",
        "is_correct",
        "--eval",
        "--report",
        str(tmp_path / "l.html"),
        "--no-progress",
        "--subsets",
        "5",
    )
    assert labelled.returncode == 0, labelled.stderr
    curves = json.loads((tmp_path / "l.json").read_text())["curves"]
    rate = sum(r["is_correct"] for r in rows) / len(rows)
    assert curves["first"][0]["accuracy"] == pytest.approx(rate, abs=0.03)


def test_cli_select_bad_input(tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"prompt": "p", "completion": "\\boxed{1}"}) + "\n" + '{"prompt": "p", "compl\n')
    proc = _cli("select", str(data), "--method", "majority", "-o", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 1
    assert "rows.jsonl:2" in proc.stderr
    missing = _cli("select", str(data), "--method", "best", "-o", str(tmp_path / "o.jsonl"))
    assert missing.returncode == 2 and "needs --reward" in missing.stderr
    Path(tmp_path / "o.jsonl").unlink(missing_ok=True)
