"""What every trainer adapter shares: resolving the reward, and the failure policy at the edge."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from rewardlab._reward import Reward
from rewardlab._types import Score

REWARD_ENV = "REWARDLAB_REWARD"
"""Environment variable naming the reward (name, signature or spec file) for file-loaded adapters."""

ON_FAILURE_ENV = "REWARDLAB_ON_FAILURE"
"""Environment variable holding the failure policy (``raise``, ``nan`` or a number) for file-loaded adapters."""

OnFailure = Literal["raise", "nan"] | float
"""What a trainer that needs a number gets for a non-ok score: raise, NaN, or a number you chose."""

_CACHE: dict[str, Reward] = {}
_CACHE_LOCK = threading.Lock()


class RewardFailure(RuntimeError):
    """A score was not ``ok`` and the failure policy is ``raise``."""

    def __init__(self, score: Score, index: int) -> None:
        self.score = score
        self.index = index
        super().__init__(
            f"sample {index}: reward {score.status.value}: {score.reason or 'no reason given'} "
            f"(set on_failure / ${ON_FAILURE_ENV} to 'nan' or a number to train through failures)"
        )


def resolve_reward(reward: Any = None) -> Reward:
    """The reward to use: the argument (anything `rewardlab.load` takes) or ``$REWARDLAB_REWARD``.

    Rewards given by name or path are built once per process and cached, since
    trainers call these adapters once per batch.
    """
    from rewardlab import load

    if isinstance(reward, Reward):
        return reward
    if callable(getattr(reward, "score", None)) and hasattr(reward, "signature"):
        return reward  # a scorer such as rewardlab.ray.RewardActorPool
    if isinstance(reward, Mapping):
        return load(reward)
    spec = reward if reward is not None else os.environ.get(REWARD_ENV)
    if not spec:
        raise ValueError(f"no reward given: pass reward=... or set ${REWARD_ENV} (a name, signature or spec file)")
    key = str(Path(spec).resolve()) if str(spec).lower().endswith((".toml", ".yaml", ".yml", ".json")) else str(spec)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is None:
            found = load(key if key.startswith("/") else str(spec))
            _CACHE[key] = found
    return found


def parse_on_failure(value: Any = None) -> OnFailure:
    """Read a failure policy (argument or ``$REWARDLAB_ON_FAILURE``); the default is ``raise``."""
    if value is None:
        value = os.environ.get(ON_FAILURE_ENV, "raise")
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("raise", "nan"):
            return low  # type: ignore[return-value]
        try:
            value = float(low)
        except ValueError:
            raise ValueError(f"on_failure must be 'raise', 'nan' or a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"on_failure must be 'raise', 'nan' or a finite number, got {value!r}")
    return float(value)


def value_for_trainer(score: Score, index: int, policy: OnFailure) -> float:
    """The number a trainer receives: the value when ``ok``, else what ``policy`` says."""
    if score.value is not None:
        return score.value
    if policy == "raise":
        raise RewardFailure(score, index)
    if policy == "nan":
        return math.nan
    return float(policy)
