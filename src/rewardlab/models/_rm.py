"""``rm``: a sequence-classification reward model (Bradley-Terry classifier RMs)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rewardlab._types import Sample, Score
from rewardlab.models import _engine as engine
from rewardlab.models._inputs import (
    MAX_TEXT_CHARS,
    MarkupPolicy,
    completion_messages,
    cut_prompt_left,
    prompt_chars,
    prompt_messages,
)
from rewardlab.models._params import ModelLoading, PromptFit

FALLBACK_MAX_LENGTH = 4096
"""Used when neither the tokenizer nor the config states a usable maximum length."""


@dataclass
class Encoded:
    """One sample, ready for the model (or the reason it is not)."""

    ids: list[int] = field(default_factory=list)
    token_types: list[int] | None = None
    components: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    failure: Score | None = None


class ClassifierRM:
    """The loaded model behind ``rm`` (see `rm_description` for the parameters)."""

    def __init__(
        self,
        *,
        model: str,
        head: int | None = None,
        label: str | None = None,
        sigmoid: bool = False,
        truncation: PromptFit = PromptFit(),
        markup: Literal["strip", "abstain", "keep"] = "strip",
        template: Literal["auto", "chat", "pair"] = "auto",
        loading: ModelLoading = ModelLoading(),
    ) -> None:
        name = "rm"
        self.torch = engine.torch_module(name)
        source = engine.check_model_source(model, name)
        self.device = engine.resolve_device(loading.device, name)
        self.tokenizer = engine.load_tokenizer(source, name)
        self.model = engine.load_model(
            "AutoModelForSequenceClassification", source, name, device=self.device, dtype=loading.dtype
        )
        config = self.model.config
        if getattr(config, "pad_token_id", None) is None:
            # decoder RMs find each row's last real token through the pad id
            config.pad_token_id = self.tokenizer.pad_token_id
        self.head = _head_index(head, label, config, model)
        self.sigmoid = sigmoid
        self.truncate = truncation.truncate
        self.max_length = truncation.max_length or engine.token_limit(self.tokenizer, config, FALLBACK_MAX_LENGTH)
        self.markup = MarkupPolicy(markup, self.tokenizer)
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        if template == "chat" and not has_template:
            raise engine.ModelLoadError(f"rm: the tokenizer of {model!r} has no chat template (use template=pair)")
        self.use_template = has_template if template == "auto" else template == "chat"
        self.budget = loading.batch_tokens or engine.default_batch_tokens(self.device)
        self.lock = engine.ComputeLock()
        self.uses_token_types = "token_type_ids" in getattr(self.tokenizer, "model_input_names", [])

    # -- encoding ---------------------------------------------------------------
    def _render(
        self, prompt: list[dict[str, str]], completion: list[dict[str, str]]
    ) -> tuple[list[int], list[int] | None]:
        tok = self.tokenizer
        if self.use_template:
            text = tok.apply_chat_template(prompt + completion, tokenize=False)
            enc = tok(text, add_special_tokens=False)
        else:
            first = "\n\n".join(m["content"] for m in prompt)
            second = "\n\n".join(m["content"] for m in completion)
            enc = tok(first, second) if first else tok(second)
        types = enc.get("token_type_ids") if self.uses_token_types else None
        return list(enc["input_ids"]), (list(types) if types is not None else None)

    def encode(self, sample: Sample) -> Encoded:
        out = Encoded()
        prompt = prompt_messages(sample)
        completion = completion_messages(sample)
        if sum(len(m["content"]) for m in prompt + completion) > MAX_TEXT_CHARS:
            out.failure = Score.abstain(f"text longer than {MAX_TEXT_CHARS} characters is not tokenised")
            return out
        completion, removed, refusal = self.markup.apply(completion, completion=True)
        if not refusal:
            prompt, removed_prompt, refusal = self.markup.apply(prompt, completion=False)
            removed += removed_prompt
        if refusal:
            out.failure = Score.abstain(refusal)
            return out
        if removed:
            out.components["markup_chars_removed"] = float(removed)
        ids, types = self._render(prompt, completion)
        if len(ids) > self.max_length:
            if self.truncate != "prompt_left":
                message = f"needs {len(ids)} tokens, more than max_length {self.max_length} (truncate={self.truncate})"
                out.failure = Score.abstain(message) if self.truncate == "abstain" else Score.error(message)
                return out
            total = prompt_chars(prompt)
            alone_ids, _ = self._render(cut_prompt_left(prompt, total), completion)
            if len(alone_ids) > self.max_length:
                out.failure = Score.abstain(
                    f"the completion alone needs {len(alone_ids)} tokens, more than max_length {self.max_length}",
                    components={"tokens": float(len(ids))},
                )
                return out
            # the fewest prompt characters to cut from the start so the whole fits
            low, high = 1, total
            while low < high:
                middle = (low + high) // 2
                if len(self._render(cut_prompt_left(prompt, middle), completion)[0]) <= self.max_length:
                    high = middle
                else:
                    low = middle + 1
            ids, types = self._render(cut_prompt_left(prompt, low), completion)
            out.components["prompt_chars_cut"] = float(low)
            out.reason = f"prompt cut by {low} characters from its start to fit max_length {self.max_length}"
        out.ids, out.token_types = ids, types
        out.components["tokens"] = float(len(ids))
        return out

    # -- scoring ------------------------------------------------------------------
    def logits(self, batch: list[list[int]], types: list[list[int] | None]) -> list[list[float]]:
        """Raw head outputs for already encoded rows (one padded forward pass)."""
        torch = self.torch
        ids, mask = engine.pad_batch(torch, batch, self.tokenizer.pad_token_id, self.device)
        inputs = {"input_ids": ids, "attention_mask": mask}
        if self.uses_token_types and all(t is not None for t in types):
            inputs["token_type_ids"], _ = engine.pad_batch(torch, [t or [] for t in types], 0, self.device)
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        return logits.float().cpu().tolist()

    def score(self, samples: list[Sample]) -> list[Score]:
        with self.lock:
            encoded = [self.encode(s) for s in samples]
            ready = [i for i, e in enumerate(encoded) if e.failure is None]
            results: dict[int, Any] = {}
            lengths = [len(encoded[i].ids) for i in ready]
            for batch in engine.length_batches(lengths, self.budget):
                rows = [ready[j] for j in batch]

                def forward(part: list[int]) -> list[list[float]]:
                    return self.logits([encoded[i].ids for i in part], [encoded[i].token_types for i in part])

                results.update(engine.run_split(rows, forward))
        return [self._finish(encoded[i], results.get(i)) for i in range(len(samples))]

    def _finish(self, encoded: Encoded, result: Any) -> Score:
        if encoded.failure is not None:
            return encoded.failure
        if isinstance(result, BaseException):
            return Score.error(str(result))
        logit = float(result[self.head])
        if not math.isfinite(logit):
            return Score.error(f"the model returned a non-finite logit ({logit!r})")
        value = 1.0 / (1.0 + math.exp(-logit)) if self.sigmoid else logit
        return Score.ok(value, components={**encoded.components, "logit": logit}, reason=encoded.reason)

    def close(self) -> None:
        model, self.model = self.model, None
        engine.release(model)


def _head_index(head: int | None, label: str | None, config: Any, model: str) -> int:
    count = int(getattr(config, "num_labels", 1) or 1)
    labels: Mapping[int, str] = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    listing = ", ".join(f"{i}={labels.get(i, i)}" for i in range(count))
    if head is not None and label is not None:
        raise engine.ModelLoadError("rm: give head= (an index) or label= (a head's name), not both")
    if label is not None:
        for index, name in labels.items():
            if name == label:
                return index
        raise engine.ModelLoadError(f"rm: {model!r} has no head labelled {label!r} ({listing})")
    if head is None:
        if count == 1:
            return 0
        raise engine.ModelLoadError(
            f"rm: {model!r} has {count} heads ({listing}); choose one with head=INDEX or label=NAME"
        )
    if not 0 <= head < count:
        raise engine.ModelLoadError(f"rm: head={head} is out of range for {model!r} ({listing})")
    return head


__all__ = ["ClassifierRM"]
