"""The shared machinery of composite rewards: children, labels, status merging, specs."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rewardlab._executor import Executor
from rewardlab._registry import SPEC_SUFFIXES, lookup
from rewardlab._reward import Placement, Reward, RewardParamError, load_single
from rewardlab._signature import Signature
from rewardlab._types import Sample, Score, Status

SIGNATURE_NAME = "compose"
"""Registry name under which composite signatures load back (``compose|spec:{...}|version:X``)."""

# Worst first: an error hides a timeout, a timeout hides an abstention.
_SEVERITY = {Status.ERROR: 3, Status.TIMEOUT: 2, Status.ABSTAIN: 1, Status.OK: 0}


RewardLike = Reward | str | Mapping[str, Any]
"""Anything `rewardlab.load` accepts: a reward, a name, a signature, a spec file path or a spec mapping."""

_spec_loader: Callable[[str | Mapping[str, Any]], Reward] | None = None


def set_spec_loader(loader: Callable[[str | Mapping[str, Any]], Reward]) -> None:
    """Installed by the spec builder: how a mapping, a spec file or a composite signature becomes a reward."""
    global _spec_loader
    _spec_loader = loader


def as_reward(value: RewardLike) -> Reward:
    """Load a reward from anything `rewardlab.load` accepts."""
    if isinstance(value, Reward):
        return value
    text = value if isinstance(value, str) else None
    if text is None or text.lower().endswith(SPEC_SUFFIXES) or text.strip().startswith(f"{SIGNATURE_NAME}|"):
        if _spec_loader is None:  # pragma: no cover - rewardlab.compose installs it on import
            raise RuntimeError("the spec builder is not loaded (import rewardlab.compose)")
        return _spec_loader(value)
    return load_single(text)


def child_label(reward: Reward) -> str:
    """Default component name of a child: its ``label`` if it has one, else its name."""
    return str(getattr(reward, "label", None) or reward.name)


def unique_labels(labels: Sequence[str]) -> list[str]:
    """Make labels unique by suffixing repeats: ``a, a, b`` -> ``a, a_2, b``."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        count = seen.get(label, 0) + 1
        seen[label] = count
        out.append(label if count == 1 else f"{label}_{count}")
    return out


def spec_of(reward: Reward) -> Any:
    """Plain-data spec of any reward: composites give their node, others ``{"reward", "params"}``."""
    if isinstance(reward, CompositeReward):
        return reward.spec
    params = dict(reward.params)
    try:
        defaults = lookup(reward.name).params
    except Exception:
        defaults = {}
    changed = {k: v for k, v in params.items() if k not in defaults or defaults[k] != v}
    node: dict[str, Any] = {"reward": reward.name}
    if changed:
        node["params"] = _plain(changed)
    return node


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def flatten_components(label: str, score: Score) -> dict[str, float]:
    """A child's contribution to its parent's components: its value and its own components, prefixed."""
    out: dict[str, float] = {}
    if score.value is not None:
        out[label] = score.value
    for key, value in score.components.items():
        out[f"{label}.{key}"] = value
    return out


def failure(status: Status, reason: str, components: Mapping[str, float] | None = None) -> Score:
    """A non-ok score that keeps the components computed so far."""
    return Score(None, status, dict(components or {}), reason)


def merge_failures(items: Sequence[tuple[str, Score]]) -> tuple[Status, str] | None:
    """The worst non-ok status among labelled scores and a reason naming each failing term."""
    bad = [(label, s) for label, s in items if not s.is_ok]
    if not bad:
        return None
    worst = max((s.status for _, s in bad), key=lambda st: _SEVERITY[st])
    reason = "; ".join(f"{label}: {s.status.value}" + (f" ({s.reason})" if s.reason else "") for label, s in bad)
    return worst, reason


class CompositeReward(Reward):
    """A reward made of other rewards (its ``children``).

    Composites run every child on the whole batch (or on the rows routed or
    gated to it), pass the caller's ``pool`` down, and are ``isolated`` when any
    child is. ``reward(**{"child.param": value})`` rebinds a parameter of the
    child whose label is ``child`` (dots nest further).
    """

    children: list[Reward]
    labels: list[str]

    def __init__(
        self,
        name: str,
        children: Sequence[Reward],
        labels: Sequence[str],
        *,
        range: tuple[float, float] = (float("-inf"), float("inf")),
        description: str = "",
        label: str | None = None,
    ) -> None:
        super().__init__(name, {}, range=range, description=description)
        self.children = list(children)
        self.labels = unique_labels(list(labels))
        self.label = label

    @property
    def placement(self) -> Placement:  # type: ignore[override]
        """``resident`` when any child is (the composite then stays in this process), else ``process``
        when any child is, else ``inline``."""
        kinds = {child.placement for child in self.children}
        return "resident" if "resident" in kinds else "process" if "process" in kinds else "inline"

    @property
    def needs_executor(self) -> bool:
        """True when any child sends work to an executor (the one given to `score` is passed down)."""
        return any(child.needs_executor for child in self.children)

    @property
    def worker_modules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for child in self.children for m in child.worker_modules))

    @property
    def stateful(self) -> bool:
        return any(child.stateful for child in self.children)

    @property
    def task_fields(self) -> tuple[str, ...]:
        """Every task field a child reads."""
        return tuple(dict.fromkeys(f for child in self.children for f in child.task_fields))

    def unmet_task_fields(self, row: Mapping[str, Any]) -> dict[str, tuple[tuple[str, str | None], ...]]:
        """Every child's (a child that scores every row cannot score this one)."""
        return {name: unmet for child in self.children for name, unmet in child.unmet_task_fields(row).items()}

    @property
    def has_resources(self) -> bool:
        return any(child.has_resources for child in self.children)

    @property
    def runs_sync(self) -> bool:
        return all(child.runs_sync for child in self.children)

    async def asetup(self) -> None:
        """Set up every child."""
        await asyncio.gather(*(child.asetup() for child in self.children))

    async def aclose(self) -> None:
        """Close every child."""
        await asyncio.gather(*(child.aclose() for child in self.children))

    # -- identity ------------------------------------------------------------
    def _node(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def spec(self) -> dict[str, Any]:
        """The spec mapping this reward was built from; `rewardlab.load` accepts it back."""
        node = self._node()
        if self.label:
            node = {"name": self.label, **node}
        return node

    def get_signature(self) -> Signature:
        """``compose|spec:<canonical JSON>|version:X``; `rewardlab.load` accepts it back.

        The JSON has sorted keys and ``|`` escaped as ``\\u007c`` so the
        signature splits cleanly on ``|``.
        """
        return Signature(SIGNATURE_NAME, {"spec": self.spec})

    def __call__(self, **params: Any) -> CompositeReward:
        if not params:
            return self
        grouped: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            head, sep, rest = key.partition(".")
            if not sep or head not in self.labels:
                known = ", ".join(f"{label}.<param>" for label in self.labels) or "none"
                raise RewardParamError(f"composite {self.name!r} has no parameter {key!r} (parameters: {known})")
            grouped.setdefault(head, {})[rest] = value
        children = list(self.children)
        for head, child_params in grouped.items():
            index = self.labels.index(head)
            children[index] = children[index](**child_params)
        clone = copy.copy(self)
        clone.children = children
        return clone

    def __repr__(self) -> str:
        parts = ", ".join(f"{label}={child!r}" for label, child in zip(self.labels, self.children, strict=False))
        return f"<Reward {self.name}({parts})>"

    # -- helpers for subclasses ----------------------------------------------
    @staticmethod
    async def await_child(child: Reward, samples: list[Sample], executor: Executor | None) -> list[Score]:
        """Score ``samples`` with one child on the reward loop; an exception of the child becomes ``error`` scores."""
        if not samples:
            return []
        try:
            return await child.ascore_batch(samples, executor)
        except Exception as exc:
            return [Score.error(f"{type(exc).__name__}: {exc}"[:500])] * len(samples)

    async def await_children(
        self, jobs: Sequence[tuple[Reward, list[Sample]]], executor: Executor | None
    ) -> list[list[Score]]:
        """Score each ``(child, samples)`` job: concurrently, or one after another when none of them waits."""
        if all(child.runs_sync for child, _ in jobs):
            return [await self.await_child(child, samples, executor) for child, samples in jobs]
        return list(await asyncio.gather(*(self.await_child(child, samples, executor) for child, samples in jobs)))

    @staticmethod
    def run_child(child: Reward, samples: list[Sample], pool: Any) -> list[Score]:
        """Score ``samples`` with one child; an exception of the child becomes ``error`` scores."""
        if not samples:
            return []
        try:
            return child.score(samples, pool=pool)
        except Exception as exc:
            return [Score.error(f"{type(exc).__name__}: {exc}"[:500])] * len(samples)
