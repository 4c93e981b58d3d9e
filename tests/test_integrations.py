"""Trainer adapters: TRL for real (one GRPOTrainer step), verl and OpenRLHF through their documented call shapes.

verl and OpenRLHF need GPUs, Ray and vLLM and do not install here, so their adapters are
loaded and called exactly the way their reward managers do it (file loaded by path with
``importlib``, same keyword arguments, same handling of the result); see docs/compose.md.
"""

from __future__ import annotations

import importlib.util
import math
import os
import pickle
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import rewardlab
from rewardlab.compose import Term, route, weighted_sum
from rewardlab.integrations import RewardFailure, to_trl
from rewardlab.integrations import openrlhf as openrlhf_adapter
from rewardlab.integrations import verl as verl_adapter

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "specs" / "lsc_and.toml"


# -- TRL ------------------------------------------------------------------------------------------------


def test_trl_callable_maps_columns_statuses_and_name() -> None:
    reward = route(
        "task", {"qa": "exact_match", "len": rewardlab.load("length", unit="tokens", length_field="completion_tokens")}
    )
    f = to_trl(reward, name="routed")
    assert f.__name__ == "routed"
    metrics: dict[str, float] = {}
    extra: dict[str, list[Any]] = {}
    values = f(
        prompts=["q1", "q2", "q3", "q4"],
        completions=["Paris", "Rome", "a b c", "x"],
        completion_ids=[[1], [2], [3, 4, 5], [6]],
        solution=["paris", "paris", None, None],
        task=["qa", "qa", "len", "poetry"],
        trainer_state=object(),
        log_metric=lambda name, value: metrics.__setitem__(name, value),
        log_extra=lambda column, vals: extra.__setitem__(column, vals),
    )
    assert values == [1.0, 0.0, 3.0, None]  # reference from `solution`; token count from completion_ids
    assert metrics["routed/abstain_frac"] == 0.25 and metrics["routed/error_frac"] == 0.0
    assert extra["routed_status"] == ["ok", "ok", "ok", "abstain"]
    chat = to_trl("exact_match", reference_field="answer")(
        prompts=[[{"role": "user", "content": "capital?"}]],
        completions=[[{"role": "assistant", "content": "Paris"}]],
        answer=["Paris"],
    )
    assert chat == [1.0]
    with pytest.raises(KeyError, match="reference_field"):
        to_trl("exact_match", reference_field="nope")(prompts=["p"], completions=["c"], answer=["a"])


def test_trl_callable_is_picklable_and_async_variant_agrees() -> None:
    import asyncio

    from trl.trainer.utils import get_callable_name, is_async_callable

    f = to_trl(SPEC)
    assert get_callable_name(f) == "format_and_correct"
    again = pickle.loads(pickle.dumps(f))
    args = {"prompts": ["p", "p"], "completions": ["<think>a</think><answer>4</answer>", "4"], "reference": ["4", "4"]}
    assert again(**args) == f(**args)
    g = to_trl(SPEC, asynchronous=True)
    assert is_async_callable(g) and not is_async_callable(f)
    assert asyncio.run(g(**args)) == f(**args)


def build_tiny_model(path: Path) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = ["what is 2 + 2 ? the answer is 4", "capital of france ? paris rome london", "0 1 2 3 4 5 6 7 8 9 yes no"]
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<unk>", "<pad>", "<eos>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    fast.save_pretrained(path)
    config = LlamaConfig(
        vocab_size=fast.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id,
        bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return fast


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*checkpointing.* is deprecated:FutureWarning")
def test_one_grpo_trainer_step_with_rewardlab_rewards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    model_dir = tmp_path / "model"
    tokenizer = build_tiny_model(model_dir)
    rows = [
        {"prompt": "what is 2 + 2 ?", "answer": "4", "task": "qa"},
        {"prompt": "capital ?", "answer": "x", "task": "z"},
    ]
    dataset = Dataset.from_list(rows * 2)
    shaped = to_trl(weighted_sum(Term("exact_match", name="em"), Term("length", 0.01)), name="shaped")
    routed = to_trl(route("task", {"qa": "exact_match"}), name="routed")
    # an isolated reward: its deadlines come from worker processes, inside the trainer's process
    math_reward = to_trl("math", name="math", reference_field="answer")
    calls: list[tuple[list[Any], list[float | None], list[float | None]]] = []

    class Recording:
        def __init__(self, inner: Any) -> None:
            self.inner, self.__name__ = inner, inner.__name__

        def __call__(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
            values = self.inner(prompts=prompts, completions=completions, **kwargs)
            direct = [s.value for s in self.inner.reward.score(self.inner.samples(prompts, completions, kwargs))]
            calls.append((list(completions), values, direct))
            return values

    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=4,
        max_steps=1,
        learning_rate=1e-2,
        use_cpu=True,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    initial = AutoModelForCausalLM.from_pretrained(model_dir)
    before = {name: p.detach().clone() for name, p in initial.named_parameters()}
    trainer = GRPOTrainer(
        model=str(model_dir),
        reward_funcs=[Recording(shaped), Recording(routed), Recording(math_reward)],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    logs = trainer.state.log_history[0]
    assert len(calls) == 3
    (completions, shaped_values, shaped_direct), (_, routed_values, routed_direct), (_, math_values, _) = calls
    assert all(v in (0.0, 1.0) for v in math_values), math_values
    assert len(completions) == 8 and all(isinstance(c, str) for c in completions)
    assert shaped_values == shaped_direct and routed_values == routed_direct
    assert all(v is not None for v in shaped_values)
    assert routed_values.count(None) == 4  # the 'z' rows have no route: None, not 0
    assert logs["rewards/shaped/mean"] == pytest.approx(sum(shaped_values) / 8, rel=1e-5)  # type: ignore[arg-type]
    ok = [v for v in routed_values if v is not None]
    assert logs["rewards/routed/mean"] == pytest.approx(sum(ok) / len(ok))
    assert logs["routed/abstain_frac"] == 0.5
    assert math.isfinite(logs["loss"])
    assert logs["reward_std"] > 0  # the length term separates the completions
    changed = any(not p.detach().equal(before[n]) for n, p in trainer.model.named_parameters())
    assert changed, "a non-zero advantage should move the policy"


# -- verl -------------------------------------------------------------------------------------------------


def load_like_verl(function_name: str, reward_kwargs: dict[str, Any]) -> Any:
    """verl's ``get_custom_reward_fn``: import the file by path as ``custom_module``, merge ``reward_kwargs``."""
    spec = importlib.util.spec_from_file_location("custom_module", verl_adapter.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_module"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["custom_module"]
    raw_fn = getattr(module, function_name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return raw_fn(*args, **{**kwargs, **reward_kwargs})

    return wrapped


def test_verl_naive_manager_call_shape() -> None:
    compute_score = load_like_verl("compute_score", {"reward": str(SPEC), "on_failure": "nan", "return_dict": True})
    reward_extra_info: dict[str, list[float]] = defaultdict(list)
    rewards = []
    items = [
        ("gsm8k", "<think>x</think><answer>4</answer>", "4", {"split": "train", "index": 0}),
        ("gsm8k", "4", "4", None),
        ("gsm8k", "<think>x</think><answer>4</answer>", None, {"index": 2}),  # no ground truth: abstain
    ]
    for data_source, solution_str, ground_truth, extra_info in items:
        # NaiveRewardManager: keyword call, dict result read through "score", every key logged
        result = compute_score(
            data_source=data_source, solution_str=solution_str, ground_truth=ground_truth, extra_info=extra_info
        )
        reward = result["score"] if isinstance(result, dict) else result
        for key, value in result.items():
            reward_extra_info[key].append(value)
        rewards.append(reward)
    direct = rewardlab.load(SPEC).score([{"completion": s, "reference": g} for _, s, g, _ in items])
    assert rewards[:2] == [direct[0].value, direct[1].value]
    assert math.isnan(rewards[2])
    assert reward_extra_info["rewardlab_ok"] == [1.0, 1.0, 0.0]
    assert set(reward_extra_info) == {"score", "rewardlab_ok"}  # fixed keys: verl stacks them per sample


def test_verl_batch_manager_call_shape_and_failure_policies() -> None:
    import numpy as np

    compute = load_like_verl("compute_score_batch", {"reward": "exact_match"})
    scores = compute(
        data_sources=np.array(["qa", "qa", "qa"], dtype=object),
        solution_strs=["Paris", "Rome", "paris"],
        ground_truths=["Paris", "Paris", "Paris"],
        extra_infos=np.array([{"index": 0}, {"index": 1}, {"index": 2}], dtype=object),
    )
    assert scores == [1.0, 0.0, 1.0]
    assert all(isinstance(s, float) for s in scores)
    with pytest.raises(RewardFailure, match="abstain"):
        compute(data_sources=["qa"], solution_strs=["Paris"], ground_truths=[None], extra_infos=[None])
    fallback = load_like_verl("compute_score_batch", {"reward": "exact_match", "on_failure": -1.0})
    assert fallback(data_sources=["qa"], solution_strs=["x"], ground_truths=[None], extra_infos=None) == [-1.0]
    with pytest.raises(ValueError, match="batch lengths differ"):
        compute(data_sources=["qa"], solution_strs=["a", "b"], ground_truths=["a"], extra_infos=None)


def test_verl_reward_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REWARDLAB_REWARD", "exact_match|ignore_case:no")
    monkeypatch.setenv("REWARDLAB_ON_FAILURE", "nan")
    compute_score = load_like_verl("compute_score", {})
    assert compute_score(data_source="d", solution_str="paris", ground_truth="Paris", extra_info=None) == 0.0
    assert math.isnan(compute_score(data_source="d", solution_str="paris", ground_truth=None, extra_info=None))
    monkeypatch.setenv("REWARDLAB_ON_FAILURE", "sometimes")
    with pytest.raises(ValueError, match="on_failure"):
        compute_score(data_source="d", solution_str="p", ground_truth="p", extra_info=None)


# -- OpenRLHF -----------------------------------------------------------------------------------------------


def load_like_openrlhf(path: Path | str) -> Any:
    """OpenRLHF's remote reward loader: import the ``--remote_rm_url`` file by path, take ``reward_func``."""
    spec = importlib.util.spec_from_file_location("reward_func", str(path))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reward_func


def test_openrlhf_reward_file_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from rewardlab.integrations import openrlhf_reward

    monkeypatch.setenv("REWARDLAB_REWARD", str(SPEC))
    monkeypatch.setenv("REWARDLAB_ON_FAILURE", "nan")
    reward_func = load_like_openrlhf(openrlhf_reward.__file__)
    prompts = ["Q: 2+2?\n", "Q: 2+2?\n", "Q: capital?\n"]
    answers = ["<think>sum</think><answer>4</answer>", "5", "<think>x</think><answer>Paris</answer>"]
    queries = [p + a for p, a in zip(prompts, answers, strict=True)]
    out = reward_func(queries, prompts, ["4", "4", None])
    assert set(out) == {"rewards", "scores", "extra_logs"}
    assert isinstance(out["rewards"], torch.Tensor) and out["rewards"].dtype == torch.float32
    direct = rewardlab.load(SPEC).score(
        [{"completion": a, "reference": r} for a, r in zip(answers, ["4", "4"], strict=False)]
    )
    assert out["rewards"][:2].tolist() == pytest.approx([direct[0].value, direct[1].value])
    assert math.isnan(out["rewards"][2].item())  # no label: abstain -> NaN by the chosen policy
    assert out["extra_logs"]["rewardlab_ok"].tolist() == [1.0, 1.0, 0.0]
    assert torch.equal(out["scores"].nan_to_num(-9), out["rewards"].nan_to_num(-9))


def test_openrlhf_written_reward_file(tmp_path: Path) -> None:
    target = tmp_path / "reward_func.py"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rewardlab.integrations.openrlhf",
            str(target),
            "--reward",
            "exact_match",
            "--on-failure",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "REWARDLAB_REWARD": ""},
    )
    assert result.returncode == 0, result.stderr
    reward_func = load_like_openrlhf(target)
    out = reward_func(["P: Paris", "P: Rome", "P: x"], ["P: ", "P: ", "P: "], ["Paris", "Paris", None])
    assert out["rewards"].tolist() == [1.0, 0.0, 0.0]  # the abstention gets the chosen 0, and is flagged
    assert out["extra_logs"]["rewardlab_ok"].tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="on_failure"):
        openrlhf_adapter.write_reward_file(tmp_path / "x.py", "exact_match", on_failure="maybe")


def test_openrlhf_a_query_that_does_not_start_with_its_prompt_is_an_error_not_scored_whole() -> None:
    # The whole query "P: Paris" would match the reference "P: Paris"; the response cannot be found.
    reward_func = openrlhf_adapter.make_reward_func("exact_match", on_failure="nan")
    out = reward_func(["<s>P: Paris", "P: Paris", "Paris"], ["P: ", "P: ", ""], ["P: Paris", "Paris", "Paris"])
    assert math.isnan(out["rewards"][0].item()) and out["rewards"][1:].tolist() == [1.0, 1.0]
    assert out["extra_logs"]["rewardlab_ok"].tolist() == [0.0, 1.0, 1.0]
    strict = openrlhf_adapter.make_reward_func("exact_match")
    with pytest.raises(rewardlab.integrations.RewardFailure) as failed:
        strict(["<s>P: Paris"], ["P: "], ["P: Paris"])
    assert failed.value.score.status is rewardlab.Status.ERROR
    assert failed.value.score.reason.startswith(
        "query does not start with its prompt (first difference at character 0: query '<s>P: Paris', prompt 'P: ')"
    )
    assert openrlhf_adapter.split_response("abc", "xyz") is None
    assert openrlhf_adapter.split_response("P: abc", "P: ") == "abc"
