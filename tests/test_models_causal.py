"""``dpo_implicit``, ``likelihood`` and ``prm`` on tiny causal LMs built here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("transformers")

import _tiny_models as tiny  # noqa: E402
import rewardlab  # noqa: E402
from rewardlab import Status  # noqa: E402


@pytest.fixture(scope="module")
def lms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lm")
    return tiny.build_causal(root / "policy", seed=1), tiny.build_causal(root / "reference", seed=2)


def _direct_logprob(folder: Path, prompt: str, completion: str, prefix: str = "") -> float:
    """Sum of log p(completion tokens), computed with plain transformers calls on one sequence."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    prompt_ids += tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
    answer_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.inference_mode():
        logp = torch.log_softmax(model(ids).logits[0].float(), -1)
    return sum(logp[len(prompt_ids) + k - 1, t].item() for k, t in enumerate(answer_ids))


ROWS = [
    {
        "prompt": "what is six times seven?",
        "completion": "Step 1: six times seven.\n\nSo the answer is \\boxed{42}.",
        "reference": "42",
    },
    {
        "prompt": "can you help me with my homework?",
        "completion": "sure, step by step\n\nfirst 2 + 3 = 5\n\n\\boxed{5}",
        "reference": "5",
    },
    {"prompt": "tell me about cats", "completion": "the cat sat on the mat <answer>cats</answer>", "reference": "cats"},
    {
        "prompt": "how do I bake bread?",
        "completion": " ".join(["the dog ran in the park"] * 12) + " \\boxed{bread}",
        "reference": "bread",
    },
]


def _close_all(*rewards: rewardlab.Reward) -> None:
    for r in rewards:
        r.close()


def test_dpo_implicit_matches_direct_computation_and_is_zero_against_itself(lms: tuple[Path, Path]) -> None:
    policy, reference = lms
    reward = rewardlab.load("dpo_implicit", policy=str(policy), reference=str(reference), beta=0.5)
    same = rewardlab.load("dpo_implicit", policy=str(policy), reference=str(policy))
    row = ROWS[0]
    got = reward.score([row])[0]
    expected = 0.5 * (
        _direct_logprob(policy, row["prompt"], row["completion"])
        - _direct_logprob(reference, row["prompt"], row["completion"])
    )
    assert got.status is Status.OK and got.value == pytest.approx(expected, abs=1e-4)
    assert all(abs(s.value) < 1e-9 for s in same.score(ROWS))  # type: ignore[arg-type]
    mean = reward(reduce="mean").score([row])[0]
    assert mean.value == pytest.approx(got.value / got.components["tokens"], abs=1e-6)  # type: ignore[operator]
    _close_all(reward, same)


def test_causal_rewards_are_batch_invariant(lms: tuple[Path, Path]) -> None:
    policy, reference = lms
    rewards = [
        rewardlab.load("dpo_implicit", policy=str(policy), reference=str(reference), batch_tokens=200),
        rewardlab.load("likelihood", model=str(policy), batch_tokens=200),
        rewardlab.load("prm", model=str(policy), batch_tokens=200),
        rewardlab.load("prm", model=str(policy), mode="implicit", reference=str(reference), batch_tokens=200),
    ]
    for reward in rewards:
        together = reward.score(ROWS)
        alone = [reward.score([row])[0] for row in ROWS]
        for a, b in zip(together, alone, strict=True):
            assert a.status is Status.OK, a.reason
            assert abs(a.value - b.value) < 1e-4  # type: ignore[operator]
            for key, value in a.components.items():
                assert abs(value - b.components[key]) < 1e-4
    _close_all(*rewards)


def test_likelihood_ignores_the_completions_own_answer(lms: tuple[Path, Path]) -> None:
    policy, _ = lms
    reward = rewardlab.load("likelihood", model=str(policy))
    right, wrong, no_answer, no_reference = reward.score(
        [
            {"prompt": "q", "completion": "2 + 3 = 5 so \\boxed{5}", "reference": "5"},
            {"prompt": "q", "completion": "2 + 3 = 5 so \\boxed{7}", "reference": "5"},
            {"prompt": "q", "completion": "2 + 3 = 5", "reference": "5"},
            {"prompt": "q", "completion": "\\boxed{5}"},
        ]
    )
    assert right.status is Status.OK and 0.0 < right.value <= 1.0  # type: ignore[operator]
    assert right.value == pytest.approx(wrong.value, abs=1e-9)
    assert no_answer.status is Status.ABSTAIN and "final answer" in no_answer.reason
    assert no_reference.status is Status.ABSTAIN
    logp = reward(reduce="log_prob").score(
        [{"prompt": "q", "completion": "2 + 3 = 5 so \\boxed{5}", "reference": "5"}]
    )[0]
    assert logp.value == pytest.approx(_direct_logprob(policy, "q", "5", prefix="2 + 3 = 5 so \\boxed{"), abs=1e-4)
    assert right.components["log_prob"] == pytest.approx(logp.value, abs=1e-9)
    assert reward(reduce="prob").score([ROWS[0]])[0].value == pytest.approx(
        math.exp(reward(reduce="log_prob").score([ROWS[0]])[0].value), rel=1e-9
    )  # type: ignore[arg-type]
    reward.close()


def test_prm_classifier_steps_and_aggregations(lms: tuple[Path, Path]) -> None:
    policy, _ = lms
    row = ROWS[1]
    by = {
        how: rewardlab.load("prm", model=str(policy), aggregate=how).score([row])[0]
        for how in ("min", "last", "mean", "product")
    }
    steps = [by["min"].components[f"step_{k}"] for k in range(int(by["min"].components["steps"]))]
    assert len(steps) == 3 and all(0.0 < s < 1.0 for s in steps)
    assert by["min"].value == pytest.approx(min(steps))
    assert by["last"].value == pytest.approx(steps[-1])
    assert by["mean"].value == pytest.approx(sum(steps) / 3)
    assert by["product"].value == pytest.approx(math.prod(steps))
    vocabulary = rewardlab.load("prm", model=str(policy), negative_token=None).score([row])[0]
    assert vocabulary.value < by["min"].value  # type: ignore[operator]  (over the whole vocabulary, p(+) is small)


def test_implicit_prm_sums_to_the_dpo_reward(lms: tuple[Path, Path]) -> None:
    policy, reference = lms
    row = ROWS[1]
    implicit = rewardlab.load(
        "prm", model=str(policy), mode="implicit", reference=str(reference), beta=0.1, aggregate="mean"
    ).score([row])[0]
    dpo = rewardlab.load("dpo_implicit", policy=str(policy), reference=str(reference), beta=0.1).score([row])[0]
    steps = [implicit.components[f"step_{k}"] for k in range(int(implicit.components["steps"]))]
    # the same tokens: the steps joined by the separator are the completion's text
    assert sum(steps) == pytest.approx(dpo.value, abs=2e-3)
    against_itself = rewardlab.load("prm", model=str(policy), mode="implicit", reference=str(policy)).score([row])[0]
    assert against_itself.value == pytest.approx(0.0, abs=1e-9)
    bad = rewardlab.load("prm", model=str(policy), mode="implicit", reference=str(reference), aggregate="product")
    failed = bad.score([row])[0]
    assert failed.status is Status.ERROR and "product" in failed.reason


def test_truncation_cuts_only_the_prompt(lms: tuple[Path, Path]) -> None:
    policy, reference = lms
    row = {"prompt": "tell me about cats " * 40, "completion": "the cat sat on the mat"}
    reward = rewardlab.load("dpo_implicit", policy=str(policy), reference=str(reference), max_length=48)
    cut = reward.score([row])[0]
    assert cut.status is Status.OK and cut.components["prompt_tokens_cut"] > 0
    assert "prompt cut by" in cut.reason
    refused = reward(truncate="abstain").score([row])[0]
    assert refused.status is Status.ABSTAIN
    no_room = reward(max_length=4).score([row])[0]
    assert no_room.status is Status.ABSTAIN and "completion" in no_room.reason
