"""`rewardlab audit` on each new family: gold self-check and the probes that fit the family."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rewardlab
from rewardlab.audit import audit, list_probes, render_gold

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {"name": "search", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}},
    },
    {"type": "function", "function": {"name": "send_email", "parameters": {"type": "object"}}},
]

ROWS: dict[str, list[dict]] = {
    "tool_call": [
        {
            "prompt": "Weather in Paris for 3 days?",
            "reference": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}],
            "tools": TOOLS,
        },
        {
            "prompt": "How tall is the Eiffel tower, and is it raining in Rome?",
            "reference": [
                {"name": "search", "arguments": {"query": "Eiffel tower height"}},
                {"name": "get_weather", "arguments": {"city": "Rome"}},
            ],
            "tools": TOOLS,
        },
        {
            "prompt": "Weather in Oslo?",
            "reference": json.dumps({"name": "get_weather", "arguments": {"city": "Oslo"}}),
            "tools": TOOLS,
        },
    ],
    "text": [
        {"prompt": "Translate: Le chat est sur le tapis.", "reference": "The cat is on the mat."},
        {
            "prompt": "Summarise the passage.",
            "reference": [
                "Rivers carry sediment from mountains to the sea.",
                "Sediment travels down rivers to the sea.",
            ],
        },
    ],
    "qa": [
        {"prompt": "What is the capital of France?", "reference": ["Paris"]},
        {"prompt": "Who discovered radium?", "reference": ["Marie Curie", "Pierre and Marie Curie"]},
        {"prompt": "When was the Eiffel tower finished?", "reference": "1889"},
    ],
    "gui": [
        {"prompt": "Click the submit button", "reference": [100, 200, 300, 260], "image_size": [1920, 1080]},
        {"prompt": "Open the menu", "reference": [1800, 10, 1900, 60], "image_size": [1920, 1080]},
    ],
    "ifeval": [
        {
            "prompt": "Write about rivers. Include the keywords delta and silt.",
            "instruction_id_list": ["keywords:existence"],
            "kwargs": [{"keywords": ["delta", "silt"]}],
        },
        {
            "prompt": "Write at least 50 words about rivers, mention silt, use no commas.",
            "instruction_id_list": ["keywords:existence", "length_constraints:number_words", "punctuation:no_comma"],
            "kwargs": [{"keywords": ["silt"]}, {"num_words": 50, "relation": "at least"}, {}],
        },
    ],
}

# (reward, params, rows, family probes that must run, probes allowed full credit, expected FPR of those)
CASES = [
    ("tool_call", {}, "tool_call", ["call_spray", "call_arguments"], {}),
    ("tool_call", {"check_schema": False, "efficiency": True}, "tool_call", ["call_spray", "call_arguments"], {}),
    ("bleu", {}, "text", ["reference_shuffle", "reference_fragment"], {}),
    ("chrf", {}, "text", ["reference_shuffle", "reference_fragment"], {}),
    ("ter", {}, "text", ["reference_shuffle", "reference_fragment"], {}),
    ("rouge", {}, "text", ["reference_shuffle", "reference_fragment"], {}),
    # ROUGE-1 is a bag of words: the audit shows a shuffled reference earning full credit
    ("rouge", {"rouge_type": "rouge1"}, "text", ["reference_shuffle"], {"reference_shuffle": 1.0}),
    ("qa_f1", {}, "qa", ["answer_spray"], {}),
    ("qa_em", {"answer_source": "tag"}, "qa", ["answer_spray"], {}),
    ("gui_point", {}, "gui", ["click_spray", "outside_screen", "whole_screen"], {}),
    ("gui_box", {}, "gui", ["click_spray", "outside_screen", "whole_screen"], {}),
    # IFEval's checkers look for words, not meaning: stuffing the keywords (or echoing a prompt
    # that names them) satisfies a row whose only instruction is keywords:existence, and no other row
    ("ifeval", {}, "ifeval", ["keyword_stuffing"], {"keyword_stuffing": 0.5, "prompt_echo": 0.5}),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_audit_probes_fit_the_family(case: tuple) -> None:
    name, params, rows, family_probes, allowed = case
    report = audit(rewardlab.load(name, **params), ROWS[rows], in_process=True)
    doc = report.document
    assert doc["gold"]["failures"] == 0, doc["gold"]
    ran = {p["name"]: p for p in report.probes if p["n"]}
    for probe_name in family_probes:
        assert probe_name in ran, f"{probe_name} did not run"
    for probe_name, result in ran.items():
        assert result["error_rate"] == 0.0, (probe_name, result["statuses"])
        expected = allowed.get(probe_name, 0.0)
        assert result["false_positive_rate"] == pytest.approx(expected), (probe_name, result["examples"])


def test_family_probes_apply_only_to_their_rewards() -> None:
    names = {p.name for p in list_probes("tool_call")}
    assert {"call_spray", "call_arguments"} <= names
    assert not names & {"answer_spray", "click_spray", "keyword_stuffing", "reference_shuffle", "exit_early"}
    assert "keyword_stuffing" in {p.name for p in list_probes("ifeval")}
    assert "click_spray" not in {p.name for p in list_probes("exact_match")}


def test_gold_renderings() -> None:
    calls = ROWS["tool_call"][1]["reference"]
    gold = render_gold("tool_call", str(calls[0]), {"reference": calls})
    assert gold.count("<tool_call>") == 2
    assert render_gold("gui_point", "100", {"reference": [100, 200, 300, 260]}) == "click(200, 230)"
    assert render_gold("gui_box", "100", {"reference": [100, 200, 300, 260]}) == "[100, 200, 300, 260]"
    assert render_gold("qa_f1", "Paris").endswith("<answer>Paris</answer>")


FAMILY_OF = {
    "tool_call": "tool_call", "bleu": "text", "chrf": "text", "ter": "text", "rouge": "text",
    "embedding_similarity": "text", "qa_f1": "qa", "qa_em": "qa", "gui_point": "gui", "gui_box": "gui",
    "ifeval": "ifeval",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FAMILY_OF))
def test_cli_audit_runs_on_each_family(name: str, tmp_path: Path) -> None:
    """The command line, in a real process with worker processes scoring the reward."""
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in ROWS[FAMILY_OF[name]]))
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "rewardlab", "audit", "-r", name, "-d", str(data), "--json", str(report),
         "--workers", "2", "--fail-on", "gold_failures>0,probe_error_rate>0"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(report.read_text())
    assert doc["reward"]["name"] == name
    assert doc["verdict"]["passed"] is True
    family = {p.name for p in list_probes(name)} - {p.name for p in list_probes("exact_match")}
    assert family and family <= {p["name"] for p in doc["probes"]}


# -- ordinary rewards: signatures and composition ----------------------------------------------

PARAMS = {
    "tool_call": {"order_weight": 0.25, "formats": ["hermes", "json"], "efficiency": True, "numeric_tolerance": 0.01},
    "bleu": {"tokenize": "intl", "smooth_method": "floor", "smooth_value": 0.1},
    "chrf": {"word_order": 2},
    "ter": {"normalized": True},
    "rouge": {"rouge_type": "rouge2", "use_stemmer": True, "measure": "recall"},
    "embedding_similarity": {"batch_size": 16},
    "ifeval": {"mode": "loose", "aggregate": "all"},
    "qa_f1": {"answer_source": "tag", "format_score": 0.1},
    "qa_em": {"multiple_answers": "last"},
    "gui_point": {"coordinates": "normalized_1000", "reference_coordinates": "pixel", "sigma_scale": 0.3},
    "gui_box": {"coordinates": "normalized", "size_field": "screen"},
}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_signature_round_trip(name: str) -> None:
    reward = rewardlab.load(name, **PARAMS[name])
    again = rewardlab.load(reward.signature)
    assert again.params == reward.params
    assert again.signature == reward.signature
    assert reward.description and reward.range == (0.0, 1.0)


def test_new_families_compose() -> None:
    gated = rewardlab.load(
        {"gate": {"reward": "format", "params": {"tags": ["answer"]}}, "then": {"reward": "qa_f1"}, "otherwise": 0.0}
    )
    assert gated.score_one({"completion": "<answer>Paris</answer>", "reference": "Paris"}).value == 1.0
    assert gated.score_one({"completion": "Final answer: Paris", "reference": "Paris"}).value == 0.0
    routed = rewardlab.load(
        {
            "route": "task",
            "routes": {"qa": {"reward": "qa_em"}, "gui": {"reward": "gui_point"}, "text": {"reward": "bleu"}},
        }
    )
    rows = [
        {"task": "qa", "completion": "<answer>Paris</answer>", "reference": "Paris"},
        {"task": "gui", "completion": "(200, 230)", "reference": [100, 200, 300, 260]},
        {"task": "text", "completion": "The cat sat on the mat.", "reference": "The cat sat on the mat."},
    ]
    assert [s.value for s in routed.score(rows)] == [1.0, 1.0, 1.0]
    summed = rewardlab.load({"combine": "mean", "terms": [{"reward": "qa_f1"}, {"reward": "qa_em"}]})
    partial = summed.score_one({"completion": "<answer>Paris France</answer>", "reference": "Paris"})
    assert partial.value == pytest.approx((2 / 3 + 0.0) / 2)
    assert set(partial.components) >= {"qa_f1", "qa_em"}
