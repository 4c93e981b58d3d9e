"""Spec nodes are pydantic models: malformed specs are reported with file, line, key path and a plain message."""

from __future__ import annotations

from pathlib import Path

import pytest

import rewardlab
from rewardlab.compose import SpecError, check_spec, load_spec_file

# (file name, text, [(line, key path, words of the message)]): every problem of the file, in file order.
MALFORMED = [
    pytest.param(
        "strict_types.toml",
        'combine = "sum"\n'
        "[[terms]]\n"
        'reward = "format"\n'
        "weight = true\n"  # 4: a boolean is not a number
        "[[terms]]\n"
        'reward = "length"\n'
        'weight = "2"\n'  # 7: no coercion of strings
        'optional = "yes"\n',  # 8
        [
            (4, "terms[0].weight", "expected a finite number, got True"),
            (7, "terms[1].weight", "expected a finite number, got '2'"),
            (8, "terms[1].optional", "expected true or false, got 'yes'"),
        ],
        id="toml-strict-types",
    ),
    pytest.param(
        "kinds.yaml",
        "combine: median\n"  # 1
        "terms:\n"
        "  - transform: squash\n"  # 3
        "    of: format\n"
        "  - weight: 2\n"  # 5: no kind key
        "  - {reward: format, gate: format}\n"  # 6: two kind keys
        "  - 7\n",  # 7
        [
            (1, "combine", "unknown combination 'median'; choose one of sum, mean, min, max, product, lsc_and"),
            (3, "terms[0].transform", "unknown transform 'squash'"),
            (
                5,
                "terms[1]",
                "a node needs exactly one of the keys reward, combine, gate, route, transform, group (found none)",
            ),
            (6, "terms[2]", "(found reward, gate)"),
            (7, "terms[3]", "expected a table/mapping or a reward name, got int"),
        ],
        id="yaml-kinds",
    ),
    pytest.param(
        "nested.yaml",
        "route: task\n"
        "routes:\n"
        "  math:\n"
        "    gate: format\n"  # no then: reported at the node (3)
        "    threshold: .inf\n"  # 5
        "  code:\n"
        "    transform: length_penalty\n"  # no target, no of: reported at the node (6)
        "    unit: 3\n"  # 8
        "  qa:\n"
        "    combine: lsc_and\n"
        "    terms:\n"
        "      - reward: exact_match\n"  # 12: neither reference nor reference_field
        "        optional: true\n"  # 13: not a key of an lsc_and term
        "default: {reward: math, params: {tolerance: 1}, colour: red}\n",  # 14
        [
            (3, "routes.math.then", "a gate needs 'then'"),
            (5, "routes.math.threshold", "expected a finite number, got inf"),
            (6, "routes.code.of", "transform 'length_penalty' needs 'of'"),
            (6, "routes.code.target", "transform 'length_penalty' needs 'target'"),
            (8, "routes.code.unit", "expected a non-empty string, got 3"),
            (12, "routes.qa.terms[0]", "an lsc_and term needs exactly one of reference or reference_field"),
            (
                13,
                "routes.qa.terms[0].optional",
                "unknown key for a reward (allowed: description, name, params, "
                "reference, reference_field, reward, weight)",
            ),
            (14, "default.params.tolerance", "reward 'math' has no parameter 'tolerance'"),
            (14, "default.colour", "unknown key for a reward (allowed: description, name, params, reward)"),
        ],
        id="yaml-nested",
    ),
    pytest.param(
        "group.json",
        '{\n  "group": "pairwise_win_rate",\n  "preference": "no_such_module_x:prefer",\n'
        '  "symmetric": 1,\n  "temperature": "hot",\n  "group_by": ""\n}\n',
        [
            (3, "preference", "cannot import 'no_such_module_x:prefer'"),
            (4, "symmetric", "expected true or false, got 1"),
            (5, "temperature", "expected a finite number, got 'hot'"),
            (6, "group_by", "expected a non-empty string, got ''"),
        ],
        id="json-group",
    ),
    pytest.param(
        "names.toml",
        'combine = "sum"\n'
        "[[terms]]\n"
        'reward = "format"\n'
        'name = "x"\n'
        "[[terms]]\n"
        'reward = "length"\n'
        'name = "x"\n'  # 7: a second term named x
        "[[terms]]\n"
        'reward = "exact_mach"\n'  # 9: a typo
        "[[terms]]\n"
        'reward = "exact_match"\n'
        "[terms.params]\n"
        "bogus = 1\n",  # 13
        [
            (7, "terms[1].name", "duplicate term name 'x' (first at terms[0])"),
            (9, "terms[2].reward", "did you mean exact_match"),
            (13, "terms[3].params.bogus", "bogus"),
        ],
        id="toml-names-and-registry",
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), MALFORMED)
def test_malformed_spec_names_file_line_and_key(
    tmp_path: Path, name: str, text: str, expected: list[tuple[int, str, str]]
) -> None:
    spec = tmp_path / name
    spec.write_text(text)
    problems = check_spec(spec)
    assert [(p.line, p.key) for p in problems] == [(line, key) for line, key, _ in expected], [str(p) for p in problems]
    for problem, (line, key, words) in zip(problems, expected, strict=True):
        assert words in problem.message, str(problem)
        assert str(problem).startswith(f"{spec}:{line}: {key}: ")
    with pytest.raises(SpecError) as info:
        load_spec_file(spec)
    assert [str(p) for p in info.value.problems] == [str(p) for p in problems]


def test_problems_inside_an_included_file_name_that_file(tmp_path: Path) -> None:
    inner = tmp_path / "inner.toml"
    inner.write_text('combine = "sum"\n[[terms]]\nreward = "format"\nweight = "x"\n')
    outer = tmp_path / "outer.yaml"
    outer.write_text("gate: format\nthen:\n  reward: inner.toml\n")
    assert [str(p) for p in check_spec(outer)] == [
        f"{outer}:3: then.reward: in included spec: {inner}:4: terms[0].weight: expected a finite number, got 'x'"
    ]
    outer.write_text("gate: format\nthen:\n  reward: inner.toml\n  params: {a: 1}\n")
    assert [str(p) for p in check_spec(outer)] == [
        f"{outer}:4: then.params: an included spec file takes parameters as '<term>.<param>' keys"
    ]


def test_spec_mapping_problems_carry_the_key_path() -> None:
    problems = check_spec({"combine": "sum", "terms": ["format", {"reward": "length", "weight": float("nan")}]})
    assert [str(p) for p in problems] == ["<mapping>: terms[1].weight: expected a finite number, got nan"]


def test_every_node_kind_builds_and_round_trips() -> None:
    spec = {
        "name": "all_kinds",
        "combine": "sum",
        "terms": [
            {"reward": "format", "weight": 0.5, "optional": True},
            {"gate": "format", "then": {"transform": "clip", "of": "length", "low": 0, "high": 1}, "name": "gated"},
            {"route": "task", "routes": {"a": "exact_match"}, "default": {"reward": "contains"}},
            {"combine": "lsc_and", "terms": [{"reward": "format", "reference": 0.5}], "name": "lsc"},
            {"transform": "length_penalty", "of": "exact_match", "target": 3, "unit": "words"},
        ],
    }
    reward = rewardlab.load(spec)
    assert reward.label == "all_kinds"
    assert rewardlab.load(reward.signature).signature == reward.signature
    score = reward.score([{"completion": "<think>a</think><answer>x</answer>", "reference": "x", "task": "a"}])[0]
    assert score.status.value == "ok"
    assert set(score.components) >= {"format", "gated", "lsc"}
