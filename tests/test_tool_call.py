"""tool_call: a regression table of real call shapes, malformed and adversarial outputs, and properties."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewardlab
from rewardlab import Sample, Status
from rewardlab.rewards import ToolCall, parse_tool_calls
from rewardlab.rewards.tool_call._tool_call import otc_efficiency, values_equal

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1},
                    "unit": {"type": "string", "enum": ["c", "f"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    },
    {"type": "function", "function": {"name": "send_email", "parameters": {"type": "object"}}},
    {"name": "convert", "parameters": {"type": "object", "properties": {"amount": {"type": "number"}}}},
]

WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}
SEARCH = {"name": "search", "arguments": {"query": "Eiffel tower height"}}
TWO = [WEATHER, SEARCH]


def hermes(*calls: dict) -> str:
    return "\n".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)


def openai_messages(*calls: dict) -> list[dict]:
    return [
        {"role": "user", "content": "?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"c{i}",
                    "type": "function",
                    "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                }
                for i, c in enumerate(calls)
            ],
        },
    ]


EVERY_TOOL = [WEATHER] + [{"name": n, "arguments": {}} for n in ("search", "send_email", "convert")]

# (id, completion, reference, params, expected value or status)
ROWS = [
    ("hermes-exact", hermes(WEATHER), [WEATHER], {}, 1.0),
    ("hermes-two-exact", hermes(*TWO), TWO, {}, 1.0),
    ("hermes-two-swapped-no-order-credit", hermes(SEARCH, WEATHER), TWO, {}, 1.0),
    ("hermes-two-swapped-order-credit", hermes(SEARCH, WEATHER), TWO, {"order_weight": 0.5}, 0.75),
    ("openai-tool-calls", openai_messages(WEATHER), [WEATHER], {}, 1.0),
    ("openai-json-text", json.dumps({"tool_calls": [{"function": WEATHER}]}), [WEATHER], {}, 1.0),
    ("json-object", json.dumps(WEATHER), [WEATHER], {}, 1.0),
    ("json-list-fenced", "```json\n" + json.dumps(TWO) + "\n```", TWO, {}, 1.0),
    ("python-call", 'get_weather(city="Paris", days=3)', [WEATHER], {}, 1.0),
    ("python-list", '[get_weather(city="Paris", days=3), search(query="Eiffel tower height")]', TWO, {}, 1.0),
    ("python-lines", 'get_weather(city="Paris", days=3)\nsearch(query="Eiffel tower height")', TWO, {}, 1.0),
    ("reference-as-python-text", hermes(WEATHER), 'get_weather(city="Paris", days=3)', {}, 1.0),
    ("reference-as-json-text", hermes(WEATHER), json.dumps(WEATHER), {}, 1.0),
    (
        "float-equals-int",
        hermes({"name": "get_weather", "arguments": {"city": "Paris", "days": 3.0}}),
        [WEATHER],
        {},
        1.0,
    ),
    # typed comparison: "3" is not 3; the schema says integer, so the call is invalid and worth 0
    (
        "string-for-int-schema",
        hermes({"name": "get_weather", "arguments": {"city": "Paris", "days": "3"}}),
        [WEATHER],
        {},
        0.0,
    ),
    (
        "string-for-int-no-schema",
        hermes({"name": "get_weather", "arguments": {"city": "Paris", "days": "3"}}),
        [WEATHER],
        {"check_schema": False},
        0.2 + 0.2 + 0.6 * 0.5,
    ),
    (
        "wrong-value",
        hermes({"name": "get_weather", "arguments": {"city": "Lyon", "days": 3}}),
        [WEATHER],
        {},
        0.2 + 0.2 + 0.6 * 0.5,
    ),
    (
        "missing-key",
        hermes({"name": "get_weather", "arguments": {"city": "Paris"}}),
        [WEATHER],
        {},
        0.2 + 0.2 * 0.5 + 0.6 * 0.5,
    ),
    (
        "extra-key",
        hermes({"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "unit": "c"}}),
        [WEATHER],
        {},
        0.2 + 0.2 * 2 / 3 + 0.6 * 2 / 3,
    ),
    ("wrong-tool", hermes(SEARCH), [WEATHER], {}, 0.0),
    (
        "unknown-tool-fails-schema",
        hermes({"name": "delete_all", "arguments": {}}),
        [{"name": "delete_all", "arguments": {}}],
        {},
        0.0,
    ),
    (
        "schema-enum-violation",
        hermes({"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "unit": "kelvin"}}),
        [WEATHER],
        {},
        0.0,
    ),
    (
        "numeric-tolerance-off",
        hermes({"name": "convert", "arguments": {"amount": 10.004}}),
        [{"name": "convert", "arguments": {"amount": 10.0}}],
        {},
        0.4,
    ),
    (
        "numeric-tolerance-on",
        hermes({"name": "convert", "arguments": {"amount": 10.004}}),
        [{"name": "convert", "arguments": {"amount": 10.0}}],
        {"numeric_tolerance": 0.001},
        1.0,
    ),
    (
        "bool-is-not-int",
        hermes({"name": "send_email", "arguments": {"urgent": 1}}),
        [{"name": "send_email", "arguments": {"urgent": True}}],
        {},
        0.4,
    ),
    (
        "case-insensitive-strings",
        hermes({"name": "get_weather", "arguments": {"city": "paris ", "days": 3}}),
        [WEATHER],
        {"ignore_case": True},
        1.0,
    ),
    ("one-of-two-missing", hermes(WEATHER), TWO, {}, 0.5),
    ("no-call-expected-none-made", json.dumps({"tool_calls": []}), [], {}, 1.0),
    ("no-call-expected-one-made", hermes(WEATHER), [], {}, 0.0),
    ("no-call-expected-plain-answer", "It is sunny in Paris today.", [], {}, 1.0),
    ("no-call-expected-broken-call", '<tool_call>{"name": "get_weather"', [], {}, 0.0),
    # adversarial: a list padded with every tool earns only its share of the matched call
    ("padded-with-every-tool", hermes(*EVERY_TOOL), [WEATHER], {"check_schema": False}, 0.25),
    ("padded-with-every-tool-schema", hermes(*EVERY_TOOL), [WEATHER], {}, 0.25),
    ("repeated-call", hermes(WEATHER, WEATHER, WEATHER), [WEATHER], {}, 1 / 3),
    (
        "repeated-call-efficiency",
        hermes(WEATHER, WEATHER),
        [WEATHER],
        {"efficiency": True},
        0.5 * math.sin((4 / 3) * math.pi / 2),
    ),
    # malformed completions: 0 with a reason
    ("prose-only", "I would call the weather tool for Paris.", [WEATHER], {}, 0.0),
    ("prose-around-json", "Sure! " + json.dumps(WEATHER), [WEATHER], {}, 0.0),
    ("unclosed-hermes", '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}', [WEATHER], {}, 0.0),
    ("bad-json-in-tag", "<tool_call>{name: get_weather}</tool_call>", [WEATHER], {}, 0.0),
    ("arguments-not-object", hermes({"name": "get_weather", "arguments": [1, 2]}), [WEATHER], {}, 0.0),
    ("python-positional", 'get_weather("Paris", 3)', [WEATHER], {}, 0.0),
    ("python-not-literal", "get_weather(city=__import__('os').getcwd())", [WEATHER], {}, 0.0),
    ("deep-nesting", "<tool_call>" + "[" * 500 + "]" * 500 + "</tool_call>", [WEATHER], {}, 0.0),
    ("empty", "", [WEATHER], {}, 0.0),
    ("too-many-calls", hermes(*[WEATHER] * 65), [WEATHER], {}, 0.0),
    # the reference decides applicability
    ("no-reference", hermes(WEATHER), None, {}, Status.ABSTAIN),
    ("malformed-reference", hermes(WEATHER), "call the weather tool", {}, Status.ABSTAIN),
    ("reference-without-name", hermes(WEATHER), [{"arguments": {"city": "Paris"}}], {}, Status.ABSTAIN),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_regression_rows(row: tuple) -> None:
    _, completion, reference, params, expected = row
    sample = Sample(completion=completion, reference=reference, extras={"tools": TOOLS})
    score = rewardlab.load("tool_call", **params).score([sample])[0]
    if isinstance(expected, Status):
        assert score.status is expected, score
        assert score.reason
    else:
        assert score.status is Status.OK, score.reason
        assert score.value == pytest.approx(expected), score
        if expected == 0.0 and "format" in score.components and score.components["format"] == 0.0:
            assert score.reason, "a zero for an unreadable completion says why"


def test_components_name_each_part() -> None:
    score = rewardlab.load("tool_call").score_one(
        {"completion": hermes(WEATHER, SEARCH), "reference": [WEATHER], "tools": TOOLS}
    )
    parts = {"format", "name", "keys", "values", "schema", "match", "order", "efficiency", "calls", "reference_calls"}
    assert parts <= set(score.components)
    assert score.components["calls"] == 2 and score.components["reference_calls"] == 1
    assert "1 call(s) more than the reference" in score.reason


def test_malformed_tool_schemas_abstain() -> None:
    bad = [{"type": "function", "function": {"name": "f", "parameters": {"type": "no-such-type"}}}]
    score = rewardlab.load("tool_call").score_one({"completion": hermes(WEATHER), "reference": [WEATHER], "tools": bad})
    assert score.status is Status.ABSTAIN and "tools" in score.reason


def test_schema_failure_is_reported() -> None:
    call = {"name": "get_weather", "arguments": {"city": "Paris", "days": 0}}
    score = rewardlab.load("tool_call").score_one({"completion": hermes(call), "reference": [WEATHER], "tools": TOOLS})
    assert score.value == 0.0 and score.components["schema"] == 0.0
    assert "days" in score.reason and "minimum" in score.reason


def test_signature_round_trip() -> None:
    reward = rewardlab.load("tool_call", order_weight=0.3, formats=["hermes", "json"], numeric_tolerance=0.01)
    again = rewardlab.load(reward.signature)
    assert again.params == reward.params
    sample = {"completion": hermes(SEARCH, WEATHER), "reference": TWO, "tools": TOOLS}
    assert again.score_one(sample).value == reward.score_one(sample).value


def test_formats_parameter_limits_the_readers() -> None:
    reward = rewardlab.load("tool_call", formats=["hermes"])
    assert reward.score_one({"completion": hermes(WEATHER), "reference": [WEATHER]}).value == 1.0
    python_form = reward.score_one({"completion": 'get_weather(city="Paris", days=3)', "reference": [WEATHER]})
    assert python_form.value == 0.0 and "no tool call found" in python_form.reason


def test_parse_tool_calls_forms_agree() -> None:
    expected = [
        ToolCall("get_weather", {"city": "Paris", "days": 3}),
        ToolCall("search", {"query": "Eiffel tower height"}),
    ]
    forms = [
        hermes(*TWO),
        json.dumps(TWO),
        '[get_weather(city="Paris", days=3), search(query="Eiffel tower height")]',
        openai_messages(*TWO),
    ]
    for form in forms:
        assert parse_tool_calls(form) == expected


def test_otc_efficiency_shape() -> None:
    assert otc_efficiency(0, 0) == 1.0
    assert otc_efficiency(2, 2) == pytest.approx(1.0)
    assert otc_efficiency(1, 2) < 1.0
    assert otc_efficiency(3, 2) < 1.0 and otc_efficiency(6, 2) < otc_efficiency(3, 2)
    assert otc_efficiency(1, 0) < 1.0 and otc_efficiency(3, 0) < otc_efficiency(1, 0)


def test_values_equal_is_typed() -> None:
    assert values_equal(3, 3.0)
    assert not values_equal(True, 1)
    assert not values_equal("3", 3)
    assert values_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not values_equal([1, 2], [2, 1])
    assert values_equal(1.0, 1.05, tolerance=0.1)


_names = st.sampled_from(["get_weather", "search", "send_email", "convert", "lookup"])
_values = st.one_of(
    st.integers(-5, 5), st.booleans(), st.text(max_size=5), st.none(), st.floats(-10, 10, allow_nan=False)
)
_calls = st.lists(
    st.builds(
        lambda n, a: {"name": n, "arguments": a}, _names, st.dictionaries(st.sampled_from("abcd"), _values, max_size=3)
    ),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(reference=_calls, predicted=_calls, order=st.floats(0, 1), efficiency=st.booleans())
def test_properties(reference: list, predicted: list, order: float, efficiency: bool) -> None:
    reward = rewardlab.load("tool_call", order_weight=order, efficiency=efficiency)
    score = reward.score_one({"completion": json.dumps(predicted), "reference": reference})
    assert score.status is Status.OK
    assert 0.0 <= score.value <= 1.0
    again = reward.score_one({"completion": json.dumps(predicted), "reference": reference})
    assert again.value == score.value
    itself = reward.score_one({"completion": json.dumps(reference), "reference": reference})
    assert itself.value == pytest.approx(1.0)
    # once it makes as many calls as needed, a prediction never gains by adding a wrong one
    padded = reward.score_one(
        {"completion": json.dumps([*predicted, {"name": "unrelated", "arguments": {}}]), "reference": reference}
    )
    if len(predicted) >= len(reference):
        assert padded.value <= score.value + 1e-9


def test_missing_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from rewardlab.rewards.tool_call import _tool_call

    _tool_call._validator.cache_clear()
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    score = rewardlab.load("tool_call").score_one(
        {"completion": hermes(WEATHER), "reference": [WEATHER], "tools": TOOLS}
    )
    _tool_call._validator.cache_clear()
    assert score.status is Status.ERROR
    assert "pip install 'rewardlab[tools]'" in score.reason
