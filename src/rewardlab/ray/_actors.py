"""A pool of Ray actors, each holding one copy of a reward set up once.

The pool is a batch executor for the runtime's `Runner` (``batch_executor=``), so the
score job runs on Ray through the same code path as on worker processes; and it scores
samples directly (`RewardActorPool.score`, `ascore`) for Ray-based trainers.

Failure semantics, per call (one batch on one actor):

- the reward returns scores: they come back unchanged (statuses included);
- the actor dies (process killed, node lost, out of memory): that batch's samples are
  ``error`` with the reason, and a new actor takes the dead one's place;
- the call overruns its deadline: that batch's samples are ``timeout``, the actor is killed
  (it may be stuck) and replaced;
- the reward raises inside the actor: that batch's samples are ``error``.

No sample is lost: every call returns one result per sample, in order.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rewardlab._executor import CallResult
from rewardlab._reward import Reward
from rewardlab._types import Sample, Score, Status, as_sample

DEFAULT_ACTOR_CPUS = 0.5
"""CPUs each actor asks Ray for: fractional, so actors and Ray's own tasks never wait on
each other for whole cores on a small machine."""

DEFAULT_TIMEOUT_S = 600.0
"""Deadline of one batch on one actor."""

STARTUP_TIMEOUT_S = 300.0
"""How long a new actor may take to start (scheduling, imports) before the pool gives up
on it. Start-up does not count against a batch's deadline."""


def _require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError("Ray support needs the 'ray' extra: pip install 'rewardlab[ray]'") from None
    return ray


def _recipe(reward: Reward) -> tuple[str, Any]:
    """How an actor gets its own copy of ``reward``.

    A reward that may be pickled travels as itself. A ``resident`` one (a model, a client)
    is never pickled: the actor rebuilds it from its registered function and parameters, or
    from its signature, and sets it up there, once.
    """
    try:
        pickle.dumps(reward)
        return "object", reward
    except Exception:
        pass
    fn = getattr(reward, "fn", None)
    if fn is not None:
        return "function", (reward.name, fn.__module__, dict(reward.params), getattr(reward, "timeout", None))
    return "signature", reward.signature


def _rebuild(recipe: tuple[str, Any]) -> Reward:
    kind, payload = recipe
    if kind == "object":
        return payload
    if kind == "function":
        from rewardlab._reward import _rebuild_function_reward

        return _rebuild_function_reward(*payload)
    from rewardlab import load

    return load(payload)


class _RewardActor:
    """Holds one copy of the reward; set up on first use, closed when the actor ends."""

    def __init__(self, recipe: tuple[str, Any]) -> None:
        self.reward = _rebuild(recipe)

    def pid(self) -> int:
        return os.getpid()

    def run(self, work: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """``work(reward, *args)`` with this actor's copy of the reward."""
        return work(self.reward, *args)

    def close(self) -> None:
        self.reward.close()


def _sample_dict(sample: Sample) -> dict[str, Any]:
    return sample.to_dict()


class RewardActorPool:
    """Ray actors that each hold a copy of ``reward`` (a model is loaded once per actor).

    Args:
        reward: The reward (picklable; composites and factories are).
        num_actors: Actors in the pool.
        num_cpus: CPUs each actor asks for (fractional is fine).
        num_gpus: GPUs each actor asks for (a model reward on a GPU node: 1, or a fraction).
        timeout: Deadline of one batch on one actor, in seconds.
        address: Ray cluster to join when Ray is not initialised yet (``auto`` for the
            cluster this machine belongs to, ``ray://host:10001``, ...); ``None`` starts a
            local Ray.

    Example::

        pool = RewardActorPool(rewardlab.load("math"), num_actors=4)
        scores = pool.score(samples)            # or: await pool.ascore(samples)
        pool.close()
    """

    def __init__(
        self,
        reward: Reward,
        *,
        num_actors: int = 2,
        num_cpus: float = DEFAULT_ACTOR_CPUS,
        num_gpus: float = 0.0,
        timeout: float = DEFAULT_TIMEOUT_S,
        address: str | None = None,
    ) -> None:
        if num_actors < 1:
            raise ValueError("num_actors must be at least 1")
        ray = _require_ray()
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.reward = reward
        self._recipe = _recipe(reward)
        self.size = num_actors
        self.timeout = timeout
        self._remote_cls = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=0)(_RewardActor)
        self._lock = threading.Condition()
        self._idle: list[Any] = []
        self._all: list[Any] = []
        self.replaced = 0
        self._closed = False
        started = [self._spawn() for _ in range(num_actors)]
        try:
            ray.get([a.pid.remote() for a in started], timeout=STARTUP_TIMEOUT_S)
        except Exception as exc:
            self.close()
            raise RuntimeError(f"Ray actors did not start: {_short(exc)}") from None
        self._idle.extend(started)

    # -- actors ------------------------------------------------------------------------
    def _spawn(self) -> Any:
        actor = self._remote_cls.remote(self._recipe)
        self._all.append(actor)
        return actor

    def _acquire(self) -> Any:
        with self._lock:
            while not self._idle:
                self._lock.wait()
            return self._idle.pop()

    def _release(self, actor: Any) -> None:
        with self._lock:
            self._idle.append(actor)
            self._lock.notify()

    def _replace(self, actor: Any) -> Any:
        ray = _require_ray()
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            pass
        with self._lock:
            if actor in self._all:
                self._all.remove(actor)
            self.replaced += 1
            fresh = self._spawn()
        try:  # ready before it takes work, so its start-up is not charged to a batch
            ray.get(fresh.pid.remote(), timeout=STARTUP_TIMEOUT_S)
        except Exception:
            pass  # a call on it will report what is wrong
        return fresh

    @property
    def name(self) -> str:
        return self.reward.name

    @property
    def signature(self) -> str:
        """The reward's signature (what every score it returns carries)."""
        return self.reward.signature

    def actor_pids(self) -> list[int]:
        """Process ids of the live actors (for tests and diagnostics)."""
        ray = _require_ray()
        return list(ray.get([a.pid.remote() for a in list(self._all)], timeout=60))

    # -- the batch-executor side (used by the runtime's Runner) ---------------------------------
    def call(self, work: Callable[..., Any], reward: Reward, *args: Any, timeout: float | None = None) -> CallResult:
        """Run ``work(<an actor's copy of the reward>, *args)`` on one actor, with a deadline.

        ``reward`` is the caller's copy; the actor uses its own, set up once. Never raises
        because of the call: a dead actor is ``error``, an overrun ``timeout``.
        """
        limit = self.timeout if timeout is None else min(timeout, self.timeout)
        actor = self._acquire()
        started = time.monotonic()
        outcome, keep = self._get(actor, actor.run.remote(work, args), limit)
        self._release(actor if keep else self._replace(actor))
        return CallResult(outcome.status, outcome.value, outcome.reason, time.monotonic() - started)

    def map(
        self, fn: Callable[..., Any], items: Iterable[tuple[Any, ...]], *, timeout: float | None = None
    ) -> list[CallResult]:
        """The `rewardlab.Executor` protocol: ``fn(*item)`` on the actors, one result per item."""
        from concurrent.futures import ThreadPoolExecutor

        def one(item: tuple[Any, ...]) -> CallResult:
            return self.call(_apply, self.reward, fn, item, timeout=timeout)

        with ThreadPoolExecutor(max_workers=self.size) as threads:
            return list(threads.map(one, list(items)))

    def _get(self, actor: Any, ref: Any, limit: float) -> tuple[CallResult, bool]:
        ray = _require_ray()
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        try:
            return CallResult(Status.OK, ray.get(ref, timeout=limit)), True
        except GetTimeoutError:
            return CallResult(Status.TIMEOUT, reason=f"Ray actor did not answer within {limit:g}s; replaced"), False
        except RayActorError as exc:
            return CallResult(Status.ERROR, reason=f"Ray actor died: {_short(exc)}; replaced"), False
        except RayTaskError as exc:
            return CallResult(Status.ERROR, reason=f"{_short(exc)}"), True
        except Exception as exc:  # the object store, a lost node
            return CallResult(Status.ERROR, reason=f"Ray call failed: {type(exc).__name__}: {_short(exc)}"), False

    # -- scoring directly --------------------------------------------------------------------
    def score(self, samples: Iterable[Sample | dict[str, Any]], *, batch_size: int | None = None) -> list[Score]:
        """Score samples on the actors (split evenly, or in ``batch_size`` chunks), in order.

        Never raises because of a sample or an actor: see the module's failure semantics.
        """
        from concurrent.futures import ThreadPoolExecutor

        rows = [_sample_dict(as_sample(s)) for s in samples]
        if not rows:
            return []
        size = batch_size or max(1, -(-len(rows) // self.size))
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]

        def one(chunk: list[dict[str, Any]]) -> list[Score]:
            outcome = self.call(_score_rows, self.reward, chunk)
            return _scores_of(outcome, len(chunk), self.reward.signature)

        with ThreadPoolExecutor(max_workers=self.size) as threads:
            return [s for part in threads.map(one, chunks) for s in part]

    async def ascore(self, samples: Iterable[Sample | dict[str, Any]], *, batch_size: int | None = None) -> list[Score]:
        """`score` for async code: the caller's event loop is never blocked."""
        items = list(samples)
        return await asyncio.to_thread(self.score, items, batch_size=batch_size)

    def close(self) -> None:
        """Close each actor's reward and end the actors."""
        if self._closed:
            return
        self._closed = True
        ray = _require_ray()
        actors, self._all = list(self._all), []
        closing = []
        for actor in actors:
            try:
                closing.append(actor.close.remote())
            except Exception:
                pass
        if closing:
            try:
                ray.wait(closing, num_returns=len(closing), timeout=30)
            except Exception:
                pass
        for actor in actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass

    def __enter__(self) -> RewardActorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _apply(reward: Reward, fn: Callable[..., Any], item: Sequence[Any]) -> Any:
    return fn(*item)


def _score_rows(reward: Reward, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in reward.score([as_sample(r) for r in rows])]


def _scores_of(outcome: CallResult, count: int, signature: str) -> list[Score]:
    if outcome.status is Status.OK:
        return [Score.from_dict(d) for d in outcome.value]
    if outcome.status is Status.TIMEOUT:
        return [Score.timeout(outcome.reason).with_signature(signature)] * count
    return [Score.error(outcome.reason).with_signature(signature)] * count


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
