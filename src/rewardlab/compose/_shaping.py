"""Shaping transforms from the literature, each a reward wrapping another reward."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from rewardlab._stats import pearson, spearman
from rewardlab._types import Sample, Score, Status
from rewardlab.compose._base import CompositeReward, child_label, failure, flatten_components, merge_failures, spec_of
from rewardlab.compose._combinators import RewardLike, TermLike, as_reward, as_term
from rewardlab.rewards.text._text import Unit, measure_length

MAX_REFERENCE_REWARDS = 1024
"""Most reference rewards PAR reads from one sample; more is a data mistake, not a use case."""

MAX_STEP_REWARDS = 100_000
"""Most immediate rewards read from one sample by gated accumulation."""


def sigmoid(x: float) -> float:
    """Logistic function, computed without overflow for any finite ``x``."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def log_sigmoid(x: float) -> float:
    """``log(sigmoid(x))`` without overflow or underflow to ``-inf`` for finite ``x``."""
    if x >= 0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


def _number_list(value: Any, what: str, cap: int) -> list[float]:
    if value is None:
        raise ValueError(f"no {what}")
    items = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise ValueError(f"{what} must be a number or a list of numbers, got {type(value).__name__}")
    if len(items) > cap:
        raise ValueError(f"{len(items)} {what}, more than the limit of {cap}")
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise ValueError(f"{what} must be finite numbers, got {item!r}")
        out.append(float(item))
    return out


class Transform(CompositeReward):
    """A reward computed from one inner reward's score, sample by sample.

    The inner score's status passes through unchanged (a failure is never
    shaped into a number); its value is kept in ``components`` under the inner
    reward's label.
    """

    kind = "transform"

    def __init__(self, inner: RewardLike, *, range: tuple[float, float], label: str | None = None) -> None:
        child = as_reward(inner)
        super().__init__(self.kind, [child], [child_label(child)], range=range, label=label)

    def _options(self) -> dict[str, Any]:
        raise NotImplementedError

    def _node(self) -> dict[str, Any]:
        return {"transform": self.kind, "of": spec_of(self.children[0]), **self._options()}

    def _score(self, samples: list[Sample], pool: Any) -> list[Score]:
        inner = self.run_child(self.children[0], samples, pool)
        return self._shape_all(samples, inner, self._prepare(samples, inner, pool))

    def _prepare(self, samples: list[Sample], inner: list[Score], pool: Any) -> Any:
        """Per-batch data the shaping needs (kept out of ``self``, so concurrent calls do not mix)."""
        return None

    def _shape_all(self, samples: list[Sample], inner: list[Score], context: Any) -> list[Score]:
        label = self.labels[0]
        out = []
        for i, (sample, score) in enumerate(zip(samples, inner, strict=True)):
            components = flatten_components(label, score)
            if not score.is_ok:
                out.append(failure(score.status, f"{label}: {score.reason or score.status.value}", components))
                continue
            try:
                shaped = self._shape(sample, float(score.value), components, context, i)  # type: ignore[arg-type]
            except ValueError as exc:
                shaped = failure(Status.ABSTAIN, f"{self.kind}: {exc}", components)
            out.append(shaped)
        return out

    def _shape(self, sample: Sample, value: float, components: dict[str, float], context: Any, index: int) -> Score:
        raise NotImplementedError


class Clip(Transform):
    """``min(max(r, low), high)``."""

    kind = "clip"

    def __init__(self, inner: RewardLike, low: float = -math.inf, high: float = math.inf, *, label: str | None = None):
        if not low <= high:
            raise ValueError(f"clip: low ({low}) must not exceed high ({high})")
        self.low, self.high = float(low), float(high)
        super().__init__(inner, range=(self.low, self.high), label=label)
        inner_low, inner_high = self.children[0].range
        self.range = (max(self.low, min(inner_low, self.high)), min(self.high, max(inner_high, self.low)))

    def _options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if math.isfinite(self.low):
            out["low"] = self.low
        if math.isfinite(self.high):
            out["high"] = self.high
        return out

    def _shape(self, sample: Sample, value: float, components: dict[str, float], context: Any, index: int) -> Score:
        return Score.ok(min(max(value, self.low), self.high), components=components)


class Affine(Transform):
    """``scale * r + shift``."""

    kind = "affine"

    def __init__(self, inner: RewardLike, scale: float = 1.0, shift: float = 0.0, *, label: str | None = None):
        if not (math.isfinite(scale) and math.isfinite(shift)):
            raise ValueError("affine: scale and shift must be finite")
        self.scale, self.shift = float(scale), float(shift)
        super().__init__(inner, range=(-math.inf, math.inf), label=label)
        low, high = (self.scale * x + self.shift for x in self.children[0].range)
        self.range = (min(low, high), max(low, high)) if not (math.isnan(low) or math.isnan(high)) else self.range

    def _options(self) -> dict[str, Any]:
        return {"scale": self.scale, "shift": self.shift}

    def _shape(self, sample: Sample, value: float, components: dict[str, float], context: Any, index: int) -> Score:
        return Score.ok(self.scale * value + self.shift, components=components)


class RunningNormalize(Transform):
    """``(r - mean) / (std + eps)`` with mean and std running over every ``ok`` value seen so far.

    Each batch first updates the statistics (Welford's algorithm, population
    std) with its ``ok`` values, then is normalised with the updated
    statistics, so the first batch is normalised by itself. With fewer than two
    values seen, std is taken as 0 (the result is ``(r - mean) / eps`` = 0 for
    a single value). The state lives in this object, so ``stateful`` is true:
    ``rewardlab score`` refuses ``--workers`` > 1 and ``--resume`` of a
    partly written output for a reward that contains it (copies in worker
    processes would keep separate statistics, and a resumed run would start
    from empty ones).

    ``clip`` bounds the result to ``[-clip, clip]`` when given.
    """

    kind = "normalize"

    def __init__(
        self, inner: RewardLike, *, eps: float = 1e-6, clip: float | None = None, label: str | None = None
    ) -> None:
        if not eps > 0:
            raise ValueError("normalize: eps must be positive")
        if clip is not None and not clip > 0:
            raise ValueError("normalize: clip must be positive")
        self.eps = float(eps)
        self.clip = None if clip is None else float(clip)
        bound = math.inf if self.clip is None else self.clip
        super().__init__(inner, range=(-bound, bound), label=label)
        self._lock = threading.Lock()
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0

    @property
    def stateful(self) -> bool:
        return True

    @property
    def std(self) -> float:
        """Population standard deviation of the values seen so far."""
        return math.sqrt(self._m2 / self.count) if self.count > 1 else 0.0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"eps": self.eps}
        if self.clip is not None:
            out["clip"] = self.clip
        return out

    def _prepare(self, samples: list[Sample], inner: list[Score], pool: Any) -> tuple[float, float]:
        with self._lock:
            for score in inner:
                if score.value is not None:
                    self.count += 1
                    delta = score.value - self.mean
                    self.mean += delta / self.count
                    self._m2 += delta * (score.value - self.mean)
            return self.mean, self.std

    def _shape(self, sample: Sample, value: float, components: dict[str, float], context: Any, index: int) -> Score:
        mean, std = context
        out = (value - mean) / (std + self.eps)
        if self.clip is not None:
            out = min(max(out, -self.clip), self.clip)
        return Score.ok(out, components={**components, "running_mean": mean, "running_std": std})


class PreferenceAsReward(Transform):
    """PAR, Preference As Reward (Fu et al., 2025, "Reward Shaping to Mitigate Reward Hacking in RLHF").

    ``PAR(r) = (1/M) * sum_m sigmoid(k * (r - r_ref_m))``

    where ``r`` is the inner reward of the sample and ``r_ref_m`` are the
    rewards of M reference responses to the same prompt (the paper uses
    responses of the reference policy, and ``k = 1``). The value lies in the
    open interval (0, 1); in float64 it rounds to exactly 0 or 1 only when
    ``|k * (r - r_ref)| > ~37``.

    The reference rewards come from the sample field
    ``reference_rewards_field`` (a number or a list of numbers), or, when
    ``reference_completions_field`` is set, from scoring the completions listed
    in that field with the same inner reward (same prompt, reference and
    extras). Reference rewards that are not ``ok`` are left out; with none left
    the sample is ``abstain``.
    """

    kind = "par"

    def __init__(
        self,
        inner: RewardLike,
        *,
        k: float = 1.0,
        reference_rewards_field: str = "reference_rewards",
        reference_completions_field: str | None = None,
        label: str | None = None,
    ) -> None:
        if not (math.isfinite(k) and k > 0):
            raise ValueError("par: k must be a positive number")
        self.k = float(k)
        self.reference_rewards_field = reference_rewards_field
        self.reference_completions_field = reference_completions_field
        super().__init__(inner, range=(0.0, 1.0), label=label)

    def _options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"k": self.k, "reference_rewards_field": self.reference_rewards_field}
        if self.reference_completions_field:
            out["reference_completions_field"] = self.reference_completions_field
        return out

    def _prepare(self, samples: list[Sample], inner: list[Score], pool: Any) -> list[list[float] | str]:
        if self.reference_completions_field:
            return self._score_references(samples, pool)
        refs: list[list[float] | str] = []
        for sample in samples:
            try:
                refs.append(
                    _number_list(
                        sample.get(self.reference_rewards_field),
                        f"reference rewards ({self.reference_rewards_field})",
                        MAX_REFERENCE_REWARDS,
                    )
                )
            except ValueError as exc:
                refs.append(str(exc))
        return refs

    def _score_references(self, samples: list[Sample], pool: Any) -> list[list[float] | str]:
        field = self.reference_completions_field
        assert field is not None
        refs: list[list[float] | str] = []
        flat: list[Sample] = []
        owners: list[int] = []
        for i, sample in enumerate(samples):
            completions = sample.get(field)
            if completions is None or isinstance(completions, (str, Mapping)) or not isinstance(completions, Sequence):
                refs.append(f"field {field!r} must be a list of reference completions")
                continue
            refs.append([])
            for completion in list(completions)[:MAX_REFERENCE_REWARDS]:
                flat.append(Sample(completion, sample.prompt, sample.reference, sample.extras, sample.id))
                owners.append(i)
        for owner, score in zip(owners, self.run_child(self.children[0], flat, pool), strict=True):
            found = refs[owner]
            if score.value is not None and isinstance(found, list):
                found.append(score.value)
        return refs

    def _shape(self, sample: Sample, value: float, components: dict[str, float], context: Any, index: int) -> Score:
        refs = context[index]
        if isinstance(refs, str):
            raise ValueError(refs)
        if not refs:
            raise ValueError("no usable reference reward")
        out = math.fsum(sigmoid(self.k * (value - ref)) for ref in refs) / len(refs)
        return Score.ok(out, components={**components, "references": float(len(refs))})


class LogSigmoidCentering(Transform):
    """LSC, log-sigmoid centering (Wang et al., 2024, "Transforming and Combining Rewards for Aligning LLMs").

    ``LSC(r) = log sigmoid(r - r_ref)``

    where ``r_ref`` is a reference reward for the prompt: the number
    ``reference``, or the sample field ``reference_field``. The value is in
    (-inf, 0): gains above the reference saturate, losses below it stay linear,
    which is what makes a sum of LSC terms behave like a logical AND.
    """

    kind = "lsc"

    def __init__(
        self,
        inner: RewardLike,
        *,
        reference: float | None = None,
        reference_field: str | None = None,
        label: str | None = None,
    ) -> None:
        if (reference is None) == (reference_field is None):
            raise ValueError("lsc: give exactly one of reference (a number) or reference_field")
        self.reference = None if reference is None else float(reference)
        self.reference_field = reference_field
        super().__init__(inner, range=(-math.inf, 0.0), label=label)

    def _options(self) -> dict[str, Any]:
        if self.reference_field is not None:
            return {"reference_field": self.reference_field}
        return {"reference": self.reference}

    def _shape(self, sample: Sample, value: float, components: dict[str, float], context: Any, index: int) -> Score:
        ref = reference_value(sample, self.reference, self.reference_field)
        return Score.ok(log_sigmoid(value - ref), components={**components, "reference": ref})


def reference_value(sample: Sample, reference: float | None, field: str | None) -> float:
    """A reference reward: the fixed number, or the sample's field (raises ValueError if unusable)."""
    if field is None:
        assert reference is not None
        return reference
    value = sample.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"reference field {field!r} must hold a finite number, got {value!r}")
    return float(value)


class LSCAnd(CompositeReward):
    """AND of several rewards by log-sigmoid centering (Wang et al., 2024, eq. for "AND").

    ``sum_i w_i * log sigmoid(r_i - r_i_ref)``

    Each term has its own reference (``reference`` or ``reference_field``) and
    weight (default 1). A term that is not ``ok`` fails the whole AND with its
    status (an AND cannot skip a condition); its reference missing makes the
    sample ``abstain``. Components hold each term's raw reward.
    """

    def __init__(self, terms: Sequence[tuple[TermLike, float | None, str | None]], *, label: str | None = None):
        if not terms:
            raise ValueError("lsc_and: needs at least one term")
        resolved = [(as_term(t), ref, field) for t, ref, field in terms]
        for term, ref, field in resolved:
            if (ref is None) == (field is None):
                raise ValueError(
                    f"lsc_and: term {term.name or term.reward!r} needs exactly one of reference/reference_field"
                )
        children = [as_reward(t.reward) for t, _, _ in resolved]
        self.weights = [t.weight for t, _, _ in resolved]
        self.references = [None if ref is None else float(ref) for _, ref, _ in resolved]
        self.reference_fields = [field for _, _, field in resolved]
        labels = [t.name or child_label(c) for (t, _, _), c in zip(resolved, children, strict=False)]
        super().__init__("lsc_and", children, labels, range=(-math.inf, 0.0), label=label)

    def _node(self) -> dict[str, Any]:
        terms = []
        for label, child, weight, ref, field in zip(
            self.labels, self.children, self.weights, self.references, self.reference_fields, strict=False
        ):
            node = dict(spec_of(child))
            node.update(name=label, weight=weight)
            if field is not None:
                node["reference_field"] = field
            else:
                node["reference"] = ref
            terms.append(node)
        return {"combine": "lsc_and", "terms": terms}

    def _score(self, samples: list[Sample], pool: Any) -> list[Score]:
        per_child = [self.run_child(c, samples, pool) for c in self.children]
        out = []
        for i, sample in enumerate(samples):
            row = [scores[i] for scores in per_child]
            components: dict[str, float] = {}
            for label, score in zip(self.labels, row, strict=False):
                components.update(flatten_components(label, score))
            failed = merge_failures(list(zip(self.labels, row, strict=False)))
            if failed is not None:
                out.append(failure(failed[0], failed[1], components))
                continue
            try:
                total = math.fsum(
                    w * log_sigmoid(s.value - reference_value(sample, ref, field))  # type: ignore[operator]
                    for s, w, ref, field in zip(row, self.weights, self.references, self.reference_fields, strict=False)
                )
            except ValueError as exc:
                out.append(failure(Status.ABSTAIN, f"lsc_and: {exc}", components))
                continue
            out.append(Score.ok(total, components=components))
        return out


class GatedAccumulation(Transform):
    """Gated reward accumulation for multi-step rewards (Sun et al., 2025, "Stabilizing Long-term
    Multi-turn Reinforcement Learning with Gated Rewards").

    ``R = r_outcome + [r_outcome >= threshold] * step_weight * sum_t r_t``

    The inner reward is the outcome reward; the immediate (per-step) rewards
    ``r_t`` are read from the sample field ``steps_field`` (a list of numbers).
    They count only when the outcome reaches ``threshold``, so a policy cannot
    farm step rewards while failing the task. Components: ``immediate`` (the sum
    of step rewards) and ``gate_open`` (1 or 0).
    """

    kind = "gated_accumulation"

    def __init__(
        self,
        inner: RewardLike,
        *,
        threshold: float = 1.0,
        steps_field: str = "step_rewards",
        step_weight: float = 1.0,
        label: str | None = None,
    ) -> None:
        if not (math.isfinite(threshold) and math.isfinite(step_weight)):
            raise ValueError("gated_accumulation: threshold and step_weight must be finite")
        self.threshold, self.steps_field, self.step_weight = float(threshold), steps_field, float(step_weight)
        super().__init__(inner, range=(-math.inf, math.inf), label=label)

    def _options(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "steps_field": self.steps_field, "step_weight": self.step_weight}

    def _shape(self, sample: Sample, value: float, components: dict[str, float], context: Any, index: int) -> Score:
        steps = _number_list(sample.get(self.steps_field, []), f"step rewards ({self.steps_field})", MAX_STEP_REWARDS)
        immediate = math.fsum(steps)
        open_ = value >= self.threshold
        total = value + (self.step_weight * immediate if open_ else 0.0)
        return Score.ok(total, components={**components, "immediate": immediate, "gate_open": float(open_)})


class LengthPenalty(Transform):
    """Length de-biasing: ``r - coef * max(0, L - target)``, the penalty capped at ``max_penalty``.

    ``L`` is the completion length in ``unit`` (``tokens`` reads the
    ``length_field`` count the trainer provides; ``chars``/``words`` measure
    the text). Components: ``length`` and ``length_penalty``. See
    `length_correlation` to measure whether a reward still favours length.
    """

    kind = "length_penalty"

    def __init__(
        self,
        inner: RewardLike,
        *,
        target: int,
        coef: float = 0.001,
        max_penalty: float | None = None,
        unit: Unit = "tokens",
        length_field: str | None = "completion_tokens",
        label: str | None = None,
    ) -> None:
        if target < 0 or not (math.isfinite(coef) and coef >= 0):
            raise ValueError("length_penalty: target and coef must be non-negative")
        if max_penalty is not None and not max_penalty >= 0:
            raise ValueError("length_penalty: max_penalty must be non-negative")
        self.target, self.coef, self.max_penalty = int(target), float(coef), max_penalty
        self.unit, self.length_field = unit, length_field
        super().__init__(inner, range=(-math.inf, math.inf), label=label)
        low, high = self.children[0].range
        self.range = (low - (math.inf if max_penalty is None else max_penalty), high)

    def _options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "coef": self.coef, "unit": self.unit}
        out["length_field"] = self.length_field
        if self.max_penalty is not None:
            out["max_penalty"] = self.max_penalty
        return out

    def _shape(self, sample: Sample, value: float, components: dict[str, float], context: Any, index: int) -> Score:
        length = measure_length(sample, self.unit, self.length_field)
        penalty = self.coef * max(0, length - self.target)
        if self.max_penalty is not None:
            penalty = min(penalty, self.max_penalty)
        return Score.ok(value - penalty, components={**components, "length": length, "length_penalty": penalty})


def clip(inner: RewardLike, low: float = -math.inf, high: float = math.inf, *, name: str | None = None) -> Clip:
    """``min(max(r, low), high)``."""
    return Clip(inner, low, high, label=name)


def affine(inner: RewardLike, scale: float = 1.0, shift: float = 0.0, *, name: str | None = None) -> Affine:
    """``scale * r + shift``."""
    return Affine(inner, scale, shift, label=name)


def running_normalize(
    inner: RewardLike, *, eps: float = 1e-6, clip: float | None = None, name: str | None = None
) -> RunningNormalize:
    """``(r - running mean) / (running std + eps)``; see `RunningNormalize` for the update order."""
    return RunningNormalize(inner, eps=eps, clip=clip, label=name)


def par(
    inner: RewardLike,
    *,
    k: float = 1.0,
    reference_rewards_field: str = "reference_rewards",
    reference_completions_field: str | None = None,
    name: str | None = None,
) -> PreferenceAsReward:
    """PAR: ``mean_m sigmoid(k * (r - r_ref_m))``; see `PreferenceAsReward`.

    Example:
        >>> from rewardlab.compose import par
        >>> r = par("length", reference_rewards_field="ref")
        >>> round(r.score([{"completion": "abc", "ref": [3.0]}])[0].value, 3)
        0.5
    """
    return PreferenceAsReward(
        inner,
        k=k,
        reference_rewards_field=reference_rewards_field,
        reference_completions_field=reference_completions_field,
        label=name,
    )


def lsc(
    inner: RewardLike, *, reference: float | None = None, reference_field: str | None = None, name: str | None = None
) -> LogSigmoidCentering:
    """LSC: ``log sigmoid(r - r_ref)``; see `LogSigmoidCentering`."""
    return LogSigmoidCentering(inner, reference=reference, reference_field=reference_field, label=name)


def lsc_and(*terms: tuple[TermLike, float | str], name: str | None = None) -> LSCAnd:
    """AND of rewards: ``sum_i w_i log sigmoid(r_i - r_i_ref)``.

    Each argument is ``(term, reference)``: ``reference`` is a number, or a
    string naming the sample field that holds it.

    Example:
        >>> from rewardlab.compose import lsc_and
        >>> r = lsc_and(("format", 0.0), ("exact_match", 0.0))
        >>> s = r.score([{"completion": "4", "reference": "4"}])[0]
        >>> round(s.value, 4)  # log sigmoid(0) + log sigmoid(1)
        -1.0064
    """
    resolved: list[tuple[TermLike, float | None, str | None]] = []
    for term, ref in terms:
        if isinstance(ref, str):
            resolved.append((term, None, ref))
        else:
            resolved.append((term, float(ref), None))
    return LSCAnd(resolved, label=name)


def gated_accumulation(
    outcome: RewardLike,
    *,
    threshold: float = 1.0,
    steps_field: str = "step_rewards",
    step_weight: float = 1.0,
    name: str | None = None,
) -> GatedAccumulation:
    """``r_outcome + [r_outcome >= threshold] * step_weight * sum(step rewards)``; see `GatedAccumulation`."""
    return GatedAccumulation(outcome, threshold=threshold, steps_field=steps_field, step_weight=step_weight, label=name)


def length_penalty(
    inner: RewardLike,
    *,
    target: int,
    coef: float = 0.001,
    max_penalty: float | None = None,
    unit: Unit = "tokens",
    length_field: str | None = "completion_tokens",
    name: str | None = None,
) -> LengthPenalty:
    """``r - min(coef * max(0, L - target), max_penalty)``; see `LengthPenalty`."""
    return LengthPenalty(
        inner, target=target, coef=coef, max_penalty=max_penalty, unit=unit, length_field=length_field, label=name
    )


def length_correlation(
    scores: Sequence[Score | float | None], lengths: Sequence[float]
) -> dict[str, float | int | None]:
    """How much a reward follows completion length: Pearson and Spearman correlation.

    Only ``ok`` scores (or finite numbers) count; ``n`` says how many pairs
    were used. A correlation is ``None`` when fewer than 3 pairs remain or one
    side is constant. A strong positive value on a task where length should
    not matter is a sign of length bias.

    Example:
        >>> length_correlation([0.1, 0.5, 0.9], [10, 50, 90])["pearson"]
        1.0
    """
    if len(scores) != len(lengths):
        raise ValueError(f"{len(scores)} scores but {len(lengths)} lengths")
    pairs = []
    for score, length in zip(scores, lengths, strict=False):
        value = score.value if isinstance(score, Score) else score
        if value is not None and math.isfinite(value) and math.isfinite(length):
            pairs.append((float(value), float(length)))
    result: dict[str, float | int | None] = {"n": len(pairs), "pearson": None, "spearman": None}
    if len(pairs) >= 3:
        xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
        linear, ranked = pearson(xs, ys), spearman(xs, ys)
        result["pearson"] = None if linear is None else round(linear, 12)
        result["spearman"] = None if ranked is None else round(ranked, 12)
    return result
