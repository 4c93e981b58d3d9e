"""Rewards read from causal language models: ``dpo_implicit``, ``likelihood`` and ``prm``.

Every one of them needs the same thing: the log-probabilities a causal LM gives
to some tokens of a sequence. The sequence is built from separately tokenised
parts (the prompt through the model's chat template with the generation prompt,
then the completion's text), as preference trainers do, so a token's position
and context do not depend on what else is in the batch. Rows are right-padded,
sorted by length and batched by a token budget; an out-of-memory error splits the
batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rewardlab._types import Sample, Score
from rewardlab.models import _engine as engine
from rewardlab.models._inputs import MAX_TEXT_CHARS, completion_messages, prompt_messages
from rewardlab.models._params import ModelLoading, PromptFit
from rewardlab.rewards.math._answer import find_boxes

Aggregate = Literal["min", "last", "mean", "product"]

MAX_STEPS = 512
"""A completion split into more steps than this is not scored (abstain): a reasoning
trace of 500 paragraphs is a degenerate rollout, and per-step components stay bounded."""
MAX_STEP_COMPONENTS = 64
"""Per-step values beyond this many are left out of components (the aggregate uses all)."""


class CausalLM:
    """A causal LM and its tokenizer, loaded once; computes token log-probabilities in batches."""

    def __init__(self, model: str, reward: str, loading: ModelLoading) -> None:
        self.torch = engine.torch_module(reward)
        source = engine.check_model_source(model, reward)
        self.device = engine.resolve_device(loading.device, reward)
        self.tokenizer = engine.load_tokenizer(source, reward)
        self.model = engine.load_model("AutoModelForCausalLM", source, reward, device=self.device, dtype=loading.dtype)
        self.max_length = engine.token_limit(self.tokenizer, self.model.config)
        self.budget = loading.batch_tokens or engine.default_batch_tokens(self.device)
        self.has_template = bool(getattr(self.tokenizer, "chat_template", None))

    def text_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def prompt_ids(self, prompt: list[dict[str, str]]) -> list[int]:
        """The prompt as the model reads it before its answer: its chat template with the generation prompt."""
        tok = self.tokenizer
        if prompt and self.has_template:
            text = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            return list(tok(text, add_special_tokens=False)["input_ids"])
        if prompt:
            return list(tok("\n\n".join(m["content"] for m in prompt), add_special_tokens=True)["input_ids"])
        return [tok.bos_token_id] if tok.bos_token_id is not None else []

    def map_rows(self, rows: Sequence[list[int]], on_row: Callable[[Any, int], Any]) -> dict[int, Any]:
        """``on_row(logits of row i (T x V), i)`` for every row, batched; OOM-failed rows map to an exception."""
        torch = self.torch
        results: dict[int, Any] = {}
        for batch in engine.length_batches([len(r) for r in rows], self.budget):

            def forward(part: list[int]) -> list[Any]:
                ids, mask = engine.pad_batch(torch, [rows[i] for i in part], self.tokenizer.pad_token_id, self.device)
                with torch.inference_mode():
                    logits = self.model(input_ids=ids, attention_mask=mask).logits
                    return [on_row(logits[k, : len(rows[i])], i) for k, i in enumerate(part)]

            results.update(engine.run_split(batch, forward))
        return results

    def token_logprobs(self, rows: Sequence[list[int]], starts: Sequence[int]) -> dict[int, Any]:
        """For each row, log p(row[t] | row[:t]) for t >= its start, as a float64 numpy array."""
        torch = self.torch

        def on_row(logits: Any, i: int) -> Any:
            start = starts[i]
            targets = torch.tensor(rows[i][start:], device=logits.device)
            scores = torch.log_softmax(logits[start - 1 : len(rows[i]) - 1].float(), dim=-1)
            return scores.gather(1, targets[:, None])[:, 0].double().cpu().numpy()

        return self.map_rows(rows, on_row)

    def close(self) -> None:
        model, self.model = self.model, None
        engine.release(model)


@dataclass
class Built:
    """A sample as token ids: ``ids[start:]`` are the scored tokens."""

    ids: list[int] = field(default_factory=list)
    start: int = 0
    components: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    failure: Score | None = None
    extra: Any = None


def scores_for(built: list[Built], results: Any, finish: Callable[[Built, Any], Score]) -> list[Score]:
    """One score per built sample: its build failure, the error its batch item raised, or
    ``finish(built, result)``; ``results`` has one item per sample built without failure, in order."""
    out: list[Score] = []
    position = 0  # results may be a list or a mapping by position
    for b in built:
        if b.failure is not None:
            out.append(b.failure)
            continue
        result = results[position]
        position += 1
        out.append(Score.error(str(result)) if isinstance(result, BaseException) else finish(b, result))
    return out


def fit(built: Built, prompt_len: int, max_length: int, truncate: str) -> Built:
    """Apply the truncation policy: only the prompt's oldest tokens may be cut (a leading BOS is kept)."""
    if built.failure is not None or len(built.ids) <= max_length:
        return built
    excess = len(built.ids) - max_length
    if truncate != "prompt_left":
        message = f"needs {len(built.ids)} tokens, more than max_length {max_length} (truncate={truncate})"
        built.failure = Score.abstain(message) if truncate == "abstain" else Score.error(message)
        return built
    keep_first = 1 if prompt_len > 0 else 0
    cuttable = max(0, prompt_len - keep_first - 1)  # one prompt token stays as the scored tokens' context
    if excess > cuttable:
        built.failure = Score.abstain(
            f"the completion needs {len(built.ids) - prompt_len} tokens; with its prompt cut it still exceeds "
            f"max_length {max_length}"
        )
        return built
    built.ids = built.ids[:keep_first] + built.ids[keep_first + excess :]
    built.start -= excess
    if isinstance(built.extra, list):
        built.extra = [p - excess for p in built.extra]
    built.components["prompt_tokens_cut"] = float(excess)
    built.reason = f"prompt cut by {excess} tokens from its start to fit max_length {max_length}"
    return built


def _too_long(sample: Sample) -> Score | None:
    text = len(sample.completion_text) + sum(len(m["content"]) for m in prompt_messages(sample))
    if text > MAX_TEXT_CHARS:
        return Score.abstain(f"text longer than {MAX_TEXT_CHARS} characters is not tokenised")
    return None


def _completion_text(sample: Sample) -> str:
    return "\n\n".join(m["content"] for m in completion_messages(sample))


def _check_same_vocabulary(policy: CausalLM, reference: CausalLM, reward: str) -> None:
    if policy.tokenizer.get_vocab() != reference.tokenizer.get_vocab():
        raise engine.ModelLoadError(f"{reward}: the policy and the reference model have different vocabularies")


# -- dpo_implicit ---------------------------------------------------------------------------------


class DPOImplicit:
    """β·(log π(y|x) − log π_ref(y|x)) from a policy and a reference causal LM."""

    def __init__(
        self,
        *,
        policy: str,
        reference: str,
        beta: float = 0.1,
        reduce: Literal["sum", "mean"] = "sum",
        truncation: PromptFit = PromptFit(),
        loading: ModelLoading = ModelLoading(),
    ) -> None:
        if reduce not in ("sum", "mean"):
            raise ValueError(f"reduce must be sum or mean, got {reduce!r}")
        self.beta, self.reduce, self.truncate = beta, reduce, truncation.truncate
        self.policy = CausalLM(policy, "dpo_implicit", loading)
        self.reference = CausalLM(reference, "dpo_implicit", loading)
        _check_same_vocabulary(self.policy, self.reference, "dpo_implicit")
        self.max_length = truncation.max_length or min(self.policy.max_length, self.reference.max_length)
        self.lock = engine.ComputeLock()

    def _build(self, sample: Sample) -> Built:
        refused = _too_long(sample)
        if refused is not None:
            return Built(failure=refused)
        prompt = self.policy.prompt_ids(prompt_messages(sample))
        completion = self.policy.text_ids(_completion_text(sample))
        if not completion:
            return Built(failure=Score.abstain("empty completion"))
        if not prompt:
            return Built(failure=Score.abstain("no prompt and no BOS token to condition the first token on"))
        built = Built(ids=prompt + completion, start=len(prompt))
        return fit(built, len(prompt), self.max_length, self.truncate)

    def score(self, samples: list[Sample]) -> list[Score]:
        with self.lock:
            built = [self._build(s) for s in samples]
            ready = [b for b in built if b.failure is None]
            rows, starts = [b.ids for b in ready], [b.start for b in ready]
            policy = self.policy.token_logprobs(rows, starts)
            reference = self.reference.token_logprobs(rows, starts)
        pairs = []
        for i in range(len(ready)):
            pol, ref = policy[i], reference[i]
            pairs.append(
                pol if isinstance(pol, BaseException) else ref if isinstance(ref, BaseException) else (pol, ref)
            )

        def finish(b: Built, pair: Any) -> Score:
            pol, ref = pair
            scale = len(pol) if self.reduce == "mean" else 1
            lp_pol, lp_ref = float(pol.sum()) / scale, float(ref.sum()) / scale
            components = {**b.components, "logp_policy": lp_pol, "logp_reference": lp_ref, "tokens": float(len(pol))}
            return Score.ok(self.beta * (lp_pol - lp_ref), components=components, reason=b.reason)

        return scores_for(built, pairs, finish)

    def close(self) -> None:
        self.policy.close()
        self.reference.close()


# -- likelihood -----------------------------------------------------------------------------------

ANSWER_OPENERS = ("<answer>",)


def split_answer(completion: str) -> tuple[str, str, str] | None:
    """``(reasoning, opener, closer)``: the completion up to its final answer, and the answer's wrapper.

    The final answer is the last ``\\boxed{...}``, else the last ``<answer>...</answer>``.
    """
    boxes = find_boxes(completion)
    box_start = boxes[-1][0] if boxes else -1
    tag_start = completion.rfind("<answer>")
    if box_start < 0 and tag_start < 0:
        return None
    if box_start > tag_start:
        command = (
            completion[box_start : completion.index("{", box_start) + 1]
            if "{" in completion[box_start:]
            else "\\boxed{"
        )
        return completion[:box_start], command, "}"
    return completion[:tag_start], "<answer>", "</answer>"


class Likelihood:
    """How likely a causal LM finds the reference answer after the completion's own reasoning."""

    def __init__(
        self,
        *,
        model: str,
        reduce: Literal["mean_prob", "prob", "mean_log_prob", "log_prob"] = "mean_prob",
        truncation: PromptFit = PromptFit(),
        loading: ModelLoading = ModelLoading(),
    ) -> None:
        if reduce not in ("mean_prob", "prob", "mean_log_prob", "log_prob"):
            raise ValueError(f"reduce must be mean_prob, prob, mean_log_prob or log_prob, got {reduce!r}")
        self.reduce, self.truncate = reduce, truncation.truncate
        self.lm = CausalLM(model, "likelihood", loading)
        self.max_length = truncation.max_length or self.lm.max_length
        self.lock = engine.ComputeLock()

    def _build(self, sample: Sample) -> Built:
        refused = _too_long(sample)
        if refused is not None:
            return Built(failure=refused)
        reference = sample.reference
        if isinstance(reference, (int, float)) and not isinstance(reference, bool):
            reference = str(reference)
        if not isinstance(reference, str) or not reference.strip():
            return Built(failure=Score.abstain("no reference answer (a non-empty string or number)"))
        parts = split_answer(_completion_text(sample))
        if parts is None:
            return Built(failure=Score.abstain("no final answer (\\boxed{...} or <answer>...</answer>) to replace"))
        reasoning, opener, _ = parts
        prompt = self.lm.prompt_ids(prompt_messages(sample))
        context = prompt + self.lm.text_ids(reasoning + opener)
        answer = self.lm.text_ids(reference.strip())
        if not context:
            return Built(failure=Score.abstain("nothing to condition the answer on"))
        return fit(Built(ids=context + answer, start=len(context)), len(prompt), self.max_length, self.truncate)

    def score(self, samples: list[Sample]) -> list[Score]:
        with self.lock:
            built = [self._build(s) for s in samples]
            ready = [b for b in built if b.failure is None]
            logprobs = self.lm.token_logprobs([b.ids for b in ready], [b.start for b in ready])

        def finish(b: Built, lp: Any) -> Score:
            total, count = float(lp.sum()), len(lp)
            values = {
                "mean_prob": float(sum(math.exp(x) for x in lp) / count),
                "prob": math.exp(total),
                "mean_log_prob": total / count,
                "log_prob": total,
            }
            components = {**b.components, "log_prob": total, "mean_prob": values["mean_prob"], "tokens": float(count)}
            return Score.ok(values[self.reduce], components=components, reason=b.reason)

        return scores_for(built, logprobs, finish)

    def close(self) -> None:
        self.lm.close()


# -- prm ------------------------------------------------------------------------------------------


def split_steps(text: str, separator: str) -> list[str]:
    return [step for step in text.split(separator) if step.strip()] if separator else [text]


def aggregate(values: Sequence[float], how: str) -> float:
    if how == "min":
        return min(values)
    if how == "last":
        return values[-1]
    if how == "mean":
        return sum(values) / len(values)
    return math.prod(values)


class ProcessRM:
    """Step scores from a process reward model (``classifier``) or a policy/reference pair (``implicit``)."""

    def __init__(
        self,
        *,
        model: str,
        mode: Literal["classifier", "implicit"] = "classifier",
        reference: str | None = None,
        beta: float = 1.0,
        step_separator: str = "\n\n",
        step_tag: str = "ки",
        positive_token: str = "+",
        negative_token: str | None = "-",
        aggregate: Aggregate = "min",
        truncation: PromptFit = PromptFit(),
        loading: ModelLoading = ModelLoading(),
    ) -> None:
        if mode not in ("classifier", "implicit"):
            raise ValueError(f"mode must be classifier or implicit, got {mode!r}")
        if aggregate not in ("min", "last", "mean", "product"):
            raise ValueError(f"aggregate must be min, last, mean or product, got {aggregate!r}")
        if mode == "implicit" and aggregate == "product":
            raise ValueError("aggregate=product multiplies probabilities; implicit step rewards are log-ratios")
        if mode == "implicit" and not reference:
            raise ValueError("mode=implicit needs reference= (the reference model of the implicit PRM)")
        self.mode, self.beta, self.how, self.truncate = mode, beta, aggregate, truncation.truncate
        self.separator, self.tag = step_separator, step_tag
        self.lm = CausalLM(model, "prm", loading)
        self.reference = CausalLM(reference, "prm", loading) if reference else None
        if self.reference is not None:
            _check_same_vocabulary(self.lm, self.reference, "prm")
        self.max_length = truncation.max_length or self.lm.max_length
        if mode == "classifier":
            self.tag_ids = self.lm.text_ids(step_tag)
            if not self.tag_ids:
                raise ValueError("step_tag must not be empty in classifier mode")
            self.positive = self._single_token(positive_token, "positive_token")
            self.negative = self._single_token(negative_token, "negative_token") if negative_token else None
        self.lock = engine.ComputeLock()

    def _single_token(self, text: str, name: str) -> int:
        ids = self.lm.text_ids(text)
        if len(ids) != 1:
            raise engine.ModelLoadError(f"prm: {name}={text!r} is {len(ids)} tokens for this tokenizer, not one")
        return ids[0]

    def _build(self, sample: Sample) -> Built:
        refused = _too_long(sample)
        if refused is not None:
            return Built(failure=refused)
        steps = split_steps(_completion_text(sample), self.separator)
        if not steps:
            return Built(failure=Score.abstain("empty completion: no steps"))
        if len(steps) > MAX_STEPS:
            return Built(failure=Score.abstain(f"{len(steps)} steps, more than {MAX_STEPS}"))
        prompt = self.lm.prompt_ids(prompt_messages(sample))
        if not prompt:
            return Built(failure=Score.abstain("no prompt and no BOS token to condition the first step on"))
        ids = list(prompt)
        separator = self.lm.text_ids(self.separator)
        marks: list[int] = []  # classifier: tag positions; implicit: the end of each step's tokens
        for index, step in enumerate(steps):
            ids += self.lm.text_ids(step)
            if self.mode == "classifier":
                ids += self.tag_ids
                marks.append(len(ids) - 1)
            if index < len(steps) - 1:
                ids += separator
            if self.mode == "implicit":
                marks.append(len(ids))
        built = Built(ids=ids, start=len(prompt), extra=marks)
        return fit(built, len(prompt), self.max_length, self.truncate)

    def _step_probabilities(self, ready: list[Built]) -> dict[int, Any]:
        torch = self.lm.torch
        positive, negative = self.positive, self.negative

        def on_row(logits: Any, i: int) -> Any:
            at = logits[ready[i].extra].float()
            if negative is not None:
                pair = torch.softmax(at[:, [positive, negative]], dim=-1)[:, 0]
            else:
                pair = torch.softmax(at, dim=-1)[:, positive]
            return pair.double().cpu().tolist()

        return self.lm.map_rows([b.ids for b in ready], on_row)

    def _implicit_steps(self, ready: list[Built]) -> dict[int, Any]:
        assert self.reference is not None
        rows, starts = [b.ids for b in ready], [b.start for b in ready]
        policy = self.lm.token_logprobs(rows, starts)
        reference = self.reference.token_logprobs(rows, starts)
        out: dict[int, Any] = {}
        for i, b in enumerate(ready):
            pol, ref = policy[i], reference[i]
            if isinstance(pol, BaseException) or isinstance(ref, BaseException):
                out[i] = pol if isinstance(pol, BaseException) else ref
                continue
            ratios = self.beta * (pol - ref)
            values, begin = [], 0
            for end in b.extra:
                values.append(float(ratios[begin : end - b.start].sum()))
                begin = end - b.start
            out[i] = values
        return out

    def score(self, samples: list[Sample]) -> list[Score]:
        with self.lock:
            built = [self._build(s) for s in samples]
            ready = [b for b in built if b.failure is None]
            steps = self._step_probabilities(ready) if self.mode == "classifier" else self._implicit_steps(ready)

        def finish(b: Built, values: Any) -> Score:
            components = {**b.components, "steps": float(len(values))}
            components |= {f"step_{k}": v for k, v in enumerate(values[:MAX_STEP_COMPONENTS])}
            return Score.ok(aggregate(values, self.how), components=components, reason=b.reason)

        return scores_for(built, steps, finish)

    def close(self) -> None:
        self.lm.close()
        if self.reference is not None:
            self.reference.close()


__all__ = ["DPOImplicit", "Likelihood", "ProcessRM", "split_answer"]
