"""Composite rewards: combinators, status propagation, specs, `check`, signatures, pools."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _compose_rewards  # noqa: F401  (registers the test rewards)
import rewardlab
from rewardlab import Status
from rewardlab.compose import (
    CompositeReward,
    SpecError,
    Term,
    build_spec,
    check_spec,
    gate,
    load_spec_file,
    maximum,
    mean,
    minimum,
    product,
    route,
    weighted_sum,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SPECS = sorted((ROOT / "examples" / "specs").glob("*"))
V = "test_compose_value"


def rows(*values: object, field: str = "value") -> list[dict[str, object]]:
    return [{"completion": "c", field: v} for v in values]


def v(field: str) -> rewardlab.Reward:
    return rewardlab.load(V, field=field)


# -- combinators ---------------------------------------------------------------------------------


def test_weighted_sum_keeps_each_term_and_hand_value() -> None:
    r = weighted_sum(Term(v("a"), 0.5, name="a"), Term(v("b"), -2.0, name="b"))
    s = r.score([{"completion": "c", "a": 3, "b": 0.25}])[0]
    assert s.status is Status.OK
    assert s.value == pytest.approx(0.5 * 3 - 2.0 * 0.25)
    assert s.components == {"a": 3.0, "b": 0.25}


@pytest.mark.parametrize(
    ("combinator", "expected"),
    [(mean, 2.0), (minimum, 1.0), (maximum, 3.0), (product, 6.0 * 0.5 / 1.5)],
)
def test_min_max_mean_product(combinator, expected) -> None:  # type: ignore[no-untyped-def]
    r = combinator(Term(v("a"), name="a"), Term(v("b"), name="b"), Term(v("c"), name="c"))
    values = {"a": 1.0, "b": 3.0, "c": 2.0} if combinator is not product else {"a": 2.0, "b": 3.0, "c": 0.5}
    s = r.score([{"completion": "c", **values}])[0]
    assert s.value == pytest.approx(expected if combinator is not product else 3.0)


@pytest.mark.parametrize(
    ("b_value", "status", "in_reason"),
    [
        ("boom", Status.ERROR, "verifier exploded"),
        ("timeout", Status.TIMEOUT, "took too long"),
        (None, Status.ABSTAIN, "no b"),
    ],
)
def test_required_term_failure_propagates_never_zero(b_value: object, status: Status, in_reason: str) -> None:
    r = weighted_sum(Term(v("a"), name="a"), Term(v("b"), name="b"))
    s = r.score([{"completion": "c", "a": 1.0, "b": b_value}])[0]
    assert s.status is status
    assert s.value is None
    assert "b:" in s.reason and in_reason in s.reason
    assert s.components == {"a": 1.0}  # what was computed is kept


def test_worst_status_wins_and_every_failure_is_named() -> None:
    r = mean(Term(v("a"), name="a"), Term(v("b"), name="b"), Term(v("c"), name="c"))
    s = r.score([{"completion": "c", "a": "timeout", "b": None, "c": "boom"}])[0]
    assert s.status is Status.ERROR
    assert all(f"{k}:" in s.reason for k in "abc")


def test_optional_term_is_left_out_not_zeroed() -> None:
    r = mean(Term(v("a"), name="a"), Term(v("b"), name="b", optional=True))
    ok, dropped = r.score([{"completion": "c", "a": 4.0, "b": 2.0}, {"completion": "c", "a": 4.0, "b": "boom"}])
    assert ok.value == 3.0
    assert dropped.status is Status.OK and dropped.value == 4.0  # mean over the remaining term, not (4+0)/2
    assert "left out: b" in dropped.reason
    only_optional = mean(Term(v("b"), optional=True)).score(rows("boom", field="b"))[0]
    assert only_optional.status is Status.ABSTAIN


def test_gate_semantics_and_then_runs_only_on_passing_rows() -> None:
    seen: list[str] = []

    @rewardlab.reward(name="test_compose_spy", register=False)
    def spy(sample: rewardlab.Sample) -> float:
        seen.append(sample.completion_text)
        return 1.0

    r = gate(v("g"), spy, threshold=0.5, otherwise=-1.0)
    samples = [
        {"completion": "pass", "g": 0.5},
        {"completion": "fail", "g": 0.4},
        {"completion": "broken", "g": "boom"},
    ]
    passed, failed, broken = r.score(samples)
    assert seen == ["pass"]
    assert passed.value == 1.0 and passed.components == {"test_compose_value": 0.5, "test_compose_spy": 1.0}
    assert failed.value == -1.0 and "gated out" in failed.reason
    assert broken.status is Status.ERROR and broken.value is None


def test_route_by_field_with_default_and_missing_route() -> None:
    r = route("task", {"a": v("a"), "b": v("b")})
    samples = [
        {"completion": "c", "task": "a", "a": 1.0, "b": 2.0},
        {"completion": "c", "task": "b", "a": 1.0, "b": 2.0},
        {"completion": "c", "task": "zzz"},
        {"completion": "c"},
    ]
    out = r.score(samples)
    assert [s.value for s in out[:2]] == [1.0, 2.0]
    assert out[0].components == {"a": 1.0}
    assert out[2].status is Status.ABSTAIN and "task='zzz'" in out[2].reason
    assert out[3].status is Status.ABSTAIN and "missing" in out[3].reason
    with_default = route("task", {"a": v("a")}, default=v("b")).score(samples[1:3] + [{"completion": "c", "b": 7}])
    assert [s.value for s in with_default] == [2.0, None, 7.0]
    assert with_default[1].status is Status.ABSTAIN  # the default itself abstained: no b field


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=4),
    st.lists(st.floats(-1e3, 1e3), min_size=4, max_size=4),
    st.lists(st.floats(-1e3, 1e3), min_size=4, max_size=4),
    st.floats(-10, 10),
)
def test_weighted_sum_is_linear(weights, xs, ys, c) -> None:  # type: ignore[no-untyped-def]
    """S(x + c*y) = S(x) + c*S(y) for the weighted sum of term values."""
    k = len(weights)
    r = weighted_sum(*(Term(v(f"t{i}"), w, name=f"t{i}") for i, w in enumerate(weights)))

    def total(values: list[float]) -> float:
        value = r.score([{"completion": "c", **{f"t{i}": values[i] for i in range(k)}}])[0].value
        assert value is not None
        return value

    x, y = xs[:k], ys[:k]
    combined = total([a + c * b for a, b in zip(x, y, strict=True)])
    scale = 1.0 + sum(abs(w) * (abs(a) + abs(c * b)) for w, a, b in zip(weights, x, y, strict=True))
    assert combined == pytest.approx(total(x) + c * total(y), abs=1e-9 * scale)


# -- pools and isolation ------------------------------------------------------------------------------


def test_composite_is_isolated_if_any_child_is_and_passes_the_pool_down(pool) -> None:  # type: ignore[no-untyped-def]
    inner = weighted_sum(Term("test_compose_pid", name="pid"), Term(v("a"), name="a"), name="inner")
    assert inner.isolated
    assert not weighted_sum(Term(v("a"))).isolated
    r = gate(v("a"), inner, threshold=0.0)
    assert r.isolated
    scores = r.score([{"completion": "c", "a": 1.0}] * 3, pool=pool)
    pids = {int(s.components["inner.pid.pid"]) for s in scores}
    assert pids and pids <= set(pool.pids) and os.getpid() not in pids


def test_composites_pickle_and_rebind_child_parameters() -> None:
    r = weighted_sum(Term("exact_match", name="em"), Term("format", 0.5))
    clone = pickle.loads(pickle.dumps(r))
    sample = {"completion": "PARIS", "reference": "paris"}
    assert clone.score([sample])[0].value == r.score([sample])[0].value == 1.0
    strict = r(**{"em.ignore_case": "no"})
    assert strict.score([sample])[0].components["em"] == 0.0
    assert r.score([sample])[0].components["em"] == 1.0  # the original is unchanged
    with pytest.raises(rewardlab.RewardParamError, match="em.<param>"):
        r(ignore_case=False)


# -- signatures and specs round-trip -------------------------------------------------------------------


def test_signature_loads_back_to_an_equal_reward() -> None:
    r = weighted_sum(
        Term("format", 0.2),
        Term(gate("format", rewardlab.load("exact_match", ignore_punctuation=True)), name="answer"),
        name="pipe|weird:name",
    )
    sig = r.signature
    assert sig.startswith("compose|spec:") and sig.count("|") == 2
    again = rewardlab.load(sig)
    assert isinstance(again, CompositeReward)
    assert again.signature == sig
    assert again.spec == r.spec
    samples = [{"completion": "<think>a</think><answer>Paris!</answer>", "reference": "paris"}]
    assert again.score(samples)[0].to_dict() == r.score(samples)[0].to_dict()
    assert r.score(samples)[0].signature == sig


def test_spec_mapping_equals_python_factories() -> None:
    spec = {
        "combine": "sum",
        "terms": [
            {"reward": "format", "weight": 0.1},
            {"gate": {"reward": "format"}, "then": {"reward": "exact_match"}, "name": "answer", "otherwise": -1.0},
        ],
    }
    built = rewardlab.load(spec)
    by_hand = weighted_sum(Term("format", 0.1), Term(gate("format", "exact_match", otherwise=-1.0), name="answer"))
    assert built.spec == by_hand.spec
    assert build_spec(built.spec).signature == built.signature


@pytest.mark.parametrize("spec_path", EXAMPLE_SPECS, ids=[p.name for p in EXAMPLE_SPECS])
def test_every_shipped_spec_is_valid_and_round_trips(spec_path: Path) -> None:
    assert check_spec(spec_path) == []
    reward = rewardlab.load(spec_path)
    assert rewardlab.load(reward.signature).signature == reward.signature


def test_spec_problems_are_all_reported_with_file_line_and_key(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(
        "\n".join(
            [
                'combine = "sum"',  # 1
                "",  # 2
                "[[terms]]",  # 3
                'reward = "exact_mach"',  # 4  typo in the name
                "",  # 5
                "[[terms]]",  # 6
                'reward = "format"',  # 7
                'weight = "heavy"',  # 8  not a number
                "colour = 1",  # 9  unknown key
                "",  # 10
                "[[terms]]",  # 11
                'reward = "exact_match"',  # 12
                "[terms.params]",  # 13
                'ignore_case = "maybe"',  # 14  wrong type
                "bogus = 1",  # 15 unknown parameter
            ]
        )
        + "\n"
    )
    problems = check_spec(spec)
    found = {(p.key, p.line) for p in problems}
    assert ("terms[0].reward", 4) in found
    assert ("terms[1].weight", 8) in found
    assert ("terms[1].colour", 9) in found
    assert ("terms[2].params.ignore_case", 14) in found
    assert ("terms[2].params.bogus", 15) in found
    assert len(problems) == 5
    assert any("did you mean exact_match" in p.message for p in problems)
    with pytest.raises(SpecError) as info:
        load_spec_file(spec)
    assert str(info.value).count(str(spec)) == 5


def test_yaml_and_json_problems_carry_lines(tmp_path: Path) -> None:
    yml = tmp_path / "bad.yaml"
    yml.write_text("route: task\nroutes:\n  math:\n    reward: nope\n  qa:\n    transform: clip\n")
    problems = check_spec(yml)
    keys = {(p.key, p.line) for p in problems}
    assert ("routes.math.reward", 4) in keys
    assert ("routes.qa.of", 5) in keys  # a missing key points at its node
    js = tmp_path / "bad.json"
    js.write_text('{\n  "combine": "median",\n  "terms": [{"reward": "format"}]\n}\n')
    (problem,) = check_spec(js)
    assert problem.key == "combine" and problem.line == 2 and "median" in problem.message
    broken = tmp_path / "broken.toml"
    broken.write_text('combine = "sum"\nweight = = 1\nterms = []\n')
    (syntax,) = check_spec(broken)
    assert "invalid TOML" in syntax.message and syntax.line == 2
    broken.write_text('combine = "sum"\nterms = [\n')
    (at_end,) = check_spec(broken)
    assert at_end.line == 2


def test_spec_structural_problems(tmp_path: Path) -> None:
    cases = {
        "no kind": ({"weight": 1}, "exactly one of the keys"),
        "two kinds": ({"reward": "format", "combine": "sum", "terms": []}, "found reward, combine"),
        "empty terms": ({"combine": "sum", "terms": []}, "non-empty list"),
        "dup names": (
            {"combine": "sum", "terms": [{"reward": "format", "name": "x"}, {"reward": "length", "name": "x"}]},
            "duplicate term name",
        ),
        "gate without then": ({"gate": "format"}, "needs 'then'"),
        "lsc_and without reference": ({"combine": "lsc_and", "terms": ["format"]}, "exactly one of reference"),
        "missing target": ({"transform": "length_penalty", "of": "length"}, "needs 'target'"),
        "bad clip": ({"transform": "clip", "of": "length", "low": 2, "high": 1}, "must not exceed"),
        "unknown group": ({"group": "elo", "preference": "format"}, "unknown group reward"),
        "bad preference import": ({"group": "pairwise_win_rate", "preference": "no.such.module:f"}, "cannot import"),
    }
    for label, (spec, message) in cases.items():
        problems = check_spec(spec)
        assert problems, label
        assert any(message in p.message for p in problems), (label, [str(p) for p in problems])


def test_spec_files_include_other_spec_files(tmp_path: Path) -> None:
    (tmp_path / "inner.toml").write_text('combine = "max"\nterms = ["format", "exact_match"]\n')
    outer = "combine: sum\nterms:\n  - reward: inner.toml\n    weight: 2\n    name: best\n"
    (tmp_path / "outer.yaml").write_text(outer)
    reward = rewardlab.load(tmp_path / "outer.yaml")
    s = reward.score([{"completion": "x", "reference": "x"}])[0]
    assert s.value == 2.0 and s.components["best"] == 1.0
    (tmp_path / "loop.toml").write_text('combine = "sum"\nterms = ["loop.toml"]\n')
    assert any("cycle" in p.message for p in check_spec(tmp_path / "loop.toml"))


# -- command line ----------------------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from rewardlab.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_check_command_reports_every_problem_and_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('combine = "sum"\n[[terms]]\nreward = "nope"\n[[terms]]\nreward = "format"\nweight = "x"\n')
    result = run_cli("check", *map(str, EXAMPLE_SPECS), str(bad))
    assert result.returncode == 1
    assert f"{bad}:3: terms[0].reward" in result.stderr
    assert f"{bad}:6: terms[1].weight" in result.stderr
    assert result.stderr.count("ok ") == len(EXAMPLE_SPECS)
    good = run_cli("check", str(EXAMPLE_SPECS[0]), "--signature")
    assert good.returncode == 0 and good.stdout.startswith("compose|spec:")


def test_score_command_accepts_a_spec(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    spec = ROOT / "examples" / "specs" / "lsc_and.toml"
    result = run_cli("score", str(ROOT / "examples" / "compose_mixed.jsonl"), "-r", str(spec), "-o", str(out))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 8
    by_id = {row["id"]: row for row in lines}
    # q1: format ok, "Paris." != "Paris" -> log sig(0.5) + log sig(-0.5)
    expected = math.log(1 / (1 + math.exp(-0.5))) + math.log(1 / (1 + math.exp(0.5)))
    assert by_id["q1"]["reward"] == pytest.approx(expected)
    assert by_id["q1"]["reward_components"] == {"format": 1.0, "correct": 0.0}
    assert by_id["x1"]["reward_status"] == "abstain"  # no reference: never a number
    assert by_id["x1"]["reward"] is None
    assert rewardlab.load(by_id["q1"]["reward_signature"]).signature == by_id["q1"]["reward_signature"]


def test_exported_names() -> None:
    import rewardlab.compose as compose
    import rewardlab.integrations as integrations

    assert sorted(compose.__all__) == sorted(
        [
            "CompositeReward", "SpecError", "SpecProblem", "Term",
            "affine", "build_spec", "check_spec", "clip", "gate",
            "gated_accumulation", "length_correlation", "length_penalty", "load_spec_file", "lsc",
            "lsc_and", "maximum", "mean", "minimum", "pairwise_win_rate", "par", "product", "route",
            "running_normalize", "weighted_sum",
        ]
    )  # fmt: skip
    assert sorted(integrations.__all__) == sorted(
        [
            "ON_FAILURE_ENV", "REWARD_ENV", "AsyncTRLReward", "RewardFailure", "TRLReward", "close_loaded_rewards",
            "compute_score",
            "compute_score_batch", "make_compute_score", "make_openrlhf_reward_func", "to_trl",
            "write_openrlhf_reward_file",
        ]
    )  # fmt: skip
    for module in (compose, integrations):
        for name in module.__all__:
            assert getattr(module, name) is not None
            if not name.isupper() and not name.startswith("_"):
                assert getattr(module, name).__doc__, f"{module.__name__}.{name} has no docstring"
