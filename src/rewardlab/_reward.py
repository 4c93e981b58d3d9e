"""The `Reward` protocol, its placement, and the `@reward` decorator for functions and factories.

A reward is a coroutine over a batch (`Reward.ascore_batch`); `Reward.score` is
its sync wrapper, run on the process's one reward loop (`rewardlab._loop`).
Where the work runs is declared, not flagged:

- ``inline``: in the caller (cheap, trusted work);
- ``process``: through an `Executor` (worker processes with hard deadlines;
  CPU-heavy or risky verifiers);
- ``resident``: one instance in the process that opened it, never pickled or
  rebuilt in a worker (models, HTTP clients with rate limits).

A reward that owns something (a model, a client, a sandbox pool) is written as
a factory: the decorated function takes the parameters, sets up once and
returns the scoring function; ``close()`` (or a ``with`` block) releases it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import json
import math
import os
import threading
import types
import typing
import weakref
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, ParamSpec, TypeVar, Union, overload

from rewardlab import _loop
from rewardlab._executor import CallResult, Executor
from rewardlab._probe import task_fields, unmet_task_fields
from rewardlab._registry import lookup, register
from rewardlab._signature import Signature, format_value
from rewardlab._types import Sample, Score, Status, as_sample

SampleLike = Sample | Mapping[str, Any]
Placement = Literal["inline", "process", "resident"]
PLACEMENTS: tuple[Placement, ...] = ("inline", "process", "resident")

P = ParamSpec("P")
R = TypeVar("R", bound="Reward")
T = TypeVar("T")


class RewardParamError(TypeError):
    """A reward was given a parameter it does not have, or a value of the wrong type."""


class Reward:
    """Something that scores batches of samples. All rewards share this interface.

    Subclasses implement the coroutine ``_ascore(samples, executor)``; composite
    rewards (``rewardlab.compose``) and decorated functions (``@reward``) are both
    `Reward` objects, so everything that takes a reward takes either. (A
    subclass may instead implement the sync ``_score(samples, pool)``; it then
    runs in a thread of the runtime.)

    Attributes:
        name: Registered name.
        params: Parameters the reward was built with (all of them, defaults included).
        range: Declared ``(low, high)`` of ``ok`` values.
        description: One line saying what it measures.
        placement: Where it runs: ``inline``, ``process`` or ``resident``.
    """

    name: str
    params: Mapping[str, Any]
    range: tuple[float, float]
    description: str
    placement: Placement = "inline"

    @property
    def stateful(self) -> bool:
        """True when a score depends on the batches scored before (a running normaliser).

        Such a reward gives one uninterrupted run's result only when every batch
        goes through this one object in order: the score job refuses to split it
        over workers or to resume it part-way.
        """
        return False

    def __init__(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        range: tuple[float, float] = (0.0, 1.0),
        description: str = "",
    ) -> None:
        self.name = name
        self.params = dict(params or {})
        self.range = range
        self.description = description

    # -- the public contract -------------------------------------------------
    def score(
        self, samples: Iterable[SampleLike], *, executor: Executor | None = None, pool: Executor | None = None
    ) -> list[Score]:
        """Score a batch of samples (dicts or `Sample`), one `Score` each, in order.

        Never raises because of a sample: a verifier failure is a `Score` with
        status ``error`` or ``timeout``. Works from sync code, from any thread
        and from inside a running event loop (which it blocks; use `ascore` there).

        Args:
            samples: The batch.
            executor: Where ``process``-placed work runs (a `rewardlab.runtime.WorkerPool`);
                without one such a reward opens its own, released by `close`.
            pool: Another name for ``executor``.
        """
        batch = [s if type(s) is Sample else as_sample(s) for s in samples]
        if not batch:
            return []
        if self.runs_sync and not _loop.on_runtime_loop():
            return drive(self.ascore_batch(batch, executor or pool))
        return _loop.run(self.ascore_batch(batch, executor or pool))

    async def ascore(
        self, samples: Iterable[SampleLike], *, executor: Executor | None = None, pool: Executor | None = None
    ) -> list[Score]:
        """`score` for async code: awaits the reward on the reward loop without blocking the caller's loop."""
        batch = [as_sample(s) for s in samples]
        if not batch:
            return []
        return await _loop.run_async(self.ascore_batch(batch, executor or pool))

    def score_one(self, sample: SampleLike, *, executor: Executor | None = None, pool: Executor | None = None) -> Score:
        """Score a single sample."""
        return self.score([sample], executor=executor or pool)[0]

    async def ascore_batch(self, samples: list[Sample], executor: Executor | None = None) -> list[Score]:
        """The batch coroutine: one signed `Score` per sample (what composites and runners await)."""
        scores = await self._ascore(samples, executor)
        if len(scores) != len(samples):
            raise RuntimeError(f"reward {self.name!r} returned {len(scores)} scores for {len(samples)} samples")
        return sign_scores(scores, self.signature)

    @property
    def runs_sync(self) -> bool:
        """True when scoring never waits on anything (plain sync functions, and composites of them).

        `score` then runs the batch coroutine to its end in the caller's thread,
        without a hand-off to the reward loop.
        """
        return False

    # -- to implement --------------------------------------------------------
    async def _ascore(self, samples: list[Sample], executor: Executor | None) -> list[Score]:
        if self.runs_sync and not _loop.on_runtime_loop():
            return self._score(samples, executor)
        return await _loop.in_thread(self._score, samples, executor)

    def _score(self, samples: list[Sample], pool: Any) -> list[Score]:
        raise NotImplementedError(f"{type(self).__name__} implements neither _ascore nor _score")

    # -- resources -----------------------------------------------------------
    async def asetup(self) -> None:
        """Set up now what would otherwise be set up by the first batch (a model loaded, a
        client opened), so that an owner such as the server is ready only once its rewards
        are. A reward placed in worker processes sets up there, on its first batch."""

    def setup(self) -> None:
        """`asetup` from sync code."""
        _loop.run(self.asetup())

    async def aclose(self) -> None:
        """Release what the reward set up (a model, a client, its own worker pool). It sets up again if used."""

    def close(self) -> None:
        """`aclose` from sync code."""
        if self.has_resources:
            _loop.run(self.aclose())

    @property
    def has_resources(self) -> bool:
        """True while something set up by this reward (or a child) is open."""
        return False

    def __enter__(self: R) -> R:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self: R) -> R:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await _loop.run_async(self.aclose())

    # -- placement -----------------------------------------------------------
    @property
    def needs_executor(self) -> bool:
        """True when scoring sends work to an executor (the caller should pass one it owns)."""
        return self.placement == "process"

    @property
    def isolated(self) -> bool:
        """Older name of `needs_executor`."""
        return self.needs_executor

    @property
    def resident(self) -> bool:
        """True when the reward (or a child) stays in the process that opened it (``placement="resident"``)."""
        return self.placement == "resident"

    @property
    def worker_modules(self) -> tuple[str, ...]:
        """Modules a worker process needs to import for this reward (imported ahead by ``WorkerPool.start``)."""
        return ()

    # -- the data it reads -----------------------------------------------------
    @property
    def task_fields(self) -> tuple[str, ...]:
        """Row fields this reward reads besides completion, prompt, reference and id (``tests``, ``db``...).

        Declared by the reward's family (`rewardlab.audit.TaskField`), with the
        renames its parameters make (``sql(db_field="database")`` reads ``database``).
        """
        return task_fields(self.name, self.params)

    def unmet_task_fields(self, row: Mapping[str, Any]) -> dict[str, tuple[tuple[str, str | None], ...]]:
        """Rewards (this one, or a composite's children) that can only abstain on ``row`` because it has
        none of their required task fields: reward name -> ``(field, renaming parameter)`` pairs."""
        unmet = unmet_task_fields(self.name, self.params, row)
        return {self.name: unmet} if unmet else {}

    # -- identity --------------------------------------------------------------
    def get_signature(self) -> Signature:
        """The `Signature` of this reward: name, parameters, version."""
        return Signature(self.name, self.params)

    @property
    def signature(self) -> str:
        """``name|param:value|...|version:X``; `rewardlab.load` accepts it back."""
        return self.get_signature().format()

    @property
    def spec(self) -> dict[str, Any]:
        """Plain-data description: ``{"reward": name, "params": {...}}``."""
        return {"reward": self.name, "params": dict(self.params)}

    def origin(self) -> Any:
        """Where this reward was defined (registering the same origin twice replaces the entry)."""
        return None

    def __call__(self, **params: Any) -> Reward:
        """The same reward with some parameters changed."""
        raise RewardParamError(f"reward {self.name!r} takes no parameters")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<Reward {self.name}({args})>"


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a `Reward.runs_sync` reward's batch) to its end, here."""
    try:
        coro.send(None)
    except StopIteration as done:
        return typing.cast(T, done.value)
    coro.close()
    raise RuntimeError("a reward declared runs_sync waited on something; it must not claim runs_sync")


def sign_scores(scores: Sequence[Score], signature: str) -> list[Score]:
    """Each score with ``signature`` unless it carries one already.

    A score object returned several times (a reward's shared constant such as
    ``Score.ok(1.0)``) is signed once and the signed copy shared: scores are immutable.
    """
    signed: dict[int, Score] = {}  # by identity: every score stays alive in ``scores`` meanwhile
    out: list[Score] = []
    for score in scores:
        if score.signature:
            out.append(score)
            continue
        copy = signed.get(id(score))
        if copy is None:
            copy = signed[id(score)] = score.with_signature(signature)
        out.append(copy)
    return out


def format_param(value: Any) -> str:
    """Render a parameter value for a signature: booleans as yes/no, others compactly."""
    return format_value(value)


@functools.lru_cache(maxsize=512)
def _adapter(annotation: Any) -> Any:
    from pydantic import TypeAdapter  # imported on first use: `import rewardlab` stays light

    return TypeAdapter(annotation)


def coerce_param(name: str, value: Any, annotation: Any) -> Any:
    """Turn a string (from the command line or a signature) into the annotated type, with pydantic.

    Numbers, yes/no booleans and ``Literal`` choices are read from their text;
    lists, mappings and other structured types from JSON; ``none``/``null`` is
    ``None`` where the type allows it. Values that are not strings are kept as given.

    Raises:
        RewardParamError: the text cannot be read as the parameter's type (the message names the parameter).
    """
    if not isinstance(value, str) or annotation in (str, inspect.Parameter.empty, Any, "str"):
        return value
    origin = typing.get_origin(annotation)
    # `str | None` (PEP 604) has origin types.UnionType, not typing.Union.
    choices: tuple[Any, ...] = typing.get_args(annotation) if origin in (Union, types.UnionType) else (annotation,)
    if type(None) in choices and value.strip().lower() in ("none", "null"):
        return None
    from pydantic import ValidationError

    try:
        adapter = _adapter(annotation)
    except TypeError:  # an annotation pydantic cannot validate (an arbitrary class): JSON as it is
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise RewardParamError(f"parameter {name!r}: cannot read {value!r} ({exc.msg})") from None
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
    if value.lstrip()[:1] in ("[", "{", '"'):
        try:
            return adapter.validate_json(value)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
    raise RewardParamError(f"parameter {name!r}: cannot read {value!r} ({problem})")


@dataclass(frozen=True)
class _Param:
    name: str
    default: Any
    annotation: Any

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


_PLAIN_RESULTS = (float, int, bool, Score, type(None))
"""Result types that are certainly not awaitable (checked first: the per-sample hot path)."""


def coerce_result(result: Any) -> Score:
    """A scoring function's return value as a `Score` (a number, a bool, ``None`` for abstain, or a `Score`)."""
    if isinstance(result, Score):
        return result
    if result is None:
        return Score.abstain("reward returned None")
    if isinstance(result, (bool, int, float)):
        value = float(result)
        if not math.isfinite(value):
            return Score.error(f"reward returned a non-finite value ({value!r})")
        return Score.ok(value)
    return Score.error(f"reward returned {type(result).__name__}, expected a number, None or Score")


def error_from(exc: BaseException) -> Score:
    """The ``error`` score of an exception raised while scoring."""
    if isinstance(exc, MemoryError):
        return Score.error("memory limit exceeded (MemoryError)")
    return Score.error(f"{type(exc).__name__}: {exc}"[:500])


def failure_score(result: CallResult) -> Score:
    """The score of a call that did not come back ``ok`` from an executor (timeout or error)."""
    if result.status is Status.TIMEOUT:
        return Score.timeout(result.reason)
    return Score.error(result.reason)


class _Resources:
    """What a reward definition opened for itself, shared by its parameter variants.

    A ``process`` reward scored without an executor opens one worker pool here;
    every variant of the same reward (``reward(timeout=3)``) uses it, and
    ``close()`` on any of them stops it.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: Any = None

    def own_pool(self) -> Executor:
        with self.lock:
            if self.pool is None:
                from rewardlab.runtime._pool import WorkerPool

                self.pool = WorkerPool()
            return typing.cast(Executor, self.pool)

    def close(self) -> None:
        with self.lock:
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()


class _Setup:
    """A factory's built scorer and its teardown, set up once on the reward loop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.future: concurrent.futures.Future[Any] | None = None
        self.teardown: Callable[[], Any] | None = None
        self.finalizer: weakref.finalize[Any, Any] | None = None
        self.sync_scorer: Any = None
        """The built scorer when it is a sync function (callable from any thread without the loop)."""


def _close_unclosed(teardown: Callable[[], Any]) -> None:
    """Teardown of a reward never closed by its owner, when it is collected or the interpreter exits."""
    try:
        result = teardown()
        if inspect.isawaitable(result):
            _loop.run(result)
    except Exception:  # nothing is left to report to at that point
        pass


SETUP_LOG_ENV = "REWARDLAB_SETUP_LOG"
"""Environment variable naming a file to which every factory setup and close is appended
(``setup <reward> <pid>`` / ``close <reward> <pid>``): shows where a model, client or
connection pool was built and that its owner released it, across worker processes too."""


def log_setup_event(event: str, name: str) -> None:
    """Append ``<event> <name> <pid>`` to ``$REWARDLAB_SETUP_LOG`` when it is set (a diagnostic; never fails)."""
    path = os.environ.get(SETUP_LOG_ENV)
    if not path:
        return
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{event} {name} {os.getpid()}\n")


class FunctionReward(Reward, Generic[P]):
    """A reward made from a decorated function or factory (see `reward`)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        params: Mapping[str, Any],
        declared: Mapping[str, _Param],
        range: tuple[float, float],
        description: str,
        batched: bool,
        placement: Placement,
        timeout: float | None,
        uses_pool: bool = False,
        factory: bool = False,
        resources: _Resources | None = None,
    ) -> None:
        super().__init__(name, params, range=range, description=description)
        self.fn = fn
        self.declared = declared
        self.batched = batched
        self.uses_pool = uses_pool
        self.placement = placement
        self.timeout = timeout
        self.factory = factory
        self.is_async = inspect.iscoroutinefunction(fn) and not factory
        self._resources = resources or _Resources()
        self._setup = _Setup()

    def __call__(self, *args: P.args, **params: P.kwargs) -> FunctionReward[P]:
        if args:
            raise RewardParamError(f"reward {self.name!r} takes keyword parameters only")
        merged = dict(self.params)
        for key, value in params.items():
            if key not in self.declared:
                known = ", ".join(self.declared) or "none"
                raise RewardParamError(f"reward {self.name!r} has no parameter {key!r} (parameters: {known})")
            merged[key] = coerce_param(key, value, self.declared[key].annotation)
        # bounds of shared parameter groups (rewardlab._params.with_params) are checked now, at load time
        check = getattr(self.fn, "__reward_params_check__", None)
        if check is not None and params:
            check(merged)
        return self._variant(merged, self.timeout)

    def _variant(self, params: Mapping[str, Any], timeout: float | None) -> FunctionReward[P]:
        return FunctionReward(
            self.fn,
            name=self.name,
            params=params,
            declared=self.declared,
            range=self.range,
            description=self.description,
            batched=self.batched,
            placement=self.placement,
            timeout=timeout,
            uses_pool=self.uses_pool,
            factory=self.factory,
            resources=self._resources,
        )

    @property
    def runs_sync(self) -> bool:
        if self.placement == "process":
            return False
        if not self.factory:
            return not self.is_async
        return self._sync_scorer() is not None

    def _sync_scorer(self) -> Any:
        """The factory's scorer once it is set up, when it is a sync function (callable from any thread)."""
        return self._setup.sync_scorer

    def get_signature(self) -> Signature:
        """Name, parameters and version; a parameter named ``backend`` or ``model`` is shown as that field."""
        fields = {k: v for k in ("backend", "model") if isinstance(v := self.params.get(k), str)}
        return Signature(self.name, self.params, **fields)

    def origin(self) -> Any:
        strip = {"__main__": "", "__mp_main__": ""}
        return (strip.get(self.fn.__module__, self.fn.__module__), self.fn.__qualname__)

    @property
    def worker_modules(self) -> tuple[str, ...]:
        return (self.fn.__module__,) if self.placement == "process" else ()

    def __copy__(self) -> FunctionReward[P]:
        # a relabelled copy (a composite's term) is the same reward: one setup, shared; pickling
        # (which a resident reward refuses) is not needed to make it
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def __reduce__(self) -> tuple[Any, ...]:
        if self.placement == "resident":
            raise TypeError(
                f"reward {self.name!r} is resident: it runs in the process that opened it and is never sent to a worker"
            )
        # The decorated name refers to this object, not to ``fn``; rebuild by registry lookup.
        return (_rebuild_function_reward, (self.name, self.fn.__module__, dict(self.params), self.timeout))

    def with_timeout(self, timeout: float | None) -> FunctionReward[P]:
        """The same reward with another per-sample deadline.

        Rewards that manage their own deadline declare a ``timeout`` parameter,
        which is set instead.
        """
        if "timeout" in self.declared and timeout is not None:
            return self(timeout=timeout)  # type: ignore[call-arg, arg-type]
        return self._variant(self.params, timeout)

    def _check_required(self) -> None:
        missing = [p.name for p in self.declared.values() if p.required and p.name not in self.params]
        if missing:
            raise RewardParamError(f"reward {self.name!r} needs parameter(s): {', '.join(missing)}")

    # -- setup and close -----------------------------------------------------
    async def _build(self) -> Any:
        """Run the factory once (on the reward loop); the scorer it returns serves every batch."""
        scorer = await self._run_factory()
        log_setup_event("setup", self.name)
        return scorer

    async def _run_factory(self) -> Any:
        params = dict(self.params)
        if inspect.isasyncgenfunction(self.fn):
            agen = self.fn(**params)
            scorer = await agen.__anext__()

            async def finish_async() -> None:
                with _suppress_stop():
                    await agen.__anext__()

            self._set_teardown(finish_async)
            return scorer
        if inspect.isgeneratorfunction(self.fn):
            gen = self.fn(**params)
            scorer = await _loop.in_thread(next, gen)

            def finish() -> None:
                with _suppress_stop():
                    next(gen)

            self._set_teardown(finish)
            return scorer
        if inspect.iscoroutinefunction(self.fn):
            scorer = await self.fn(**params)
        else:
            scorer = await _loop.in_thread(lambda: self.fn(**params))
        closer = getattr(scorer, "aclose", None) or getattr(scorer, "close", None)
        if callable(closer):
            self._set_teardown(closer)
        return scorer

    def _set_teardown(self, teardown: Callable[[], Any]) -> None:
        self._setup.teardown = teardown
        # an owner that never calls close() still gets its sandboxes and clients released
        self._setup.finalizer = weakref.finalize(self, _close_unclosed, teardown)

    async def _scorer(self) -> Any:
        """The scoring function: ``fn`` itself, or what the factory built (built on first use)."""
        if not self.factory:
            return self.fn
        setup = self._setup
        with setup.lock:
            if setup.future is None:
                setup.future = asyncio.run_coroutine_threadsafe(self._build(), _loop.runtime_loop())
            future = setup.future
        try:
            scorer = await asyncio.wrap_future(future)
        except BaseException:
            with setup.lock:
                if setup.future is future:
                    setup.future = None  # a failed setup is tried again by the next batch
            raise
        if not inspect.iscoroutinefunction(scorer):
            with setup.lock:
                if setup.future is future:
                    setup.sync_scorer = scorer
        return scorer

    @property
    def has_resources(self) -> bool:
        return self._setup.future is not None or self._resources.pool is not None

    async def asetup(self) -> None:
        if self.factory and self.placement != "process":
            await self._scorer()

    async def aclose(self) -> None:
        setup = self._setup
        with setup.lock:
            future, setup.future = setup.future, None
            setup.sync_scorer = None
        if future is not None and not future.done():
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(future)
        with setup.lock:
            teardown, setup.teardown = setup.teardown, None
            finalizer, setup.finalizer = setup.finalizer, None
        if finalizer is not None:
            finalizer.detach()
        if teardown is not None:
            try:
                result = teardown()
                if inspect.isawaitable(result):
                    await result
            finally:
                log_setup_event("close", self.name)
        elif future is not None:
            log_setup_event("close", self.name)
        self._resources.close()

    # -- running -------------------------------------------------------------
    async def _call(self, scorer: Any, samples: Sequence[Sample], params: dict[str, Any]) -> list[Score]:
        """Score in this process, turning exceptions into ``error`` scores."""
        if self.batched:
            try:
                raw = scorer(list(samples), **params)
                if inspect.isawaitable(raw):
                    raw = await raw
                results = list(raw)
            except Exception as exc:
                return [error_from(exc)] * len(samples)
            if len(results) != len(samples):
                return [Score.error(f"batch reward returned {len(results)} results for {len(samples)} samples")] * len(
                    samples
                )
            return [coerce_result(r) for r in results]
        if inspect.iscoroutinefunction(scorer):

            async def one(sample: Sample) -> Score:
                try:
                    return coerce_result(await scorer(sample, **params))
                except Exception as exc:
                    return error_from(exc)

            return list(await asyncio.gather(*(one(s) for s in samples)))
        out = []
        for sample in samples:
            try:
                result = scorer(sample, **params)
                if inspect.isawaitable(result):
                    result = await result
                out.append(coerce_result(result))
            except Exception as exc:
                out.append(error_from(exc))
        return out

    async def _run_here(self, samples: Sequence[Sample]) -> list[Score]:
        try:
            scorer = await self._scorer()
        except Exception as exc:
            return [Score.error(f"setup failed: {type(exc).__name__}: {exc}"[:500])] * len(samples)
        params = {} if self.factory else dict(self.params)
        if not inspect.iscoroutinefunction(scorer):
            # a sync scorer (a model's forward pass, a sandbox run) must not hold the loop its siblings share
            return await _loop.in_thread(self._call_sync, scorer, samples, params)
        return await self._call(scorer, samples, params)

    def run_inline(self, samples: Iterable[SampleLike]) -> list[Score]:
        """Score in this process, whatever the placement (no executor, no worker): the verifier itself.

        Takes what `score` takes: `Sample` objects or plain mappings (``{"completion": ...}``).
        """
        batch = [as_sample(s) for s in samples]
        if not self.factory and not self.is_async:
            return self._run_sync(batch)
        scorer = self._sync_scorer()
        if scorer is not None and not _loop.on_runtime_loop():
            return self._call_sync(scorer, batch, {})  # set up already: no hand-off (a worker's per-call path)
        return _loop.run(self._run_here(batch))

    def _run_sync(self, samples: Sequence[Sample]) -> list[Score]:
        return self._call_sync(self.fn, samples, dict(self.params))

    def _call_sync(self, scorer: Any, samples: Sequence[Sample], params: dict[str, Any]) -> list[Score]:
        """Score with a sync scorer in the calling thread, turning exceptions into ``error`` scores."""
        if self.batched:
            try:
                raw = scorer(list(samples), **params)
                results = list(_loop.run(raw) if inspect.isawaitable(raw) else raw)
            except Exception as exc:
                return [error_from(exc)] * len(samples)
            if len(results) != len(samples):
                return [Score.error(f"batch reward returned {len(results)} results for {len(samples)} samples")] * len(
                    samples
                )
            return [coerce_result(r) for r in results]
        out = []
        for sample in samples:
            try:
                result = scorer(sample, **params)
                if type(result) not in _PLAIN_RESULTS and inspect.isawaitable(result):
                    result = _loop.run(result)
                out.append(coerce_result(result))
            except Exception as exc:
                out.append(error_from(exc))
        return out

    async def _ascore(self, samples: list[Sample], executor: Executor | None) -> list[Score]:
        self._check_required()
        if self.uses_pool:
            executor = executor or self._resources.own_pool()
            if not self.factory:
                return await _loop.in_thread(self._dispatch, samples, executor, self.fn, dict(self.params))
            try:
                built = await self._scorer()
            except Exception as exc:
                return [Score.error(f"setup failed: {type(exc).__name__}: {exc}"[:500])] * len(samples)
            return await _loop.in_thread(self._dispatch, samples, executor, built, {})
        if self.placement == "process":
            return await _loop.in_thread(self._in_executor, samples, executor or self._resources.own_pool())
        if not self.factory and not self.is_async:
            if _loop.on_runtime_loop():
                # beside async siblings: off the loop, so a function that itself calls a reward
                # (or simply takes long) never holds up the loop those rewards live on
                return await _loop.in_thread(self._run_sync, samples)
            return self._run_sync(samples)
        scorer = self._sync_scorer()
        if scorer is not None and not _loop.on_runtime_loop():
            return self._call_sync(scorer, samples, {})  # set up already, and driven from the caller's thread
        return await self._run_here(samples)

    def _dispatch(
        self, samples: list[Sample], executor: Executor, scorer: Callable[..., Any], params: dict[str, Any]
    ) -> list[Score]:
        """A reward that sends its own heavy parts to the executor (``uses_pool``): called here with it."""
        try:
            results = list(scorer(list(samples), pool=executor, **params))
        except Exception as exc:
            return [error_from(exc)] * len(samples)
        if len(results) != len(samples):
            return [Score.error(f"returned {len(results)} results for {len(samples)} samples")] * len(samples)
        return [coerce_result(r) for r in results]

    def _in_executor(self, samples: list[Sample], executor: Executor) -> list[Score]:
        ref = (self.name, self.fn.__module__, dict(self.params))
        warm = {"warm": (self.fn.__module__,)} if _takes_warm(executor) else {}
        if self.batched:
            timeout = None if self.timeout is None else self.timeout * len(samples)
            (result,) = executor.map(_run_in_worker, [(ref, samples)], timeout=timeout, **warm)
            if result.status is Status.OK:
                return list(result.value)
            return [failure_score(result)] * len(samples)
        results = executor.map(_run_in_worker, [(ref, [s]) for s in samples], timeout=self.timeout, **warm)
        return [r.value[0] if r.status is Status.OK else failure_score(r) for r in results]


def _takes_warm(executor: Any) -> bool:
    try:
        return "warm" in inspect.signature(executor.map).parameters
    except (TypeError, ValueError):
        return False


class _suppress_stop:
    """Ends a factory's generator: it must stop after its one ``yield``."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind in (StopIteration, StopAsyncIteration)


def lookup_function(name: str, module: str) -> FunctionReward[Any]:
    """Find a function reward by name, importing its defining module if needed (also in a worker)."""
    from rewardlab._registry import REWARDS

    found = REWARDS.find(name)
    if found is None:
        if module in ("__main__", "__mp_main__"):
            from rewardlab.runtime._pool import load_parent_main

            load_parent_main()
        else:
            __import__(module)
        found = lookup(name)
    if not isinstance(found, FunctionReward):
        raise TypeError(f"{name!r} is not a function reward")
    return found


_WORKER_REWARDS: dict[str, FunctionReward[Any]] = {}
_WORKER_LOCK = threading.Lock()


def _close_worker_rewards() -> None:
    with _WORKER_LOCK:
        rewards = list(_WORKER_REWARDS.values())
        _WORKER_REWARDS.clear()
    for item in rewards:
        item.close()


def _rebuild_function_reward(
    name: str, module: str, params: dict[str, Any], timeout: float | None
) -> FunctionReward[Any]:
    """Rebuild a reward sent to another process. In a worker, one instance per parameters: set up once per worker."""
    from rewardlab.runtime._pool import in_worker, on_worker_exit

    base = lookup_function(name, module)
    if not (base.factory and in_worker()):
        rebuilt = base(**params)
        rebuilt.timeout = timeout
        return rebuilt
    key = worker_key(name, params, timeout)
    with _WORKER_LOCK:
        found = _WORKER_REWARDS.get(key)
        if found is None:
            if not _WORKER_REWARDS:
                on_worker_exit(_close_worker_rewards)
            found = _WORKER_REWARDS[key] = base(**params)
            found.timeout = timeout
        return found


def worker_key(name: str, params: Mapping[str, Any], timeout: float | None = None) -> str:
    """What identifies a reward's instance in a worker process (see `worker_instance`)."""
    return Signature(name, params).format() + f"|timeout:{timeout!r}"


def worker_instance(name: str, module: str, params: dict[str, Any], key: str | None = None) -> FunctionReward[Any]:
    """The reward ``name(**params)`` as this process keeps it: in a worker, one instance per
    parameters, set up once and closed when the pool stops the worker (a ``uses_pool`` reward's
    worker-side calls score through it, so what it set up serves every call there).

    ``key`` is `worker_key` of the same reward, computed once by the caller: the per-call
    lookup is then one dictionary read.
    """
    if key is not None:
        found = _WORKER_REWARDS.get(key)
        if found is not None:
            return found
    return _rebuild_function_reward(name, module, params, None)


def _run_in_worker(ref: tuple[str, str, dict[str, Any]], samples: list[Sample]) -> list[Score]:
    """Entry point inside a worker process: the reward (set up once per worker) scores in the worker."""
    name, module, params = ref
    return _rebuild_function_reward(name, module, params, None).run_inline(samples)


@overload
def reward(fn: Callable[..., Any], /) -> FunctionReward[Any]: ...


@overload
def reward(
    *,
    name: str | None = None,
    range: tuple[float, float] = (0.0, 1.0),
    batched: bool = False,
    placement: Placement | None = None,
    isolated: bool = False,
    timeout: float | None = None,
    description: str | None = None,
    register: bool = True,
    uses_pool: bool = False,
    factory: Literal[False] = False,
    resident: bool = False,
) -> Callable[[Callable[..., Any]], FunctionReward[Any]]: ...


@overload
def reward(
    *,
    name: str | None = None,
    range: tuple[float, float] = (0.0, 1.0),
    batched: bool = False,
    placement: Placement | None = None,
    isolated: bool = False,
    timeout: float | None = None,
    description: str | None = None,
    register: bool = True,
    uses_pool: bool = False,
    factory: Literal[True],
    resident: bool = False,
) -> Callable[[Callable[P, Any]], FunctionReward[P]]: ...


def reward(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    range: tuple[float, float] = (0.0, 1.0),
    batched: bool = False,
    placement: Placement | None = None,
    isolated: bool = False,
    timeout: float | None = None,
    description: str | None = None,
    register: bool = True,
    uses_pool: bool = False,
    factory: bool = False,
    resident: bool = False,
) -> FunctionReward[Any] | Callable[[Callable[..., Any]], FunctionReward[Any]]:
    """Turn a scoring function, or a factory of one, into a registered, loadable `Reward`.

    **A function** takes one `Sample` (or, with ``batched=True``, a list of
    them) as its first argument; every other argument is a parameter of the
    reward and must have a default or be given at load time. It returns a
    number, a `Score`, a bool, or ``None`` (abstain), and may be ``async``.
    Exceptions become ``error`` scores; they never become ``0.0``.

    **A factory** (``factory=True``) takes only the parameters, sets up what
    scoring needs (a model, a client, a sandbox pool) and returns the scoring
    function (sync or async, per sample or batched as above). It runs once per
    reward object (per worker process for ``process`` placement), on first use.
    To release what it set up, write it as a generator that ``yield``\\ s the
    scoring function and cleans up after the ``yield`` (``async`` generators
    too), or return an object with ``close``/``aclose``; `Reward.close` runs it.

    Args:
        name: Registry name (default: the function's name).
        range: Declared ``(low, high)`` of its values.
        batched: The scoring function takes a list of samples at once.
        placement: ``inline`` (default; in the caller), ``process`` (each sample,
            or each batch when batched, is a call to the executor's worker
            processes with a hard deadline) or ``resident`` (one instance in the
            process that opened it, never sent to a worker).
        isolated: Older spelling of ``placement="process"``.
        timeout: Per-sample deadline in seconds for ``process`` placement (default:
            the executor's, 10 s).
        description: One line for ``rewardlab list`` (default: the docstring's first line).
        register: Add it to the registry so ``rewardlab.load(name)`` finds it.
        uses_pool: The (batched) function dispatches its own heavy work: it runs
            in the caller's process with a ``pool`` keyword argument (an
            `rewardlab.Executor`) and gives that work deadlines through ``pool.map``.
            A factory's scorer takes that ``pool`` keyword instead (``None`` when
            scored in place, `FunctionReward.run_inline`); work it sends to workers
            can score there through `worker_instance`, set up once per worker.
        factory: The decorated function is a factory (see above).
        resident: Older spelling of ``placement="resident"``.

    Example:
        >>> @reward(name="shouty")
        ... def shouty(sample, *, bonus: float = 1.0) -> float:
        ...     return bonus if sample.completion_text.isupper() else 0.0
        >>> shouty(bonus=2.0).score([{"completion": "HI"}])[0].value
        2.0
    """

    def wrap(func: Callable[..., Any]) -> FunctionReward[Any]:
        sig = inspect.signature(func)
        try:
            hints = typing.get_type_hints(func)
        except Exception:
            hints = {}
        items = list(sig.parameters.values())
        if not factory:
            if not items or items[0].kind not in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            ):
                raise TypeError(f"{func.__qualname__}: a reward function takes the sample(s) as its first argument")
            items = items[1:]
        if uses_pool and not batched:
            raise TypeError(f"{func.__qualname__}: uses_pool=True needs batched=True")
        where: Placement = placement or (
            "resident" if resident else "process" if isolated or uses_pool else "inline"
        )
        if where not in PLACEMENTS:
            raise ValueError(f"{func.__qualname__}: placement must be one of {', '.join(PLACEMENTS)}, got {where!r}")
        if uses_pool and where != "process":
            raise TypeError(f"{func.__qualname__}: uses_pool=True means placement='process'")
        declared = {
            p.name: _Param(p.name, p.default, hints.get(p.name, p.annotation))
            for p in items
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            and not (uses_pool and p.name == "pool")
        }
        defaults = {p.name: p.default for p in declared.values() if not p.required}
        doc = inspect.getdoc(func) or ""
        built: FunctionReward[Any] = FunctionReward(
            func,
            name=name or func.__name__,
            params=defaults,
            declared=declared,
            range=range,
            description=description or (doc.splitlines()[0] if doc else ""),
            batched=batched,
            placement=where,
            timeout=timeout,
            uses_pool=uses_pool,
            factory=factory,
        )
        built.__doc__ = func.__doc__
        if register:
            _register(built)
        return built

    if fn is not None:
        return wrap(fn)
    return wrap


_register = register

__all__ = [
    "PLACEMENTS",
    "FunctionReward",
    "Placement",
    "Reward",
    "RewardParamError",
    "coerce_param",
    "coerce_result",
    "error_from",
    "failure_score",
    "format_param",
    "load_single",
    "log_setup_event",
    "own_instance",
    "reward",
    "worker_instance",
    "worker_key",
]


def own_instance(base: Reward, params: Mapping[str, Any] | None = None) -> Reward:
    """``base`` with ``params`` as a new owner gets it from the registry.

    A reward that sets something up (a factory: a model, a client, connections)
    is always a fresh object, so what one owner sets up and closes is never the
    registry's shared instance, used by others; other rewards are returned as
    they are when no parameter changes.
    """
    if params or getattr(base, "factory", False):
        return base(**(params or {}))
    return base


def load_single(name_or_signature: str, params: Mapping[str, Any] | None = None) -> Reward:
    """A registered reward by name or by its signature (``name|key:value|...``), with ``params`` on top.

    Composite signatures and spec files are `rewardlab.load`'s business.
    """
    text = name_or_signature.strip()
    if "|" not in text:
        return own_instance(lookup(text), params)
    signature = Signature.parse(text)
    base = lookup(signature.name)
    raw: dict[str, Any] = dict(signature.params)
    declared = getattr(base, "declared", None) or {}  # a FunctionReward's, or a Reward subclass's own table
    for key in ("backend", "model"):  # run fields a reward may also take as a parameter
        value = getattr(signature, key)
        if value is not None and key in declared:
            raw[key] = value
    raw.update(params or {})
    return own_instance(base, raw)
