"""verl adapter: ``compute_score`` functions for ``custom_reward_function``.

verl loads this file by path and calls the named function. Point it here::

    custom_reward_function.path=$(python -c "import rewardlab.integrations.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score            # NaiveRewardManager (one sample per call)
    +custom_reward_function.reward_kwargs.reward=/abs/path/spec.toml
    +custom_reward_function.reward_kwargs.on_failure=nan

or use ``name=compute_score_batch`` with ``reward_model.reward_manager=batch``, or
``name=compute_score_async`` where verl awaits the function (its async reward loop): the
per-sample calls that are in flight together are gathered into batches for the reward. Without
``reward_kwargs`` the reward comes from ``$REWARDLAB_REWARD`` and the policy from
``$REWARDLAB_ON_FAILURE``. The call shapes follow verl's reward managers
(``verl/workers/reward_manager/naive.py`` and ``batch.py``): keyword arguments
``data_source, solution_str, ground_truth, extra_info`` (single) and
``data_sources, solution_strs, ground_truths, extra_infos`` (batch).
"""

from __future__ import annotations

import asyncio
import math
import typing
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rewardlab._types import Sample, Score
from rewardlab.integrations._common import (
    BoundReward,
    OnFailure,
    parse_on_failure,
    resolve_reward,
    value_for_trainer,
)


def _sample(data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any) -> Sample:
    extras: dict[str, Any] = {}
    if isinstance(extra_info, Mapping):
        extras.update(extra_info)
    elif extra_info is not None:
        extras["extra_info"] = extra_info
    extras["data_source"] = data_source
    prompt = extras.get("prompt") if isinstance(extras.get("prompt"), (str, list)) else None
    return Sample(completion=str(solution_str), prompt=prompt, reference=ground_truth, extras=extras)


def _result(score: Score, index: int, policy: OnFailure, return_dict: bool) -> float | dict[str, float]:
    value = value_for_trainer(score, index, policy)
    if not return_dict:
        return value
    # verl logs every key of the dict per sample and averages them: keep the keys fixed and numeric.
    return {"score": value, "rewardlab_ok": 1.0 if score.is_ok else 0.0}


def compute_score(
    data_source: Any = None,
    solution_str: Any = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    reward: Any = None,
    on_failure: Any = None,
    return_dict: bool = False,
    **_ignored: Any,
) -> float | dict[str, float]:
    """Score one response the way verl's ``NaiveRewardManager`` asks.

    The sample is ``completion=solution_str``, ``reference=ground_truth`` and
    ``extras = extra_info (a dict) + {"data_source": data_source}``.

    Args:
        reward: What to score with (default ``$REWARDLAB_REWARD``); pass it
            through ``custom_reward_function.reward_kwargs.reward``.
        on_failure: Value for a non-ok score: ``"raise"`` (default), ``"nan"``
            or a number (``$REWARDLAB_ON_FAILURE`` when not given).
        return_dict: Return ``{"score": v, "rewardlab_ok": 1.0|0.0}`` so verl
            logs the ok rate next to the score.
        **_ignored: Keyword arguments verl passes for its built-in scorers.
    """
    scorer = resolve_reward(reward)
    policy = parse_on_failure(on_failure)
    score = scorer.score([_sample(data_source, solution_str, ground_truth, extra_info)])[0]
    return _result(score, 0, policy, return_dict)


def compute_score_batch(
    data_sources: Sequence[Any] = (),
    solution_strs: Sequence[Any] = (),
    ground_truths: Sequence[Any] = (),
    extra_infos: Sequence[Any] | None = None,
    *,
    reward: Any = None,
    on_failure: Any = None,
    return_dict: bool = False,
    **_ignored: Any,
) -> list[float | dict[str, float]]:
    """Score a batch the way verl's ``BatchRewardManager`` asks (one list entry per response)."""
    scorer = resolve_reward(reward)
    policy = parse_on_failure(on_failure)
    n = len(solution_strs)
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    sources, truths = list(data_sources), list(ground_truths)
    if not (len(sources) == len(truths) == len(infos) == n):
        raise ValueError(
            f"batch lengths differ: {len(sources)} data_sources, {n} solution_strs, "
            f"{len(truths)} ground_truths, {len(infos)} extra_infos"
        )
    samples = [_sample(sources[i], solution_strs[i], truths[i], infos[i]) for i in range(n)]
    scores = scorer.score(samples)
    return [_result(s, i, policy, return_dict) for i, s in enumerate(scores)]


COALESCE_BATCH = 256
"""Most per-sample calls gathered into one batch by `compute_score_async`."""

COALESCE_WAIT_S = 0.005
"""How long `compute_score_async` waits for more calls once one is pending."""

# One batcher per (event loop, reward): it lives as long as the loop and the reward do.
_COALESCERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Any]] = weakref.WeakKeyDictionary()


def _coalescer(scorer: Any) -> Any:
    from rewardlab.runtime._batcher import Batcher

    per_loop = _COALESCERS.setdefault(asyncio.get_running_loop(), {})
    entry = per_loop.get(id(scorer))
    if entry is None or entry[0] is not scorer:

        async def score_batch(samples: list[Sample]) -> list[Score]:
            return await scorer.ascore(samples)

        batcher = Batcher(score_batch, max_batch=COALESCE_BATCH, max_wait_s=COALESCE_WAIT_S, max_queue=1 << 30)
        batcher.start()
        entry = per_loop[id(scorer)] = (scorer, batcher)
    return entry[1]


async def compute_score_async(
    data_source: Any = None,
    solution_str: Any = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    reward: Any = None,
    on_failure: Any = None,
    return_dict: bool = False,
    **_ignored: Any,
) -> float | dict[str, float]:
    """`compute_score` for callers that await it: concurrent calls are scored as one batch.

    verl's async reward loop awaits one call per response; the calls in flight at the same
    time (up to `COALESCE_BATCH`, gathered for at most `COALESCE_WAIT_S`) reach the reward
    as one batch, so a model reward or a remote reward server sees full batches. The
    caller's event loop is never blocked.
    """
    scorer = resolve_reward(reward)
    policy = parse_on_failure(on_failure)
    future = _coalescer(scorer).submit([_sample(data_source, solution_str, ground_truth, extra_info)], math.inf)
    (score,) = await future
    return _result(score, 0, policy, return_dict)


def make_compute_score(
    reward: Any,
    *,
    on_failure: Any = "raise",
    return_dict: bool = False,
    batch: bool = False,
    asynchronous: bool = False,
) -> Callable[..., Any]:
    """A ``compute_score`` bound to one reward, for code that builds verl's reward manager itself.

    ``asynchronous=True`` returns a coroutine function (`compute_score_async`). A reward
    given by name, signature or spec is loaded for the returned function, which owns it:
    its ``close()`` releases what the reward set up (a reward object passed in stays yours).
    """
    bound = BoundReward(reward)
    scorer = bound.reward
    policy = parse_on_failure(on_failure)
    fn: Any
    if asynchronous:

        async def async_fn(*args: Any, **kwargs: Any) -> float | dict[str, float]:
            return await compute_score_async(*args, reward=scorer, on_failure=policy, return_dict=return_dict, **kwargs)

        async_fn.__name__ = f"compute_score_async_{scorer.name}"
        fn = async_fn
    elif batch:

        def batch_fn(*args: Any, **kwargs: Any) -> list[float | dict[str, float]]:
            return compute_score_batch(*args, reward=scorer, on_failure=policy, return_dict=return_dict, **kwargs)

        batch_fn.__name__ = f"compute_score_batch_{scorer.name}"
        fn = batch_fn
    else:

        def single_fn(*args: Any, **kwargs: Any) -> float | dict[str, float]:
            return compute_score(*args, reward=scorer, on_failure=policy, return_dict=return_dict, **kwargs)

        single_fn.__name__ = f"compute_score_{scorer.name}"
        fn = single_fn
    fn.reward = scorer
    fn.close = bound.close
    return typing.cast(Callable[..., Any], fn)
