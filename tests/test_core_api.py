"""The public contract: Sample, Score, @reward, load, score/ascore, signatures, entry points."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewardlab
from rewardlab import Reward, RewardNotFound, RewardParamError, Sample, Score, Status, reward


def test_exported_names_are_exactly_the_public_api() -> None:
    assert sorted(rewardlab.__all__) == sorted(
        [
            "CallResult",
            "Executor",
            "FieldMap",
            "Reward",
            "RewardNotFound",
            "RewardParamError",
            "Sample",
            "SampleError",
            "Score",
            "Signature",
            "Status",
            "__version__",
            "list_rewards",
            "load",
            "register",
            "remote",
            "reward",
        ]
    )
    for name in rewardlab.__all__:
        assert hasattr(rewardlab, name)


class TestScore:
    def test_only_ok_carries_a_value(self) -> None:
        with pytest.raises(ValueError):
            Score(None, Status.OK)
        with pytest.raises(ValueError):
            Score(0.0, Status.ERROR)
        with pytest.raises(ValueError):
            Score(float("nan"), Status.OK)
        assert Score.error("x").value is None
        assert Score.timeout("x").status is Status.TIMEOUT
        assert Score.abstain("x").status is Status.ABSTAIN

    def test_round_trip_through_plain_data(self) -> None:
        score = Score.ok(0.5, components={"a": 1, "b": 0.25}, reason="why").with_signature("r|version:1")
        assert Score.from_dict(score.to_dict()) == score
        assert score.components == {"a": 1.0, "b": 0.25}

    def test_status_strings(self) -> None:
        assert Score(None, "timeout").status is Status.TIMEOUT
        assert str(Status.ABSTAIN) == "abstain"


class TestSample:
    def test_chat_messages(self) -> None:
        s = Sample(
            completion=[
                {"role": "assistant", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}
            ],
            prompt=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello"}],
        )
        assert s.completion_text == "Hi there"
        assert s.prompt_text == "hello"

    def test_from_mapping_keeps_extras_and_renames(self) -> None:
        from rewardlab import FieldMap

        s = Sample.from_mapping(
            {"resp": "x", "gold": "y", "task": "math", "q": "?"},
            FieldMap(completion="resp", reference="gold", prompt="q"),
        )
        assert (s.completion, s.reference, s.prompt) == ("x", "y", "?")
        assert s.extras == {"task": "math"}
        assert s.get("task") == "math" and s.get("missing", 3) == 3

    def test_missing_completion_names_the_field(self) -> None:
        from rewardlab import SampleError

        with pytest.raises(SampleError) as info:
            Sample.from_mapping({"answer": "x"})
        assert info.value.field == "completion"


@reward(name="test_api_len", range=(0.0, 100.0))
def length_reward(sample: Sample, *, scale: float = 1.0, unit: str = "chars") -> float:
    """Scaled length."""
    text = sample.completion_text
    return scale * (len(text) if unit == "chars" else len(text.split()))


@reward(name="test_api_async")
async def async_reward(sample: Sample, *, target: str = "yes") -> float:
    await asyncio.sleep(0.001)
    return float(sample.completion_text == target)


@reward(name="test_api_batch", batched=True)
def batch_reward(samples: list[Sample]) -> list[float | None]:
    return [None if s.completion_text == "skip" else 1.0 / len(samples) for s in samples]


@reward(name="test_api_raises")
def raising_reward(sample: Sample) -> float:
    if sample.completion_text == "boom":
        raise RuntimeError("verifier exploded")
    if sample.completion_text == "nan":
        return float("nan")
    return 1.0


def test_decorated_function_is_a_registered_reward() -> None:
    assert isinstance(length_reward, Reward)
    assert rewardlab.load("test_api_len") is length_reward
    assert length_reward.description == "Scaled length."
    assert length_reward.params == {"scale": 1.0, "unit": "chars"}


def test_parameters_rebind_and_are_typed_from_strings() -> None:
    r = rewardlab.load("test_api_len", scale="2.5", unit="words")
    assert r.params == {"scale": 2.5, "unit": "words"}
    assert r.score([{"completion": "a b c"}])[0].value == 7.5


def test_unknown_or_badly_typed_parameter_is_a_clear_error() -> None:
    with pytest.raises(RewardParamError, match="no parameter 'sclae'"):
        rewardlab.load("test_api_len", sclae=2)
    with pytest.raises(RewardParamError, match="scale"):
        rewardlab.load("test_api_len", scale="lots")


def test_unknown_reward_suggests_close_names() -> None:
    with pytest.raises(RewardNotFound, match="exact_match"):
        rewardlab.load("exact_mach")


def test_signature_is_loadable_back() -> None:
    r = rewardlab.load("exact_match", ignore_case=False, ignore_punctuation=True)
    sig = r.signature
    assert sig.startswith("exact_match|ignore_case:no|")
    assert sig.endswith(f"|version:{rewardlab.__version__}")
    again = rewardlab.load(sig)
    assert again.params == r.params
    score = r.score([{"completion": "Paris!", "reference": "Paris"}])[0]
    assert score.signature == sig
    assert rewardlab.load(score.signature).score([{"completion": "Paris!", "reference": "Paris"}]) == [score]


def test_async_reward_scores_from_sync_and_async_code() -> None:
    samples = [{"completion": "yes"}, {"completion": "no"}]
    assert [s.value for s in async_reward.score(samples)] == [1.0, 0.0]

    async def inside_loop() -> tuple[list[Score], list[Score]]:
        # both verbs work from inside a running loop
        return await async_reward.ascore(samples), async_reward.score(samples)

    a, b = asyncio.run(inside_loop())
    assert [s.value for s in a] == [s.value for s in b] == [1.0, 0.0]


def test_batched_reward_and_none_means_abstain() -> None:
    scores = batch_reward.score([{"completion": "a"}, {"completion": "skip"}, {"completion": "b"}, {"completion": "c"}])
    assert [s.status for s in scores] == [Status.OK, Status.ABSTAIN, Status.OK, Status.OK]
    assert scores[0].value == 0.25


def test_failures_are_never_zero() -> None:
    scores = raising_reward.score([{"completion": "boom"}, {"completion": "nan"}, {"completion": "fine"}])
    assert scores[0].status is Status.ERROR and "verifier exploded" in scores[0].reason
    assert scores[1].status is Status.ERROR and scores[1].value is None
    assert scores[2].value == 1.0


def test_score_accepts_samples_and_dicts_and_keeps_order() -> None:
    r = rewardlab.load("exact_match")
    items = [
        Sample(completion="a", reference="a"),
        {"completion": "b", "reference": "c"},
        {"completion": "x", "reference": "X"},
    ]
    assert [s.value for s in r.score(items)] == [1.0, 0.0, 1.0]
    assert r.score([]) == []


def test_ascore_equals_score() -> None:
    r = rewardlab.load("exact_match")
    items = [{"completion": "a", "reference": "a"}, {"completion": "b", "reference": "c"}]
    assert asyncio.run(r.ascore(items)) == r.score(items)


def test_load_spec_mapping_of_a_single_reward() -> None:
    r = rewardlab.load({"reward": "exact_match", "params": {"ignore_case": False}})
    assert r.params["ignore_case"] is False


def test_reward_needs_sample_argument() -> None:
    with pytest.raises(TypeError):
        reward(lambda: 1.0)  # type: ignore[arg-type]


def test_name_clash_with_a_different_function_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @reward(name="test_api_len")
        def other(sample: Sample) -> float:
            return 0.0


def test_list_rewards_includes_builtins() -> None:
    names = {r.name for r in rewardlab.list_rewards()}
    assert {"exact_match", "contains", "format", "overlong", "repetition", "length", "math"} <= names


def test_third_party_entry_point_is_found(tmp_path: Path) -> None:
    """A package installed with a rewardlab.rewards entry point becomes loadable by name."""
    pkg = tmp_path / "site"
    (pkg / "shouty_rewards").mkdir(parents=True)
    (pkg / "shouty_rewards" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from rewardlab import reward

            @reward(name="shouty", register=False)
            def shouty(sample):
                return 1.0 if sample.completion_text.isupper() else 0.0
            """
        )
    )
    dist = pkg / "shouty_rewards-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shouty-rewards\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[rewardlab.rewards]\nshouty = shouty_rewards:shouty\n")
    code = (
        "import rewardlab, sys; r = rewardlab.load('shouty');"
        "s = r.score([{'completion': 'HI'}, {'completion': 'hi'}]);"
        "print(s[0].value, s[1].value)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(pkg), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1.0", "0.0"]


def test_entry_points_that_give_no_reward_are_reported_with_their_distribution(tmp_path: Path) -> None:
    pkg = tmp_path / "site"
    (pkg / "mixed_rewards").mkdir(parents=True)
    (pkg / "mixed_rewards" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from rewardlab import reward

            @reward(name="mixed_good", register=False)
            def good(sample):
                return 1.0

            def plain(sample):
                return 1.0
            """
        )
    )
    (pkg / "mixed_rewards" / "empty.py").write_text("X = 1\n")
    (pkg / "mixed_rewards" / "broken.py").write_text("raise ImportError('needs a GPU library')\n")
    dist = pkg / "mixed_rewards-2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mixed-rewards\nVersion: 2.3\n")
    (dist / "entry_points.txt").write_text(
        "[rewardlab.rewards]\n"
        "good = mixed_rewards:good\n"
        "plain = mixed_rewards:plain\n"
        "empty = mixed_rewards.empty\n"
        "broken = mixed_rewards.broken\n"
    )
    code = (
        "import rewardlab; names = [r.name for r in rewardlab.list_rewards()];"
        "print('mixed_good' in names, rewardlab.load('mixed_good').score([{'completion': 'x'}])[0].value)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(pkg), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "1.0"]  # the good entry point still works
    warned = [line for line in out.stderr.splitlines() if "EntryPointWarning" in line]
    prefix = "EntryPointWarning: entry point {} (rewardlab.rewards) of distribution mixed-rewards 2.3"
    assert len(warned) == 3, out.stderr
    assert warned[0].endswith(
        prefix.format("'plain' = 'mixed_rewards:plain'")
        + " is function 'plain', not a reward or a module of rewards; it is ignored"
    )
    assert warned[1].endswith(
        prefix.format("'empty' = 'mixed_rewards.empty'") + " is a module that defines no reward; it is ignored"
    )
    assert warned[2].endswith(
        prefix.format("'broken' = 'mixed_rewards.broken'")
        + " could not be loaded: ImportError: needs a GPU library; it is ignored"
    )


@settings(max_examples=100, deadline=None)
@given(tags=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4), strict=st.booleans())
def test_any_parameters_survive_the_signature_round_trip(tags: list[str], strict: bool) -> None:
    r = rewardlab.load("format", tags=tags, strict=strict)
    again = rewardlab.load(r.signature)
    assert again.params == r.params
    assert again.signature == r.signature
