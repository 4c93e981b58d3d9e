"""Combinators: weighted sums, min/max/mean/product, gates and routing by a sample field."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rewardlab._executor import Executor
from rewardlab._reward import Reward
from rewardlab._types import Sample, Score, Status
from rewardlab.compose._base import (
    CompositeReward,
    RewardLike,
    as_reward,
    child_label,
    failure,
    flatten_components,
    merge_failures,
    spec_of,
)

Combine = Literal["sum", "mean", "min", "max", "product"]


@dataclass(frozen=True)
class Term:
    """One term of a combination.

    Attributes:
        reward: The reward (or anything `rewardlab.load` accepts).
        weight: Multiplier in a weighted sum (ignored by min/max/mean/product).
        name: Component name (default: the reward's name).
        optional: When the term is not ``ok`` it is left out of the
            combination instead of failing it.
    """

    reward: RewardLike
    weight: float = 1.0
    name: str | None = None
    optional: bool = False


TermLike = Term | Reward | str | Mapping[str, Any] | tuple


def as_term(value: TermLike) -> Term:
    """Accept a `Term`, a reward, a name, or a ``(reward, weight)`` pair."""
    if isinstance(value, Term):
        return value
    if isinstance(value, tuple):
        reward, weight = value
        return Term(reward, float(weight))
    return Term(value)


class Combination(CompositeReward):
    """Combine the values of several terms per sample (see `combine`)."""

    def __init__(self, how: Combine, terms: Sequence[TermLike], *, label: str | None = None) -> None:
        resolved = [as_term(t) for t in terms]
        if not resolved:
            raise ValueError(f"{how}: needs at least one term")
        children = [as_reward(t.reward) for t in resolved]
        labels = [t.name or child_label(c) for t, c in zip(resolved, children, strict=False)]
        self.how = how
        self.weights = [float(t.weight) for t in resolved]
        self.optional = [bool(t.optional) for t in resolved]
        for weight in self.weights:
            if not math.isfinite(weight):
                raise ValueError(f"{how}: weights must be finite, got {weight!r}")
        super().__init__(how, children, labels, range=_combined_range(how, children, self.weights), label=label)

    def _node(self) -> dict[str, Any]:
        terms = []
        for label, child, weight, optional in zip(
            self.labels, self.children, self.weights, self.optional, strict=False
        ):
            node = spec_of(child)
            node = dict(node) if isinstance(node, Mapping) else {"reward": node}
            node["name"] = label
            if self.how == "sum":
                node["weight"] = weight
            if optional:
                node["optional"] = True
            terms.append(node)
        return {"combine": self.how, "terms": terms}

    async def _ascore(self, samples: list[Sample], executor: Executor | None) -> list[Score]:
        # children run concurrently: a judge's requests overlap a verifier's workers
        per_child = await self.await_children([(child, samples) for child in self.children], executor)
        signature = self.signature  # set here once, so `score` need not copy every result to sign it
        return [self._combine_row([scores[i] for scores in per_child], signature) for i in range(len(samples))]

    def _combine_row(self, row: list[Score], signature: str) -> Score:
        components: dict[str, float] = {}
        all_ok = True
        for label, score in zip(self.labels, row, strict=True):
            if score.value is not None:
                components[label] = score.value
            else:
                all_ok = False
            if score.components:
                components.update(flatten_components(label, score))
        values: list[float]
        if all_ok:
            values = [s.value for s in row if s.value is not None]
            weights = self.weights
            dropped: list[str] = []
        else:
            required = [(label, s) for label, s, opt in zip(self.labels, row, self.optional, strict=True) if not opt]
            failed = merge_failures(required)
            if failed is not None:
                return Score(None, failed[0], components, failed[1], signature)
            values = [s.value for s in row if s.value is not None]
            weights = [w for s, w in zip(row, self.weights, strict=True) if s.value is not None]
            dropped = [label for label, s in zip(self.labels, row, strict=True) if not s.is_ok]
        reason = f"left out: {', '.join(dropped)}" if dropped else ""
        if not values:
            return Score(None, Status.ABSTAIN, components, f"no term applies ({reason})", signature)
        if self.how == "sum":
            value = math.fsum(v * w for v, w in zip(values, weights, strict=True))
        elif self.how == "mean":
            value = math.fsum(values) / len(values)
        elif self.how == "min":
            value = min(values)
        elif self.how == "max":
            value = max(values)
        else:
            value = math.prod(values)
        if not math.isfinite(value):
            return Score(None, Status.ERROR, components, f"{self.how} overflowed to {value!r}", signature)
        return Score(value, Status.OK, components, reason, signature)


def _combined_range(how: str, children: Sequence[Reward], weights: Sequence[float]) -> tuple[float, float]:
    lows = [c.range[0] for c in children]
    highs = [c.range[1] for c in children]
    try:
        if how == "sum":
            low = math.fsum(min(w * lo, w * hi) for w, lo, hi in zip(weights, lows, highs, strict=False))
            high = math.fsum(max(w * lo, w * hi) for w, lo, hi in zip(weights, lows, highs, strict=False))
        elif how in ("mean", "min", "max"):
            low, high = min(lows), max(highs)
        else:
            corners = [1.0]
            for lo, hi in zip(lows, highs, strict=False):
                corners = [c * x for c in corners for x in (lo, hi)]
            low, high = min(corners), max(corners)
    except (ValueError, OverflowError):
        return (float("-inf"), float("inf"))
    if math.isnan(low) or math.isnan(high):
        return (float("-inf"), float("inf"))
    return (low, high)


def weighted_sum(*terms: TermLike, name: str | None = None) -> Combination:
    """``sum_i w_i * r_i`` per sample; each term's unweighted value is kept in ``components``.

    A required term that is not ``ok`` makes the sum take the worst failing
    status (error > timeout > abstain) with a reason naming each failing term;
    an ``optional`` term that is not ``ok`` is left out of the sum. It is never
    counted as 0.

    Example:
        >>> from rewardlab.compose import weighted_sum, Term
        >>> r = weighted_sum(Term("format", 0.2), Term("exact_match", 1.0, name="answer"))
        >>> s = r.score([{"completion": "<think>x</think><answer>4</answer>", "reference": "4"}])[0]
        >>> s.components["answer"], s.value
        (0.0, 0.2)
    """
    return Combination("sum", terms, label=name)


def mean(*terms: TermLike, name: str | None = None) -> Combination:
    """Unweighted mean of the terms (optional terms that fail are left out of the mean)."""
    return Combination("mean", terms, label=name)


def minimum(*terms: TermLike, name: str | None = None) -> Combination:
    """The smallest term value: an AND of soft conditions."""
    return Combination("min", terms, label=name)


def maximum(*terms: TermLike, name: str | None = None) -> Combination:
    """The largest term value: an OR of soft conditions."""
    return Combination("max", terms, label=name)


def product(*terms: TermLike, name: str | None = None) -> Combination:
    """The product of the term values (a multiplicative AND for rewards in [0, 1])."""
    return Combination("product", terms, label=name)


class Gate(CompositeReward):
    """``then`` counts only where ``gate`` reaches ``threshold``; elsewhere the value is ``otherwise``.

    Semantics per sample, with ``g`` the gate's score:

    - ``g`` not ``ok``: the result takes ``g``'s status (the gate cannot decide).
    - ``g.value >= threshold``: the result is ``then``'s score (its status too);
      ``then`` runs only on these samples, so an expensive verifier is spared
      on malformed outputs.
    - otherwise: ``ok`` with value ``otherwise`` and reason ``gated out``.
    """

    def __init__(
        self,
        gate: RewardLike,
        then: RewardLike,
        *,
        threshold: float = 1.0,
        otherwise: float = 0.0,
        label: str | None = None,
    ) -> None:
        gate_reward, then_reward = as_reward(gate), as_reward(then)
        if not (math.isfinite(threshold) and math.isfinite(otherwise)):
            raise ValueError("gate: threshold and otherwise must be finite numbers")
        self.threshold = float(threshold)
        self.otherwise = float(otherwise)
        low, high = then_reward.range
        super().__init__(
            "gate",
            [gate_reward, then_reward],
            [child_label(gate_reward), child_label(then_reward)],
            range=(min(low, self.otherwise), max(high, self.otherwise)),
            label=label,
        )

    def _node(self) -> dict[str, Any]:
        gate, then = (dict(spec_of(c)) for c in self.children)
        gate["name"], then["name"] = self.labels
        return {"gate": gate, "then": then, "threshold": self.threshold, "otherwise": self.otherwise}

    async def _ascore(self, samples: list[Sample], executor: Executor | None) -> list[Score]:
        gate_child, then_child = self.children
        gate_label, then_label = self.labels
        gate_scores = await self.await_child(gate_child, samples, executor)
        passed = [i for i, g in enumerate(gate_scores) if g.value is not None and g.value >= self.threshold]
        then_run = await self.await_child(then_child, [samples[i] for i in passed], executor)
        then_scores = dict(zip(passed, then_run, strict=False))
        out = []
        for i, g in enumerate(gate_scores):
            components = flatten_components(gate_label, g)
            if not g.is_ok:
                out.append(failure(g.status, f"gate {gate_label}: {g.reason or g.status.value}", components))
            elif i not in then_scores:
                reason = f"gated out: {gate_label}={g.value:g} < {self.threshold:g}"
                out.append(Score.ok(self.otherwise, components=components, reason=reason))
            else:
                t = then_scores[i]
                components.update(flatten_components(then_label, t))
                if t.is_ok:
                    out.append(Score.ok(t.value, components=components, reason=t.reason))  # type: ignore[arg-type]
                else:
                    out.append(failure(t.status, f"{then_label}: {t.reason or t.status.value}", components))
        return out


def gate(
    gate: RewardLike, then: RewardLike, *, threshold: float = 1.0, otherwise: float = 0.0, name: str | None = None
) -> Gate:
    """ "Format gates correctness": ``then``'s value where ``gate >= threshold``, else ``otherwise``.

    Example:
        >>> from rewardlab.compose import gate
        >>> r = gate("format", "exact_match", threshold=1.0, otherwise=-1.0)
        >>> r.score([{"completion": "4", "reference": "4"}])[0].value
        -1.0
    """
    return Gate(gate, then, threshold=threshold, otherwise=otherwise, label=name)


def route_key(value: Any) -> str | None:
    """How a sample field's value is matched against route names (strings as-is, others as JSON)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True)


class Route(CompositeReward):
    """Score each sample with the reward named by one of its fields (``task = "math"`` -> the math reward).

    Samples with no route (field missing or unknown value) use ``default``, or
    ``abstain`` when there is none. Each route scores its rows as one batch.
    The component named after the route holds the routed reward's value.
    """

    def __init__(
        self,
        field: str,
        routes: Mapping[str, RewardLike],
        *,
        default: RewardLike | None = None,
        label: str | None = None,
    ) -> None:
        if not routes:
            raise ValueError("route: needs at least one route")
        self.field = field
        self.route_names = [str(k) for k in routes]
        children = [as_reward(v) for v in routes.values()]
        self.has_default = default is not None
        if default is not None:
            children.append(as_reward(default))
        labels = [*self.route_names, "default"] if self.has_default else list(self.route_names)
        lows = [c.range[0] for c in children]
        highs = [c.range[1] for c in children]
        super().__init__("route", children, labels, range=(min(lows), max(highs)), label=label)

    @property
    def task_fields(self) -> tuple[str, ...]:
        """The routing field, then every task field a route reads."""
        return tuple(dict.fromkeys((self.field, *super().task_fields)))

    def unmet_task_fields(self, row: Mapping[str, Any]) -> dict[str, tuple[tuple[str, str | None], ...]]:
        """The routed reward's, for the route this row takes (the default's when it takes none)."""
        key = route_key(row.get(self.field))
        if key in self.route_names:
            return self.children[self.route_names.index(key)].unmet_task_fields(row)
        return self.children[-1].unmet_task_fields(row) if self.has_default else {}

    def _node(self) -> dict[str, Any]:
        routes = {name: spec_of(child) for name, child in zip(self.route_names, self.children, strict=False)}
        node: dict[str, Any] = {"route": self.field, "routes": routes}
        if self.has_default:
            node["default"] = spec_of(self.children[-1])
        return node

    async def _ascore(self, samples: list[Sample], executor: Executor | None) -> list[Score]:
        assigned: dict[int, list[int]] = {}
        out: list[Score | None] = [None] * len(samples)
        for i, sample in enumerate(samples):
            key = route_key(sample.get(self.field))
            if key in self.route_names:
                assigned.setdefault(self.route_names.index(key), []).append(i)
            elif self.has_default:
                assigned.setdefault(len(self.children) - 1, []).append(i)
            else:
                shown = "missing" if key is None else repr(key)
                out[i] = Score.abstain(f"no route for {self.field}={shown} (routes: {', '.join(self.route_names)})")
        routed = await self.await_children(
            [(self.children[index], [samples[i] for i in rows]) for index, rows in assigned.items()], executor
        )
        for (index, rows), scores in zip(assigned.items(), routed, strict=True):
            label = self.labels[index]
            for i, s in zip(rows, scores, strict=False):
                components = flatten_components(label, s)
                if s.is_ok:
                    out[i] = Score.ok(s.value, components=components, reason=s.reason)  # type: ignore[arg-type]
                else:
                    out[i] = failure(s.status, f"{label}: {s.reason or s.status.value}", components)
        return [s for s in out if s is not None]


def route(
    field: str, routes: Mapping[str, RewardLike], *, default: RewardLike | None = None, name: str | None = None
) -> Route:
    """Route each sample by ``sample.get(field)`` to one reward.

    Example:
        >>> from rewardlab.compose import route
        >>> r = route("task", {"qa": "exact_match", "fmt": "format"})
        >>> r.score([{"completion": "Paris", "reference": "paris", "task": "qa"}])[0].value
        1.0
    """
    return Route(field, routes, default=default, label=name)
