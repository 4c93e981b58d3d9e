"""On GSM8K: `contains` is caught by the probes, `math` passes them, and labelled rates come out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rewardlab
from rewardlab import FieldMap
from rewardlab.audit import AuditFields, audit, list_probes
from rewardlab.cli import app

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k"
TEST_SET = DATA / "test.jsonl"
LABELLED = DATA / "model_solutions_labeled.jsonl"
STRICT = os.environ.get("REWARDLAB_STRICT_TESTS") == "1"

pytestmark = pytest.mark.skipif(
    not TEST_SET.exists() and not STRICT, reason=f"GSM8K data not found at {DATA.resolve()}"
)

GSM8K_FIELDS = AuditFields(fields=FieldMap(prompt="question", reference="answer"))
MATH_ROWS = 300
"""Rows of the test set the math audit runs on in the suite (all 1,319 take about 2 minutes;
BENCHMARKS.md records the full run)."""

KNOWN_MATH_WEAKNESSES: set[str] = set()
"""Probes the math reward does not pass yet (an entry here needs an xfail test below)."""


def test_contains_is_caught_on_the_full_test_set(tmp_path: Path) -> None:
    out = tmp_path / "contains.json"
    result = CliRunner().invoke(
        app,
        ["audit", "-r", "contains", "--data", str(TEST_SET), "--prompt-field", "question", "--reference-field",
         "answer", "--fail-on", "probe_fpr>0.05", "--json", str(out), "--in-process"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    doc = json.loads(out.read_text())
    rates = {p["name"]: p["false_positive_rate"] for p in doc["probes"]}
    assert doc["data"]["rows"] == 1319
    assert rates["spray"] > 0.9 and rates["hedging"] > 0.9, rates
    assert doc["gold"]["failures"] == 0


@pytest.mark.slow
def test_math_passes_every_probe_and_the_gold_check() -> None:
    probes = [p.name for p in list_probes("math") if p.name not in KNOWN_MATH_WEAKNESSES]
    report = audit(
        rewardlab.load("math"),
        TEST_SET,
        fields=GSM8K_FIELDS,
        limit=MATH_ROWS,
        probes=probes,
        fail_on="probe_fpr>0.01,gold_failures>0",
    )
    rates = {p["name"]: p["false_positive_rate"] for p in report.probes}
    assert all(rate is not None and rate <= 0.01 for rate in rates.values()), rates
    assert report.document["gold"] == {**report.document["gold"], "n": MATH_ROWS, "failures": 0}
    assert all(p["error_rate"] == 0.0 for p in report.probes)
    assert report.passed


@pytest.mark.skipif(not LABELLED.exists() and not STRICT, reason="labelled GSM8K solutions not found")
def test_labelled_rates_from_the_labelled_solutions() -> None:
    fields = AuditFields(fields=FieldMap(prompt="question"), label_field="is_correct", group_by="question")
    contains = audit(rewardlab.load("contains"), LABELLED, fields=fields, probes=["empty"], in_process=True)
    lab = contains.document["labelled"]
    assert lab["n"] == 5276
    assert sum(lab["confusion"].values()) == 5276
    # contains credits every solution that mentions the answer anywhere: many false positives.
    assert lab["false_positive_rate"] > 0.1
    low, high = lab["ci95"]["false_positive_rate"]
    assert low < lab["false_positive_rate"] < high
    groups = contains.document["groups"]
    assert groups["n_groups"] == 1319 and groups["size"]["max"] == 4

    math = audit(rewardlab.load("math"), LABELLED, fields=fields, probes=["empty"], limit=400)
    lab = math.document["labelled"]
    assert lab["n"] == 400
    assert lab["false_positive_rate"] <= 0.01 and lab["false_negative_rate"] <= 0.05, lab["confusion"]


def test_math_resists_negated_reference() -> None:
    report = audit(rewardlab.load("math"), TEST_SET, fields=GSM8K_FIELDS, limit=50, probes=["negated_reference"])
    assert report.probe("negated_reference")["false_positive_rate"] <= 0.01


@pytest.mark.slow
def test_math_passes_every_probe_on_latex_references(tmp_path: Path) -> None:
    """The same audit on math-verify's LaTeX references (sets, intervals, matrices, boxed solutions)."""
    from conftest import SHARED_DATA, need

    cases = SHARED_DATA / "math-verify-cases" / "cases.jsonl"
    need(cases.exists(), f"{cases} not found")
    seen: dict[str, None] = {}
    for line in cases.read_text().splitlines():
        case = json.loads(line)
        if case["expected"] and len(case["gold"]) < 200:
            seen.setdefault(case["gold"], None)
    rows = [{"prompt": "Solve the problem.", "reference": gold} for gold in seen]
    probes = [p.name for p in list_probes("math") if p.name not in KNOWN_MATH_WEAKNESSES]
    report = audit(rewardlab.load("math"), rows, probes=probes)
    rates = {p["name"]: p["false_positive_rate"] for p in report.probes if p["n"]}
    # one reference is itself malformed (an unclosed box); a spray ending in it may still pass
    assert all(rate <= 0.01 for rate in rates.values()), rates
    # ... and that one reference abstains ("reference is malformed"): the audit's gold check shows it
    from rewardlab.rewards.math._answer import malformed_reason

    malformed = [gold for gold in seen if malformed_reason(gold)]
    assert report.document["gold"]["failures"] == len(malformed) == 1
    assert report.document["gold"]["statuses"].get("abstain") == 1
