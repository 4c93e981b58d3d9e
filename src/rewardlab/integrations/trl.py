"""TRL adapter: a rewardlab reward as a ``reward_funcs`` entry of ``GRPOTrainer`` (and friends).

TRL calls each reward function as ``f(prompts=..., completions=..., completion_ids=..., **columns)``
where ``columns`` are the dataset's other columns (one value per completion) plus
``trainer_state``, ``log_extra`` and ``log_metric``. It reads ``f.__name__`` for its logs and
treats ``None`` as "not applicable" (NaN, left out of the group statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardlab._reward import Reward
from rewardlab._types import Sample, Score
from rewardlab.integrations._common import BoundReward

REFERENCE_COLUMNS = ("reference", "solution", "answer", "ground_truth")
"""Dataset columns tried, in order, for the reference when ``reference_field`` is not given."""

TRAINER_KWARGS = frozenset({"trainer_state", "log_extra", "log_metric", "environments", "completion_ids"})
"""Keyword arguments TRL adds that are not dataset columns."""


class TRLReward(BoundReward):
    """A picklable callable with TRL's reward-function signature, wrapping one rewardlab reward.

    Non-``ok`` scores become ``None``: TRL leaves them out of the group mean and
    std (a completion for which every reward function returns ``None`` gets
    advantage 0), so a verifier failure never becomes a silent 0 reward.

    A reward given by name, signature or spec is loaded by this object, which
    owns it: ``close()`` (or ``with to_trl(...) as f:``) releases what it set up.
    A `Reward` passed in stays its caller's to close.

    When TRL passes ``log_metric``, the share of each non-ok status is logged as
    ``<name>/<status>_frac``; with ``log_extra`` the per-completion status is
    added to the completions table as ``<name>_status``.

    Attributes:
        reward: The wrapped reward.
        __name__: The name TRL shows (``rewards/<name>/mean``).
    """

    def __init__(
        self,
        reward: Any,
        *,
        name: str | None = None,
        reference_field: str | None = None,
        pool: Any = None,
        log_statuses: bool = True,
    ) -> None:
        super().__init__(reward)
        self.reward: Reward
        self.__name__ = name or getattr(self.reward, "label", None) or self.reward.name
        self.reference_field = reference_field
        self.pool = pool
        self.log_statuses = log_statuses

    def __repr__(self) -> str:
        return f"<TRLReward {self.__name__}: {self.reward!r}>"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["pool"] = None  # a pool holds processes and pipes; the unpickled copy uses the default pool
        return state

    def samples(
        self, prompts: Sequence[Any] | None, completions: Sequence[Any], kwargs: dict[str, Any]
    ) -> list[Sample]:
        """Build one `Sample` per completion from TRL's arguments."""
        n = len(completions)
        columns = {
            key: value
            for key, value in kwargs.items()
            if key not in TRAINER_KWARGS and isinstance(value, (list, tuple)) and len(value) == n
        }
        ref_key = self.reference_field
        if ref_key is None:
            ref_key = next((k for k in REFERENCE_COLUMNS if k in columns), None)
        elif ref_key not in columns:
            raise KeyError(f"reference_field {ref_key!r} is not a dataset column (columns: {', '.join(columns)})")
        ids = kwargs.get("completion_ids")
        out = []
        for i in range(n):
            extras = {k: v[i] for k, v in columns.items() if k != ref_key}
            if isinstance(ids, (list, tuple)) and len(ids) == n and ids[i] is not None:
                extras.setdefault("completion_tokens", len(ids[i]))
            prompt = prompts[i] if prompts is not None and i < len(prompts) else None
            reference = columns[ref_key][i] if ref_key is not None else None
            out.append(Sample(completion=completions[i], prompt=prompt, reference=reference, extras=extras))
        return out

    def _report(self, scores: list[Score], kwargs: dict[str, Any]) -> list[float | None]:
        if self.log_statuses:
            log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
            if callable(log_metric) and scores:
                for status in ("abstain", "error", "timeout"):
                    share = sum(s.status.value == status for s in scores) / len(scores)
                    log_metric(f"{self.__name__}/{status}_frac", share)
            if callable(log_extra):
                log_extra(f"{self.__name__}_status", [s.status.value for s in scores])
        return [s.value if s.is_ok else None for s in scores]

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        if completions is None:
            raise TypeError("TRL reward functions are called with completions=...")
        scores = self.reward.score(self.samples(prompts, completions, kwargs), pool=self.pool)
        return self._report(scores, kwargs)


class AsyncTRLReward(TRLReward):
    """`TRLReward` with an ``async`` ``__call__``: TRL gathers async reward functions concurrently."""

    async def __call__(  # type: ignore[override]
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        if completions is None:
            raise TypeError("TRL reward functions are called with completions=...")
        samples = self.samples(prompts, completions, kwargs)
        scores = await self.reward.ascore(samples, pool=self.pool)
        return self._report(scores, kwargs)


def to_trl(
    reward: Any,
    *,
    name: str | None = None,
    reference_field: str | None = None,
    pool: Any = None,
    asynchronous: bool = False,
    log_statuses: bool = True,
) -> TRLReward:
    """Wrap a reward (or anything `rewardlab.load` takes) for TRL's ``reward_funcs``.

    Args:
        reward: A `Reward`, name, signature, spec file or spec mapping.
        name: Name TRL logs it under (default: the reward's name or spec ``name``).
        reference_field: Dataset column holding the reference (default: the
            first of ``reference``, ``solution``, ``answer``, ``ground_truth``).
            The other columns become ``Sample.extras``; the completion's token
            count (from ``completion_ids``) becomes ``completion_tokens``.
        pool: Worker pool for isolated rewards (default: the process-wide pool).
        asynchronous: Return an async callable, which TRL runs concurrently with
            other async reward functions.
        log_statuses: Log non-ok status shares through TRL's ``log_metric``/``log_extra``.

    Example:
        >>> f = to_trl("exact_match")
        >>> f(prompts=["2+2?", "2+2?"], completions=["4", "5"], answer=["4", "4"])
        [1.0, 0.0]
    """
    cls = AsyncTRLReward if asynchronous else TRLReward
    return cls(reward, name=name, reference_field=reference_field, pool=pool, log_statuses=log_statuses)
