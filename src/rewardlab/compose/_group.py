"""Group-level rewards: a sample's value depends on the other samples of its group."""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable
from typing import Any

from rewardlab._reward import Reward
from rewardlab._types import Sample, Score, Status
from rewardlab.compose._base import CompositeReward, child_label, failure, spec_of
from rewardlab.compose._combinators import RewardLike, as_reward
from rewardlab.compose._shaping import sigmoid

MAX_GROUP_SIZE = 256
"""Largest group scored pairwise: a callable preference is called n(n-1)/2 times per group
(32,640 times at this size), so a bigger group is far more likely a wrong ``group_by`` field."""

PreferenceFunction = Callable[[Sample, Sample], float | bool | None]
"""``prefer(a, b)``: probability that ``a`` is better than ``b`` (a bool counts as 1/0; None = no verdict)."""


def import_preference(path: str) -> PreferenceFunction:
    """Import ``"package.module:function"``."""
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"preference {path!r}: expected 'package.module:function'")
    found: Any = importlib.import_module(module)
    for part in attr.split("."):
        found = getattr(found, part)
    if not callable(found):
        raise ValueError(f"preference {path!r} is not callable")
    return found


class _BadVerdict(Exception):
    """The preference function failed on a pair (raised, or returned something that is no probability)."""


def _who(samples: list[Sample], index: int) -> str:
    sample = samples[index]
    return f"sample {sample.id!r}" if sample.id is not None else f"batch row {index}"


def _group_key(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return repr(value)


class PairwiseWinRate(CompositeReward):
    """Pairwise win rate within a group (Pref-GRPO style).

    Samples are grouped by ``sample.get(group_by)`` (the prompt by default)
    within the scored batch; a trainer's batch holds the group's completions
    together. For each sample ``i`` of a group of size ``n``:

    ``win_rate_i = (1 / |J_i|) * sum_{j in J_i} P(i beats j)``

    where ``J_i`` is the set of other group members for which the preference
    gave a verdict. ``P(i beats j)`` comes from

    - a pairwise function ``prefer(a, b) -> probability`` (called once per
      unordered pair with ``P(j beats i) = 1 - P(i beats j)``, or in both
      orders and averaged when ``symmetric=True`` to cancel position bias), or
    - a pointwise reward turned into a Bradley-Terry preference:
      ``P(i beats j) = sigmoid((r_i - r_j) / temperature)``.

    Values lie in [0, 1]. A sample alone in its group, or with no group key,
    is ``abstain`` (no opponent). A preference that raises, or returns
    anything but None, a bool or a number in [0, 1], makes both samples of
    that pair ``error``, the reason naming the opponent and the failure: a win
    rate over the remaining opponents would be biased. A preference that
    returns None (no verdict), or an opponent whose pointwise reward is not
    ``ok``, leaves that pair out, and the reason says how many were left out; a
    sample with opponents but no verdict at all is ``error``. Components:
    ``opponents`` (pairs used) and, for a pointwise reward, its own value.
    """

    def __init__(
        self,
        preference: PreferenceFunction | RewardLike,
        *,
        group_by: str = "prompt",
        symmetric: bool = False,
        temperature: float = 1.0,
        label: str | None = None,
    ) -> None:
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError("pairwise_win_rate: temperature must be positive")
        self.group_by, self.symmetric, self.temperature = group_by, bool(symmetric), float(temperature)
        self.prefer: PreferenceFunction | None = None
        self.preference_path: str | None = None
        children: list[Reward] = []
        if isinstance(preference, str) and ":" in preference and "|" not in preference:
            self.preference_path = preference
            self.prefer = import_preference(preference)
        elif isinstance(preference, Reward) or isinstance(preference, (str, dict)):
            children = [as_reward(preference)]
        elif callable(preference):
            self.prefer = preference
            module, qualname = getattr(preference, "__module__", None), getattr(preference, "__qualname__", "")
            if module and qualname and "<" not in qualname:
                self.preference_path = f"{module}:{qualname}"
        else:
            raise TypeError(f"pairwise_win_rate: preference must be callable or a reward, got {preference!r}")
        super().__init__(
            "pairwise_win_rate", children, [child_label(c) for c in children], range=(0.0, 1.0), label=label
        )

    def _node(self) -> dict[str, Any]:
        if self.children:
            preference: Any = spec_of(self.children[0])
        elif self.preference_path:
            preference = self.preference_path
        else:
            raise ValueError("this pairwise_win_rate uses a local function; define it at module level to get a spec")
        node: dict[str, Any] = {"group": "pairwise_win_rate", "preference": preference, "group_by": self.group_by}
        if self.symmetric:
            node["symmetric"] = True
        if self.temperature != 1.0:
            node["temperature"] = self.temperature
        return node

    @property
    def signature(self) -> str:
        try:
            return super().signature
        except ValueError:
            return (
                f"pairwise_win_rate|preference:{getattr(self.prefer, '__qualname__', 'local')}|group_by:{self.group_by}"
            )

    def _pair(self, a: Sample, b: Sample) -> float | None:
        """``P(a beats b)``, None for no verdict; raises ``_BadVerdict`` when the preference fails."""
        assert self.prefer is not None
        try:
            verdict = self.prefer(a, b)
        except Exception as exc:
            raise _BadVerdict(f"preference raised {type(exc).__name__}: {exc}"[:200]) from exc
        if verdict is None:
            return None
        if isinstance(verdict, bool):
            return float(verdict)
        try:
            if isinstance(verdict, (str, bytes)):
                raise TypeError("text is not a probability")
            value = float(verdict)
        except (TypeError, ValueError):
            raise _BadVerdict(f"preference returned {verdict!r:.60}, not a probability") from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise _BadVerdict(f"preference returned {value!r}, outside [0, 1]")
        return value

    def _score(self, samples: list[Sample], pool: Any) -> list[Score]:
        groups: dict[str, list[int]] = {}
        out: list[Score | None] = [None] * len(samples)
        for i, sample in enumerate(samples):
            key = _group_key(sample.get(self.group_by))
            if key is None:
                out[i] = Score.abstain(f"no group: field {self.group_by!r} is missing")
            else:
                groups.setdefault(key, []).append(i)
        pointwise = self.run_child(self.children[0], samples, pool) if self.children else None
        skipped = f"their {self.labels[0]} is not ok" if self.children else "no verdict"
        for members in groups.values():
            if len(members) > MAX_GROUP_SIZE:
                for i in members:
                    out[i] = Score.error(f"group of {len(members)} exceeds the limit of {MAX_GROUP_SIZE}")
                continue
            wins = {i: [0.0, 0] for i in members}
            broken: dict[int, str] = {}
            for x, i in enumerate(members):
                for j in members[x + 1 :]:
                    try:
                        p = self._pair_probability(samples, pointwise, i, j)
                    except _BadVerdict as bad:
                        broken.setdefault(i, f"against {_who(samples, j)}: {bad}")
                        broken.setdefault(j, f"against {_who(samples, i)}: {bad}")
                        continue
                    if p is None:
                        continue
                    wins[i][0] += p
                    wins[i][1] += 1
                    wins[j][0] += 1.0 - p
                    wins[j][1] += 1
            for i in members:
                total, used = wins[i]
                components: dict[str, float] = {"opponents": float(used)}
                if pointwise is not None and pointwise[i].value is not None:
                    components[self.labels[0]] = pointwise[i].value  # type: ignore[assignment]
                left_out = len(members) - 1 - used
                if i in broken:
                    out[i] = failure(Status.ERROR, broken[i], components)
                elif len(members) == 1:
                    out[i] = failure(Status.ABSTAIN, "alone in its group: no opponent", components)
                elif used == 0:
                    why = (
                        f"{self.labels[0]}: {pointwise[i].status.value}" if pointwise and not pointwise[i].is_ok else ""
                    )
                    out[i] = failure(
                        Status.ERROR, f"no pairwise verdict against any opponent {why}".strip(), components
                    )
                elif left_out:
                    out[i] = Score.ok(
                        total / used,
                        components=components,
                        reason=f"{left_out} of {len(members) - 1} opponents left out ({skipped})",
                    )
                else:
                    out[i] = Score.ok(total / used, components=components)
        return [s for s in out if s is not None]

    def _pair_probability(self, samples: list[Sample], pointwise: list[Score] | None, i: int, j: int) -> float | None:
        if pointwise is not None:
            a, b = pointwise[i].value, pointwise[j].value
            if a is None or b is None:
                return None
            return sigmoid((a - b) / self.temperature)
        forward = self._pair(samples[i], samples[j])
        if not self.symmetric:
            return forward
        backward = self._pair(samples[j], samples[i])
        if forward is None or backward is None:
            return None
        return (forward + 1.0 - backward) / 2.0


def pairwise_win_rate(
    preference: PreferenceFunction | RewardLike,
    *,
    group_by: str = "prompt",
    symmetric: bool = False,
    temperature: float = 1.0,
    name: str | None = None,
) -> PairwiseWinRate:
    """Each sample's mean win probability against the other samples of its group.

    Args:
        preference: ``prefer(a, b) -> P(a beats b)`` (a function, or its import
            path ``"pkg.module:function"``), or a pointwise reward used through
            Bradley-Terry ``sigmoid((r_a - r_b) / temperature)``.
        group_by: Sample field that identifies the group (default ``prompt``).
        symmetric: Ask the function in both orders and average (position-bias control).
        temperature: Bradley-Terry temperature for a pointwise reward.

    Example:
        >>> from rewardlab.compose import pairwise_win_rate
        >>> longer = lambda a, b: len(a.completion_text) > len(b.completion_text)
        >>> r = pairwise_win_rate(longer)
        >>> [s.value for s in r.score([{"completion": c, "prompt": "p"} for c in ["a", "bbb", "cc"]])]
        [0.0, 1.0, 0.5]
    """
    return PairwiseWinRate(preference, group_by=group_by, symmetric=symmetric, temperature=temperature, label=name)
