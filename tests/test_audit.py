"""Audit: probes, gold self-check, labelled rates, groups, rules, diff, JSON and CLI, on real rewards."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import rewardlab
import rewardlab.audit as audit_pkg
from rewardlab import Sample, Score, reward
from rewardlab._io import DataError
from rewardlab.audit import (
    AuditFields,
    RuleError,
    audit,
    diff,
    load_audit_data,
    parse_fail_rules,
    probe,
    render_gold,
    split_reference,
)
from rewardlab.audit._labelled import bootstrap_intervals
from rewardlab.audit._probes import select_probes, wrong_answers
from rewardlab.cli import app

# -- rewards used by the tests (module level, so worker processes can rebuild them) -------------


@reward(name="audit_test_last_number")
def last_number(sample: Sample) -> float:
    """1 when the last whitespace-separated token equals the reference (a plausible, gameable reward)."""
    tokens = sample.completion_text.replace(".", " ").split()
    return 1.0 if tokens and tokens[-1] == str(sample.reference) else 0.0


@reward(name="audit_test_always_one")
def always_one(sample: Sample) -> float:
    """Full credit for anything: every probe must catch it."""
    return 1.0


@reward(name="audit_test_never_full")
def never_full(sample: Sample) -> float:
    """Never reaches its maximum: every gold answer must be listed as a failure."""
    return 0.5


@reward(name="audit_test_sleepy")
def sleepy(sample: Sample) -> float:
    """Hangs on one particular completion, to show that an audit cannot hang."""
    if "SLEEP" in sample.completion_text:
        time.sleep(60)
    return 0.0


@reward(name="audit_test_sleepy_isolated", isolated=True, timeout=0.5)
def sleepy_isolated(sample: Sample) -> float:
    """An isolated reward that overruns its deadline on the empty completion."""
    if not sample.completion_text.strip():
        time.sleep(30)
    return 0.0


@reward(name="audit_test_components")
def with_components(sample: Sample) -> Score:
    """A composite-looking reward with two components."""
    n = len(sample.completion_text)
    return Score.ok(1.0 if n > 10 else 0.0, components={"length": float(n), "short": float(n <= 10)})


ROWS = [
    {"id": "q1", "prompt": "Tom has 3 apples and buys 4 more. How many?", "reference": "He has 3+4=7.\n#### 7"},
    {"id": "q2", "prompt": "What is 6 times 7?", "reference": "6*7=<<6*7=42>>42\n#### 42"},
    {"id": "q3", "prompt": "A pen costs $2. How much do 5 pens cost?", "reference": "5*2=10 dollars.\n#### 10"},
    {"id": "q4", "prompt": "Half of 1,000?", "reference": "1000/2=500\n#### 500"},
    {"id": "q5", "prompt": "How many legs do 3 cats have?", "reference": "3*4=12 legs.\n#### 12"},
]


def _audit(name: str, rows: list[dict] | None = None, **kwargs):
    kwargs.setdefault("in_process", True)
    return audit(rewardlab.load(name), rows or ROWS, **kwargs)


# -- public surface ------------------------------------------------------------------------------


def test_exported_names() -> None:
    expected = {
        "AUDIT_METRICS", "MASTER_KEYS", "AuditData", "AuditFields", "AuditReport", "DiffReport", "FailRule", "Probe",
        "ProbeInput", "RuleError", "RuleOutcome", "audit", "diff", "list_probes", "load_audit_data",
        "parse_fail_rules", "probe", "register_gold_renderer", "register_probe", "render_gold", "split_reference",
        "TaskField", "register_task_fields", "task_fields",
    }  # fmt: skip
    assert set(audit_pkg.__all__) == expected
    for name in expected:
        assert getattr(audit_pkg, name) is not None


def test_master_keys_are_the_papers() -> None:
    assert audit_pkg.MASTER_KEYS == (
        ":", ".", ",", " ", "Thought process:", "Let's solve this problem step by step.", "Solution", "解", "かいせつ",
        "Respuesta",
    )  # fmt: skip


# -- references and labels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "regex", "answer", "solution"),
    [
        ("Janet sells 16-3-4=<<16-3-4=9>>9 eggs.\n#### 18", None, "18", "Janet sells 16-3-4=9 eggs."),
        ("so 1,000 in total\n#### 1,000", None, "1000", "so 1,000 in total"),
        ("a #### b #### 3", None, "3", "a #### b"),
        ("Paris", None, "Paris", None),
        ("  spaced  ", None, "spaced", None),
        ("The answer is (B).", r"\(([A-E])\)", "B", None),
        ("ANSWER: 12", r"\d+", "12", None),
        ("no digits here", r"\d+", None, None),
    ],
)
def test_split_reference(raw: str, regex: str | None, answer: str | None, solution: str | None) -> None:
    import re

    assert split_reference(raw, re.compile(regex) if regex else None) == (answer, solution)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="#"), max_size=80), st.integers(-(10**9), 10**9))
def test_gsm8k_rule_always_takes_the_final_number(solution: str, number: int) -> None:
    answer, _ = split_reference(f"{solution}\n#### {number}", None)
    assert answer == str(number)


def test_bad_label_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [{"completion": "7", "reference": "7", "ok": True}, {"completion": "8", "reference": "7", "ok": "maybe"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError) as info:
        load_audit_data(path, AuditFields(label_field="ok"))
    assert info.value.line == 2 and info.value.field == "ok"
    assert f"{path}:2" in str(info.value) and "maybe" in str(info.value)


def test_reference_regex_mismatch_is_a_data_error() -> None:
    with pytest.raises(DataError, match="does not match --reference-regex"):
        load_audit_data([{"reference": "no number"}], AuditFields(reference_regex=r"(\d+)"))


def test_labels_are_read_in_common_spellings() -> None:
    rows = [{"completion": "x", "l": v} for v in (True, False, 1, 0, "yes", "No", "correct", "INCORRECT")]
    data = load_audit_data(rows, AuditFields(label_field="l"))
    assert [r.label for r in data.rows] == [True, False, True, False, True, False, True, False]


# -- rules ---------------------------------------------------------------------------------------------


def test_rule_grammar() -> None:
    rules = parse_fail_rules(["probe_fpr>0.05, gold_failures>0", "probe_fpr[spray]>=5%", "labelled_fnr <= .2"])
    assert [(r.metric, r.arg, r.op, r.threshold) for r in rules] == [
        ("probe_fpr", None, ">", 0.05),
        ("gold_failures", None, ">", 0.0),
        ("probe_fpr", "spray", ">=", 0.05),
        ("labelled_fnr", None, "<=", 0.2),
    ]
    assert rules[0].fails(0.06) and not rules[0].fails(0.05)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("probe_fpr>>0.1", "expected METRIC OP NUMBER"),
        ("probe_fpr 0.1", "expected METRIC OP NUMBER"),
        ("probe_fpr>abc", "expected METRIC OP NUMBER"),
        ("probe_fp>0.1", "unknown metric 'probe_fp'; known metrics: error_rate, gold_failure_rate"),
    ],
)
def test_bad_rules_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(")):
        parse_fail_rules(text)


def test_rule_needing_labels_is_refused_before_scoring() -> None:
    with pytest.raises(RuleError, match="needs --label-field"):
        _audit("contains", fail_on="labelled_fpr>0.01")


# -- probes and gold --------------------------------------------------------------------------------------


def test_contains_is_caught_by_spray_and_hedging() -> None:
    report = _audit("contains", fail_on="probe_fpr>0.05")
    assert report.probe("spray")["false_positive_rate"] == 1.0
    assert report.probe("hedging")["false_positive_rate"] == 1.0
    assert report.probe("empty")["false_positive_rate"] == 0.0
    assert report.probe("master_key")["n"] == len(ROWS) * 10
    assert report.document["gold"] == {**report.document["gold"], "n": 5, "failures": 0}
    assert not report.passed
    failed = [r for r in report.document["verdict"]["rules"] if r["failed"]]
    assert failed and failed[0]["value"] == 1.0


def test_exact_match_resists_every_generic_probe() -> None:
    report = _audit("exact_match", fail_on="probe_fpr>0,gold_failures>0")
    rates = {p["name"]: p["false_positive_rate"] for p in report.probes}
    assert all(rate == 0.0 for rate in rates.values()), rates
    assert report.passed


def test_a_gameable_reward_shows_which_attack_works() -> None:
    report = _audit("audit_test_last_number")
    variants = report.probe("hedging")["variants"]
    # Only the hedge that lists the reference last fools a last-token reward.
    assert variants["listed_last"]["false_positive_rate"] == 1.0
    assert variants["listed_first"]["false_positive_rate"] == 0.0
    assert report.probe("reference_in_reasoning")["false_positive_rate"] == 0.0


def test_reward_that_pays_for_anything_fails_every_probe() -> None:
    report = _audit("audit_test_always_one")
    assert {p["name"]: p["false_positive_rate"] for p in report.probes} == {p["name"]: 1.0 for p in report.probes}
    hits = report.probe("grader_address")["examples"]
    assert hits and all(e["full_credit"] for e in hits)


def test_gold_failures_are_listed_with_their_rows() -> None:
    report = _audit("audit_test_never_full", max_examples=3)
    gold = report.document["gold"]
    assert gold["failures"] == 5 and gold["failure_rate"] == 1.0
    assert [r["id"] for r in gold["failed_rows"]] == ["q1", "q2", "q3"]
    assert gold["failed_rows"][0]["reference"] == "7"
    assert not report.passed  # the default verdict includes gold_failures>0


def test_gold_rendering_per_family() -> None:
    assert render_gold("math", "18") == "The answer is \\boxed{18}."
    assert render_gold("exact_match", "Paris") == "Paris"
    assert "<answer>x</answer>" in render_gold("format", "x")


def test_probes_are_reproducible_and_seeded() -> None:
    a = _audit("contains", seed=3).probe("spray")["examples"][0]["completion"]
    b = _audit("contains", seed=3).probe("spray")["examples"][0]["completion"]
    c = _audit("contains", seed=4).probe("spray")["examples"][0]["completion"]
    assert a == b and a != c


@settings(max_examples=80, deadline=None)
@given(st.integers(-(10**6), 10**6))
def test_wrong_answers_never_equal_or_contain_the_reference(number: int) -> None:
    import random

    wrong = wrong_answers(str(number), [], random.Random(0))
    assert len(wrong) >= 3
    assert all(w != str(number) for w in wrong)
    assert all(str(number) not in w for w in wrong[:3])


def test_family_probes_apply_only_to_their_rewards() -> None:
    @probe("audit_test_shout", "the reference in capitals after a wrong answer", rewards=["audit_test_last_number"])
    def shout(row):  # type: ignore[no-untyped-def]
        yield "caps", f"{row.wrong[0]} then {row.reference}"

    assert "audit_test_shout" in [p.name for p in select_probes("audit_test_last_number")]
    assert "audit_test_shout" not in [p.name for p in select_probes("contains")]
    assert "exit_early" in [p.name for p in select_probes("code")]
    report = _audit("audit_test_last_number", probes=["audit_test_shout", "empty"])
    assert [p["name"] for p in report.probes] == ["audit_test_shout", "empty"]
    assert report.probe("audit_test_shout")["false_positive_rate"] == 1.0
    with pytest.raises(ValueError, match="unknown probe"):
        _audit("contains", probes=["no_such_probe"])


def test_code_probes_target_the_entry_point() -> None:
    rows = [{"prompt": "def add(a, b):\n    ", "reference": "return a + b", "entry_point": "add"}]
    report = audit(rewardlab.load("exact_match"), rows, probes=["exit_early", "always_equal"], in_process=True)
    completions = [e["completion"] for p in report.probes for e in p["examples"]]
    assert any("def add(" in c and "sys.exit(0)" in c for c in completions)
    assert any("__eq__" in c for c in report.probe("always_equal")["examples"][0]["completion"].splitlines())


def test_code_probes_run_against_the_real_code_reward() -> None:
    """Exit-early and always-equal attacks on MBPP, call and stdin tasks: every probe applies, none pays."""
    from conftest import need_tool

    need_tool("bwrap")
    rows = [
        {"completion": "", "tests": ["assert square(3) == 9", "assert square(-2) == 4"]},
        {"completion": "", "calls": [{"args": [1, 2], "expected": 3}], "entry_point": "add"},
        {"completion": "", "io": [{"stdin": "2 3\n", "stdout": "5\n"}]},
    ]
    report = audit(rewardlab.load("code"), rows, probes=["exit_early", "always_equal"])
    exit_early, always_equal = report.probe("exit_early"), report.probe("always_equal")
    assert exit_early["n"] == 3 + 3 + 2 and always_equal["n"] == 2
    assert exit_early["false_positive_rate"] == 0.0 and always_equal["false_positive_rate"] == 0.0
    assert any("def square(" in e["completion"] for e in always_equal["examples"])


# -- the runtime: deadlines and workers -------------------------------------------------------------------------


def test_a_hanging_reward_cannot_hang_the_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    import rewardlab.runtime._runner as runner

    monkeypatch.setattr(runner, "BATCH_DEADLINE_S", 2.0)
    rows = [{"prompt": "p", "reference": "1", "completion": "SLEEP"}, {"prompt": "p", "reference": "2"}]
    started = time.monotonic()
    report = audit(rewardlab.load("audit_test_sleepy"), rows, probes=["empty"], workers=1)
    assert time.monotonic() - started < 30
    # The batch that overran is reported as timeouts, never as zeros.
    assert report.document["signal"]["statuses"] == {"timeout": 1}
    assert report.probe("empty")["statuses"] == {"timeout": 2}
    assert report.probe("empty")["false_positive_rate"] is None


def test_isolated_reward_keeps_its_per_sample_deadline() -> None:
    started = time.monotonic()
    report = audit(rewardlab.load("audit_test_sleepy_isolated"), ROWS[:2], probes=["empty", "master_key"], workers=2)
    assert time.monotonic() - started < 40
    assert report.probe("empty")["statuses"] == {"timeout": 2}
    # The blank master key " " is whitespace too: 2 timeouts, the other 18 keys scored normally.
    assert report.probe("master_key")["statuses"] == {"ok": 18, "timeout": 2}
    assert report.probe("master_key")["false_positive_rate"] == 0.0
    rules = parse_fail_rules("probe_error_rate>0")
    assert rules[0].fails(report.probe("empty")["error_rate"])


def test_worker_processes_and_in_process_agree() -> None:
    a = _audit("audit_test_last_number", in_process=False, workers=2).document
    b = _audit("audit_test_last_number", in_process=True).document
    assert a["probes"] == b["probes"] and a["gold"] == b["gold"]


# -- labelled evaluation ------------------------------------------------------------------------------------------


def _labelled_rows() -> list[dict]:
    rows = []
    # exact_match against labels: 6 TP, 2 FN (right answer, extra words), 1 FP (label says wrong), 3 TN
    for i in range(6):
        rows.append({"id": f"tp{i}", "completion": "7", "reference": "7", "label": True})
    for i in range(2):
        rows.append({"id": f"fn{i}", "completion": "It is 7.", "reference": "7", "label": True})
    rows.append({"id": "fp0", "completion": "7", "reference": "7", "label": False})
    for i in range(3):
        rows.append({"id": f"tn{i}", "completion": "8", "reference": "7", "label": False})
    return rows


def test_labelled_rates_and_intervals() -> None:
    report = _audit("exact_match", _labelled_rows(), fields=AuditFields(label_field="label"), probes=["empty"])
    lab = report.document["labelled"]
    assert lab["confusion"] == {"tp": 6, "fp": 1, "tn": 3, "fn": 2}
    assert lab["false_positive_rate"] == pytest.approx(1 / 4)
    assert lab["false_negative_rate"] == pytest.approx(2 / 8)
    assert lab["precision"] == pytest.approx(6 / 7)
    assert lab["recall"] == pytest.approx(6 / 8)
    assert lab["accuracy"] == pytest.approx(9 / 12)
    for name in ("false_positive_rate", "false_negative_rate", "precision", "recall"):
        low, high = lab["ci95"][name]
        assert 0.0 <= low <= lab[name] <= high <= 1.0
    assert [e["id"] for e in lab["false_positives"]] == ["fp0"]
    assert [e["id"] for e in lab["false_negatives"]] == ["fn0", "fn1"]
    gated = _audit("exact_match", _labelled_rows(), fields=AuditFields(label_field="label"), fail_on="labelled_fpr>0.2")
    assert not gated.passed


def test_unjudged_rows_are_not_counted_as_zero() -> None:
    rows = _labelled_rows() + [{"id": "nr", "completion": "7", "label": True}]  # no reference: abstain
    lab = _audit("exact_match", rows, fields=AuditFields(label_field="label"), probes=[]).document["labelled"]
    assert lab["unjudged"] == {"abstain": 1}
    assert lab["n"] == 12


def test_bootstrap_is_seeded() -> None:
    counts = (40, 5, 50, 5)
    assert bootstrap_intervals(counts, resamples=500, seed=1) == bootstrap_intervals(counts, resamples=500, seed=1)
    assert bootstrap_intervals(counts, resamples=500, seed=1) != bootstrap_intervals(counts, resamples=500, seed=2)


@settings(max_examples=40, deadline=None)
@given(st.tuples(*[st.integers(0, 60)] * 4), st.integers(0, 2**16))
def test_bootstrap_intervals_are_ordered_rates(counts: tuple[int, int, int, int], seed: int) -> None:
    import numpy as np

    from rewardlab.audit._labelled import METRICS

    intervals = bootstrap_intervals(counts, resamples=200, seed=seed)
    observed = [np.array([float(c)]) for c in counts]
    for name, interval in intervals.items():
        undefined = bool(np.isnan(METRICS[name](*observed))[0])
        assert (interval is None) == undefined, (name, counts, interval)
        if interval is not None:
            assert 0.0 <= interval[0] <= interval[1] <= 1.0


# -- groups and signal --------------------------------------------------------------------------------------------


def test_group_diagnostics() -> None:
    rows = []
    for q, completions in {"a": ["7", "7", "7"], "b": ["7", "8", "8"], "c": ["8", "8", "8"], "d": ["7"]}.items():
        rows += [{"q": q, "completion": c, "reference": "7"} for c in completions]
    report = _audit("exact_match", rows, fields=AuditFields(group_by="q"), probes=[], fail_on="zero_variance_share>0.5")
    groups = report.document["groups"]
    assert groups["n_groups"] == 4 and groups["informative_groups"] == 3
    assert groups["zero_variance_groups"] == 2 and groups["zero_variance_share"] == pytest.approx(2 / 3)
    assert groups["all_max_groups"] == 1 and groups["all_min_groups"] == 1
    assert not report.passed


def test_signal_components_and_length_bias() -> None:
    rows = [{"completion": "x" * n, "reference": "r"} for n in (1, 3, 5, 20, 30, 40)]
    signal = _audit("audit_test_components", rows, probes=[], full_credit=1.0).document["signal"]
    assert signal["source"] == "data" and signal["n"] == 6
    assert signal["length_correlation"]["pearson"] > 0.8
    assert set(signal["components"]) == {"length", "short"}
    assert signal["components"]["length"]["max"] == 40
    assert signal["component_correlations"]["length|short"] < 0
    assert sum(signal["histogram"]["counts"]) == 6


def test_unbounded_reward_needs_a_full_credit_value() -> None:
    with pytest.raises(ValueError, match="no finite maximum"):
        _audit("length")


# -- JSON -----------------------------------------------------------------------------------------------------------


def test_json_schema_is_stable(tmp_path: Path) -> None:
    report = _audit("contains", fields=AuditFields(label_field=None))
    path = tmp_path / "r.json"
    report.write_json(path)
    doc = json.loads(path.read_text())
    assert set(doc) >= {
        "schema_version", "rewardlab_version", "created", "reward", "data", "settings", "gold", "probes",
        "labelled", "signal", "groups", "verdict", "card", "timing",
    }  # fmt: skip
    assert doc["schema_version"] == 1
    assert doc["labelled"] is None and doc["groups"] is None
    assert set(doc["gold"]) >= {"n", "failures"}
    for item in doc["probes"]:
        assert set(item) >= {"name", "false_positive_rate", "mean_reward", "n"}
    assert doc["reward"]["signature"] == rewardlab.load("contains").signature
    assert doc["card"]["failure_modes"][0]["false_positive_rate"] == 1.0


# -- diff -------------------------------------------------------------------------------------------------------------


def test_diff_counts_and_labels() -> None:
    rows = _labelled_rows()
    report = diff(
        rewardlab.load("exact_match"), rewardlab.load("contains"), rows,
        fields=AuditFields(label_field="label"), in_process=True, fail_on="disagreement_rate>0.1",
    )  # fmt: skip
    doc = report.document
    assert doc["n"] == 12
    assert doc["counts"]["b_only_full"] == 2 and doc["disagreements"] == 2
    assert doc["labelled"] == {"a_right": 0, "b_right": 2}
    assert {e["id"] for e in doc["examples"]["b_only_full"]} == {"fn0", "fn1"}
    assert not report.passed


def test_diff_uses_probes_when_the_data_has_no_completions() -> None:
    report = diff(rewardlab.load("exact_match"), rewardlab.load("contains"), ROWS, in_process=True)
    doc = report.document
    assert doc["settings"]["probes"] is True
    assert doc["by_source"]["probe:spray"]["b_only_full"] == 2 * len(ROWS)
    assert doc["by_source"]["gold"] == {"agree": len(ROWS)}


# -- CLI --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"question": r["prompt"], "answer": r["reference"]}) for r in ROWS) + "\n")
    return path


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_cli_gates_on_rules(rows_file: Path, tmp_path: Path) -> None:
    common = ["--data", str(rows_file), "--prompt-field", "question", "--reference-field", "answer", "--in-process"]
    out_json, out_html = tmp_path / "a.json", tmp_path / "a.html"
    bad = _cli("audit", "-r", "contains", *common, "--fail-on", "probe_fpr>0.05", "--json", str(out_json),
               "-o", str(out_html))  # fmt: skip
    assert bad.exit_code == 1, bad.output
    assert json.loads(out_json.read_text())["verdict"]["passed"] is False
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    good = _cli("audit", "-r", "exact_match", *common, "--fail-on", "probe_fpr>0.05,gold_failures>0")
    assert good.exit_code == 0, good.output
    informative = _cli("audit", "-r", "contains", *common)  # no --fail-on: the verdict is shown, exit 0
    assert informative.exit_code == 0 and "FAIL" in informative.output


def test_cli_errors_are_clear(rows_file: Path) -> None:
    result = _cli("audit", "-r", "contains", "--data", str(rows_file), "--fail-on", "probe_fpr=>1")
    assert result.exit_code == 2 and "expected METRIC OP NUMBER" in result.output
    result = _cli("audit", "-r", "contains", "--data", str(rows_file), "--fail-on", "labelled_fpr>0.1")
    assert result.exit_code == 2 and "needs --label-field" in result.output
    result = _cli("audit", "-r", "contains", "--data", str(rows_file), "--label-field", "nope", "--in-process")
    assert result.exit_code == 2 and f"{rows_file}:1" in result.output and "nope" in result.output
    result = _cli("diff", "-r", "contains", "--data", str(rows_file))
    assert result.exit_code == 2 and "exactly two rewards" in result.output


def test_cli_diff(rows_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    result = _cli("diff", "-r", "exact_match", "-r", "contains", "--data", str(rows_file), "--prompt-field",
                  "question", "--reference-field", "answer", "--in-process", "--json", str(out),
                  "-o", str(tmp_path / "d.html"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["counts"]["b_only_full"] > 0
    assert "b_only_full" in result.output


def test_a_boxed_reference_is_audited_by_its_box_and_wrong_answers_differ_from_it() -> None:
    import random

    from rewardlab.audit._data import split_reference

    answer, solution = split_reference("We add them, so the total is \\boxed{\\frac{3}{4}}.", None)
    assert answer == "\\frac{3}{4}" and solution is not None and "total" in solution
    wrong = wrong_answers("$2$", ["2", "$2$", " 2 ", "3", "$x$"], random.Random(0))
    assert wrong and all(w.strip().strip("$").strip() != "2" for w in wrong)
