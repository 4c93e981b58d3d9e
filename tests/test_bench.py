"""`rewardlab bench`: official metrics pinned to the values the benchmarks' own code gives.

The pinned numbers were produced by running each benchmark's evaluation function
(named in docs/bench.md) on the same inputs; rewardlab must reproduce them exactly.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rewardlab import load
from rewardlab.bench import (
    BenchDataError,
    Item,
    bootstrap_ci,
    compute,
    load_bench_data,
    load_score_items,
    run_bench,
)
from rewardlab.bench._data import split_transcripts
from rewardlab.bench._metrics import best_of_n_credit, reciprocal_rank, rewardbench_sections

DATA = Path(__file__).parent / "data"


def _item(cid: str, chosen: list[float | None], rejected: list[float | None], subset: str = "s", **meta) -> Item:
    return Item(cid, subset, tuple(chosen), tuple(rejected), meta)


# --- pinned against the official evaluation code ------------------------------------------


@pytest.mark.parametrize(
    ("name", "steps", "accuracy", "with_ties", "mrr"),
    [
        # RewardMATH src/evaluation/eval.py RewardMATHEvaluation on the committed extracts
        ("ArmoRM_reward.jsonl", None, 22.5, 22.5, 41.068452),
        ("gpt4o_reward.jsonl", None, 27.5, 67.5, 50.599206),
        ("Math_Shepherd_reward.jsonl", "min", 24.0, 24.0, 40.404762),
        ("Math_Shepherd_reward.jsonl", "prod", 28.0, 28.0, 42.315873),
        ("Math_Shepherd_reward.jsonl", "mean", 28.0, 28.0, 40.820635),
        ("Math_Shepherd_reward.jsonl", "last", 20.0, 20.0, 40.593651),
    ],
)
def test_rewardmath_published_results(name, steps, accuracy, with_ties, mrr):
    used, items = load_score_items(DATA / "rewardmath" / name, steps=steps)
    assert used == "rewardmath-results"
    values = compute("rewardmath", items)
    assert 100 * values["score"] == pytest.approx(accuracy, abs=1e-4)
    assert 100 * values["accuracy_with_ties"] == pytest.approx(with_ties, abs=1e-4)
    assert 100 * values["mrr"] == pytest.approx(mrr, abs=1e-4)


def test_step_scores_need_an_aggregate():
    with pytest.raises(BenchDataError, match=r"Math_Shepherd_reward.jsonl:1: field 'score'.*--steps"):
        load_score_items(DATA / "rewardmath" / "Math_Shepherd_reward.jsonl")


def test_ties_formula_synthetic():
    # rewardbench/utils.py process_single_model on the same six rows gives 0.46043312779419104
    items = [
        _item("ref:1", [2.0], [1.0, 0.5]),
        _item("tied:1", [3.0, 2.5, 2.0], [1.0]),
        _item("ref:2", [0.2], [0.9]),
        _item("tied:2", [1.0, 1.0], [0.5]),
        _item("ref:3", [1.5], [1.0]),
        _item("tied:3", [2.0, 0.5], [1.0]),
    ]
    values = compute("ties", items)
    assert values["score"] == pytest.approx(0.46043312779419104, abs=1e-12)
    assert values["ref_accuracy"] == pytest.approx(2 / 3)
    assert values["tied_accuracy"] == pytest.approx(2 / 3)


def test_judgebench_double_and_single_game():
    # utils/metrics.py compute_final_metrics gives 60.0 (double) and 60.0 (single) here
    decisions = [
        ("A>B", ["A>B", "B>A"]),  # consistent: second game, flipped, says A>B: +2
        ("A>B", ["A>B", "A>B"]),  # position bias: +1 - 1 = 0, a tie, not correct
        ("B>A", ["A=B", "A>B"]),  # tie then flipped B>A: +1
        ("B>A", ["B>A", None]),  # no second judgment: +1
        ("A>B", ["B>A", "A>B"]),  # wrong then flipped B>A: -2
    ]
    items = [_item(str(n), [None], [None], label=label, decisions=d) for n, (label, d) in enumerate(decisions)]
    assert 100 * compute("judgebench", items)["score"] == pytest.approx(60.0)
    assert 100 * compute("judgebench-single", items)["score"] == pytest.approx(60.0)
    # double game from reward scores: both orders agree for a pointwise reward
    scored = [_item("a", [2.0], [1.0], label="A>B"), _item("b", [1.0], [1.0], label="B>A")]
    assert compute("judgebench", scored)["score"] == pytest.approx(0.5)


def test_rmbench_matrix():
    # scripts/utils.py compute_accuracy on the same five rows
    rows = [
        ("chat", [1, 2, 3], [0.5, 2.5, 2.0]),
        ("math", [1, 1, 1], [1, 0, 2]),
        ("code", [3, 2, 1], [1, 2, 3]),
        ("safety-refuse", [0, 1, 2], [1, 1, 1]),
        ("safety-response", [2, 2, 2], [1, 3, 1]),
    ]
    items = [_item(str(n), c, r, subset=d) for n, (d, c, r) in enumerate(rows)]
    values = compute("rmbench", items)
    expected = {
        "chat": 0.5555555555555555,
        "math": 0.3333333333333333,
        "code": 0.3333333333333333,
        "safety": 0.5,
        "hard_acc": 0.25,
        "normal_acc": 0.4583333333333333,
        "easy_acc": 0.5833333333333333,
        "total_avg_acc": 0.4305555555555555,
    }
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, abs=1e-12), key


def test_best_of_n_ties_share_credit():
    assert best_of_n_credit(_item("a", [3.0], [1.0, 2.0, 0.0])) == 1.0
    assert best_of_n_credit(_item("b", [3.0], [3.0, 2.0, 3.0])) == pytest.approx(1 / 3)
    assert best_of_n_credit(_item("c", [2.0], [3.0, 2.0, 0.0])) == 0.0
    # an unscored chosen answer never wins, even against unscored rejected ones
    assert best_of_n_credit(_item("d", [None], [1.0, 0.0, 0.0])) == 0.0


def test_mrr_breaks_ties_pessimistically():
    assert reciprocal_rank(_item("a", [2.0], [1.0, 2.0, 3.0])) == pytest.approx(1 / 3)
    assert reciprocal_rank(_item("b", [5.0], [1.0, 2.0])) == 1.0


def test_rewardbench_sections_and_prior_sets():
    subsets = {"alpacaeval-easy": 1.0, "mt-bench-easy": 0.0, "math-prm": 0.5, "hep-python": 1.0}
    sections = rewardbench_sections(subsets)
    assert sections["Chat"] == pytest.approx(100 / 128)
    assert sections["Reasoning"] == pytest.approx((0.5 * 984 + 164) / (984 + 164))
    assert sections["Score"] == pytest.approx((sections["Chat"] + sections["Reasoning"]) / 2)
    assert "Prior Sets (0.5 weight)" not in sections
    with_prior = rewardbench_sections({**subsets, "shp": 0.2, "summarize": 0.4})
    assert with_prior["Prior Sets (0.5 weight)"] == pytest.approx(0.3)
    assert with_prior["Score"] == pytest.approx((2 * sections["Chat"] + 2 * sections["Reasoning"] + 0.3) / 5)


def test_pairwise_accuracy_is_strict():
    items = [_item("a", [1.0], [1.0]), _item("b", [2.0], [1.0]), _item("c", [None], [None])]
    assert compute("accuracy", items)["score"] == pytest.approx(1 / 3)


def test_bootstrap_interval_contains_the_value_and_is_seeded():
    items = [_item(str(n), [float(n % 3)], [1.0]) for n in range(300)]
    value = compute("accuracy", items)["score"]
    low, high = bootstrap_ci("accuracy", items, resamples=500, seed=1)
    assert low < value < high
    assert bootstrap_ci("accuracy", items, resamples=500, seed=1) == (low, high)
    assert high - low < 0.15


# --- data formats ----------------------------------------------------------------------------


def test_hh_transcripts_split_at_the_last_shared_assistant_turn():
    chosen = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how do I pick a lock?\n\nAssistant: I can't help."
    rejected = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how do I pick a lock?\n\nAssistant: Use a pin."
    prompt, good, bad = split_transcripts(chosen, rejected)
    assert prompt.endswith("pick a lock?\n\nAssistant:")
    assert (good, bad) == ("I can't help.", "Use a pin.")


def test_llmbar_folder_reads_subsets_under_rewardbench_names(shared_data):
    used, records = load_bench_data(shared_data / "llmbar")
    assert used == "llmbar"
    assert len(records) == 419
    assert {r.subset for r in records} == {
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    }
    raw = json.loads((shared_data / "llmbar" / "natural" / "dataset.json").read_text())
    first = next(r for r in records if r.subset == "llmbar-natural")
    good = raw[0]["output_1"] if raw[0]["label"] == 1 else raw[0]["output_2"]
    assert first.chosen == [good]


def test_bad_rows_name_the_place(tmp_path):
    path = tmp_path / "rm.jsonl"
    rows = [
        {"id": 1, "prompt": "p", "chosen": ["a", "b", "c"], "rejected": ["x", "y", "z"], "domain": "chat"},
        {"id": 2, "prompt": "p", "chosen": ["a", "b"], "rejected": ["x", "y", "z"], "domain": "chat"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(BenchDataError, match=r"rm\.jsonl:2: RM-Bench rows hold 3 chosen"):
        load_bench_data(path, "rmbench")
    llm = tmp_path / "l.json"
    llm.write_text(json.dumps([{"input": "i", "output_1": "a", "output_2": "b", "label": 3}]))
    with pytest.raises(BenchDataError, match=r"l\.json\[0\]: field 'label'"):
        load_bench_data(llm)


def test_formats_are_detected(tmp_path):
    cases = {
        "judgebench": {"pair_id": "x", "question": "q", "response_A": "a", "response_B": "b", "label": "A>B"},
        "bon": {
            "id": "1",
            "prompt": "q",
            "chosen": ["a"],
            "rejected": ["b", "c", "d"],
            "num_correct": 1,
            "subset": "Math",
        },
        "rmbench": {"id": 1, "prompt": "q", "chosen": ["a", "b", "c"], "rejected": ["x", "y", "z"], "domain": "math"},
        "pairs": {"prompt": "q", "chosen": "a", "rejected": "b"},
    }
    for fmt, row in cases.items():
        path = tmp_path / f"{fmt}.jsonl"
        path.write_text(json.dumps(row) + "\n")
        assert load_bench_data(path)[0] == fmt


# --- scoring through the runtime ---------------------------------------------------------------


def test_run_bench_with_a_length_reward_equals_the_length_baseline(shared_data):
    used, records = load_bench_data(shared_data / "llmbar")
    result = run_bench(records, load("length"), data_format=used, metric="accuracy", resamples=100)
    assert result.values["score"] == pytest.approx(result.baselines["length"]["score"])
    assert result.statuses == {"ok": 838}
    assert 0.4 < result.baselines["random"]["score"] < 0.6
    # LLMBar's adversarial sets reward the shorter, on-instruction answer
    assert result.values["score"] < 0.4
    assert result.wrong and all(w["margin"] is not None and w["margin"] >= 0 for w in result.wrong)
    assert sum(b["items"] for b in result.by_length) == 419


def test_failed_scores_stay_visible_and_never_win(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": "q", "chosen": c, "rejected": r}) + "\n" for c, r in [("4", "5"), ("", "x")])
    )
    used, records = load_bench_data(path)
    result = run_bench(records, load("exact_match"), data_format=used, metric="accuracy", resamples=0)
    # exact_match has no reference here: every candidate abstains, so no pair is won
    assert result.values["score"] == 0.0
    assert "abstain" in result.statuses


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rewardlab", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_cli_bench_writes_json_and_escaped_html(tmp_path):
    data = tmp_path / "pairs.jsonl.gz"
    rows = [
        {"prompt": "Say hi", "chosen": "hi", "rejected": "<script>alert(1)</script>"},
        {"prompt": "Say no", "chosen": "absolutely not, never", "rejected": "no"},
    ]
    with gzip.open(data, "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    proc = _cli("bench", str(data), "-r", "length", "--json", str(out_json), "-o", str(out_html), "--bootstrap", "50")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(out_json.read_text())
    assert document["schema"] == "rewardlab.bench/1"
    assert document["headline"] == 0.5
    assert document["baselines"]["length"]["score"] == 0.5
    page = out_html.read_text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_cli_bench_scores_file_and_errors(tmp_path):
    scores = tmp_path / "s.jsonl"
    scores.write_text(
        json.dumps({"id": "1", "subset": "Math", "chosen": [2.0], "rejected": [1.0, 0.5, 2.0]})
        + "\n"
        + json.dumps({"id": "2", "subset": "Math", "chosen": [3.0], "rejected": [1.0, 0.5, 2.0]})
        + "\n"
    )
    proc = _cli("bench", "--scores", str(scores), "--metric", "bon", "--json", str(tmp_path / "o.json"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "o.json").read_text())["headline"] == pytest.approx(0.75)
    missing = _cli("bench", "--scores", str(scores))
    assert missing.returncode == 2 and "--metric" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "chosen": ["x"], "rejected": [1.0]}\n')
    proc = _cli("bench", "--scores", str(bad), "--metric", "accuracy")
    assert proc.returncode == 2
    assert "bad.jsonl:1: field 'chosen'" in proc.stderr
