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


class RewardFailure(RuntimeError):
    """A score was not ``ok`` and the failure policy is ``raise``."""

    def __init__(self, score: Score, index: int) -> None:
        self.score = score
        self.index = index
        super().__init__(
            f"sample {index}: reward {score.status.value}: {score.reason or 'no reason given'} "
            f"(set on_failure / ${ON_FAILURE_ENV} to 'nan' or a number to train through failures)"
        )


def _spec_key(spec: Any) -> str:
    text = str(spec)
    return str(Path(text).resolve()) if text.lower().endswith((".toml", ".yaml", ".yml", ".json")) else text


def load_reward(reward: Any = None) -> tuple[Reward, bool]:
    """The reward an adapter scores with, and whether the adapter built it (and so owns and closes it).

    A `Reward` (or a scorer such as ``rewardlab.ray.RewardActorPool``) passed in
    stays its caller's; a name, signature, spec file, spec mapping or
    ``$REWARDLAB_REWARD`` is loaded here, for the adapter to own.
    """
    from rewardlab import load

    if isinstance(reward, Reward):
        return reward, False
    if callable(getattr(reward, "score", None)) and hasattr(reward, "signature"):
        return reward, False  # a scorer such as rewardlab.ray.RewardActorPool
    if isinstance(reward, Mapping):
        return load(reward), True
    spec = reward if reward is not None else os.environ.get(REWARD_ENV)
    if not spec:
        raise ValueError(f"no reward given: pass reward=... or set ${REWARD_ENV} (a name, signature or spec file)")
    key = _spec_key(spec)
    return load(key if key.startswith("/") else str(spec)), True


class BoundReward:
    """What an adapter holds: one reward, closed with the adapter when the adapter loaded it.

    ``close()`` (or a ``with`` block) releases what the reward set up (a model,
    a client, connections, its worker pool); a reward passed in as an object is
    left to its caller.
    """

    def __init__(self, reward: Any = None) -> None:
        self.reward, self._owned = load_reward(reward)

    def close(self) -> None:
        """Close the reward if this adapter loaded it."""
        if self._owned:
            self.reward.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoadedRewards:
    """Rewards loaded by name for the entry points a trainer calls by file path.

    verl calls ``compute_score(..., reward=spec)`` once per sample and OpenRLHF
    calls ``reward_func`` once per batch, with no object to keep between calls:
    the reward for each spec is loaded on the first call and kept here, owned by
    the process that imported the adapter, until `close` (``close_loaded_rewards``)
    releases every one. Adapter objects (`to_trl`, ``make_compute_score``,
    ``make_reward_func``) own their reward instead and never use this.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rewards: dict[str, Reward] = {}

    def get(self, spec: Any = None) -> Reward:
        """The reward for ``spec`` (or ``$REWARDLAB_REWARD``), loaded on first use."""
        if isinstance(spec, Mapping) or isinstance(spec, Reward) or hasattr(spec, "signature"):
            return load_reward(spec)[0]  # an object is the caller's; a mapping has no stable key: built anew
        key = _spec_key(spec if spec is not None else os.environ.get(REWARD_ENV) or "")
        with self._lock:
            found = self._rewards.get(key)
            if found is None:
                found = self._rewards[key] = load_reward(spec)[0]
            return found

    def close(self) -> None:
        """Close every reward loaded here (a later call loads it again)."""
        with self._lock:
            rewards = list(self._rewards.values())
            self._rewards.clear()
        for reward in rewards:
            reward.close()


LOADED = LoadedRewards()
"""The process's rewards for by-path entry points (see `LoadedRewards`)."""


def resolve_reward(reward: Any = None) -> Reward:
    """The reward a by-path entry point scores with (kept in `LOADED` when given by name)."""
    return LOADED.get(reward)


def close_loaded_rewards() -> None:
    """Close the rewards the by-path entry points (verl's ``compute_score``, OpenRLHF's ``reward_func``) loaded.

    Call it where the trainer process ends its training (a later call loads them again).
    """
    LOADED.close()


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
