"""The `Reward` protocol, the `@reward` decorator and signatures."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import threading
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union, overload

from rewardlab._types import Sample, Score, Status, as_sample
from rewardlab._version import __version__

SampleLike = Sample | Mapping[str, Any]


class RewardParamError(TypeError):
    """A reward was given a parameter it does not have, or a value of the wrong type."""


class Reward:
    """Something that scores samples. All rewards share this interface.

    Subclasses implement ``_score``; composite rewards (``rewardlab.compose``)
    and function rewards (``@reward``) are both `Reward` objects, so everything
    that takes a reward takes either.

    Attributes:
        name: Registered name.
        params: Parameters the reward was built with (all of them, defaults included).
        range: Declared ``(low, high)`` of ``ok`` values.
        description: One line saying what it measures.
    """

    name: str
    params: Mapping[str, Any]
    range: tuple[float, float]
    description: str
    isolated: bool = False
    """True when scoring uses the runtime's worker processes (callers then pass a pool, not fork their own)."""

    @property
    def worker_modules(self) -> tuple[str, ...]:
        """Modules a worker process needs to import for this reward (imported ahead by ``WorkerPool.start``)."""
        return ()

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
    def score(self, samples: Iterable[SampleLike], *, pool: Any = None) -> list[Score]:
        """Score a batch of samples (dicts or `Sample`), one `Score` each, in order.

        Never raises because of a sample: a verifier failure is a `Score` with
        status ``error`` or ``timeout``.

        Args:
            samples: The batch.
            pool: A `rewardlab.runtime.WorkerPool` for rewards that run
                isolated; the process-wide default pool when omitted.
        """
        batch = [as_sample(s) for s in samples]
        if not batch:
            return []
        scores = self._score(batch, pool)
        if len(scores) != len(batch):
            raise RuntimeError(f"reward {self.name!r} returned {len(scores)} scores for {len(batch)} samples")
        signature = self.signature
        return [s if s.signature else s.with_signature(signature) for s in scores]

    async def ascore(self, samples: Iterable[SampleLike], *, pool: Any = None) -> list[Score]:
        """`score` without blocking the running event loop."""
        batch = list(samples)
        return await asyncio.to_thread(self.score, batch, pool=pool)

    def score_one(self, sample: SampleLike, *, pool: Any = None) -> Score:
        """Score a single sample."""
        return self.score([sample], pool=pool)[0]

    # -- to implement --------------------------------------------------------
    def _score(self, samples: list[Sample], pool: Any) -> list[Score]:
        raise NotImplementedError

    # -- identity --------------------------------------------------------------
    @property
    def signature(self) -> str:
        """``name|param:value|...|version:X``; `rewardlab.load` accepts it back."""
        parts = [self.name, *(f"{k}:{format_param(v)}" for k, v in self.params.items()), f"version:{__version__}"]
        return "|".join(parts)

    @property
    def spec(self) -> dict[str, Any]:
        """Plain-data description: ``{"reward": name, "params": {...}}``."""
        return {"reward": self.name, "params": dict(self.params)}

    def __call__(self, **params: Any) -> Reward:
        """The same reward with some parameters changed."""
        raise RewardParamError(f"reward {self.name!r} takes no parameters")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<Reward {self.name}({args})>"


def format_param(value: Any) -> str:
    """Render a parameter value for a signature: booleans as yes/no, others compactly."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and not any(c in value for c in '|:\n"') and value.strip() == value and value:
        return value
    # "|" separates signature parts: escaped inside JSON, json.loads reads it back
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).replace("|", "\\u007c")


_TRUE = {"yes", "true", "1", "on", "y"}
_FALSE = {"no", "false", "0", "off", "n"}


def coerce_param(name: str, value: Any, annotation: Any) -> Any:
    """Turn a string (from the command line or a signature) into the annotated type."""
    if not isinstance(value, str) or annotation in (str, inspect.Parameter.empty, Any, "str"):
        return value
    origin = typing.get_origin(annotation)
    # `str | None` (PEP 604) has origin types.UnionType, not typing.Union.
    choices: tuple[Any, ...] = typing.get_args(annotation) if origin in (Union, types.UnionType) else (annotation,)
    if type(None) in choices and value.lower() in ("none", "null"):
        return None
    errors = []
    for choice in choices:
        if choice is type(None):
            continue
        base = typing.get_origin(choice) or choice
        try:
            if base is bool:
                low = value.strip().lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError(f"expected yes/no, got {value!r}")
            if base is int:
                return int(value)
            if base is float:
                return float(value)
            if base is str:
                return value
            if base is typing.Literal:
                if value in typing.get_args(choice):
                    return value
                raise ValueError(f"expected one of {typing.get_args(choice)}, got {value!r}")
            return json.loads(value)
        except (ValueError, json.JSONDecodeError) as exc:
            errors.append(str(exc))
    raise RewardParamError(f"parameter {name!r}: cannot read {value!r} ({'; '.join(errors) or 'unknown type'})")


@dataclass(frozen=True)
class _Param:
    name: str
    default: Any
    annotation: Any

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def _coerce_result(result: Any) -> Score:
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


def _error_from(exc: BaseException) -> Score:
    if isinstance(exc, MemoryError):
        return Score.error("memory limit exceeded (MemoryError)")
    return Score.error(f"{type(exc).__name__}: {exc}"[:500])


def _run_coroutine(coro: Awaitable[Any]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=runner, name="rewardlab-async")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class FunctionReward(Reward):
    """A reward made from a decorated function (see `reward`)."""

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
        isolated: bool,
        timeout: float | None,
        uses_pool: bool = False,
    ) -> None:
        super().__init__(name, params, range=range, description=description)
        self.fn = fn
        self.declared = declared
        self.batched = batched
        self.uses_pool = uses_pool
        self.isolated = isolated or uses_pool
        self._isolated_calls = isolated
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(fn)

    def __call__(self, **params: Any) -> FunctionReward:
        merged = dict(self.params)
        for key, value in params.items():
            if key not in self.declared:
                known = ", ".join(self.declared) or "none"
                raise RewardParamError(f"reward {self.name!r} has no parameter {key!r} (parameters: {known})")
            merged[key] = coerce_param(key, value, self.declared[key].annotation)
        return FunctionReward(
            self.fn,
            name=self.name,
            params=merged,
            declared=self.declared,
            range=self.range,
            description=self.description,
            batched=self.batched,
            isolated=self._isolated_calls,
            timeout=self.timeout,
            uses_pool=self.uses_pool,
        )

    @property
    def worker_modules(self) -> tuple[str, ...]:
        return (self.fn.__module__,) if self.isolated else ()

    def __reduce__(self) -> tuple[Any, ...]:
        # The decorated name refers to this object, not to ``fn``; rebuild by registry lookup.
        return (_rebuild_function_reward, (self.name, self.fn.__module__, dict(self.params), self.timeout))

    def with_timeout(self, timeout: float | None) -> FunctionReward:
        """The same reward with another per-sample deadline.

        Rewards that manage their own deadline declare a ``timeout`` parameter,
        which is set instead.
        """
        if "timeout" in self.declared and timeout is not None:
            return self(timeout=timeout)
        clone = self()
        clone.timeout = timeout
        return clone

    def _check_required(self) -> None:
        missing = [p.name for p in self.declared.values() if p.required and p.name not in self.params]
        if missing:
            raise RewardParamError(f"reward {self.name!r} needs parameter(s): {', '.join(missing)}")

    # -- inline execution ----------------------------------------------------
    def run_inline(self, samples: Iterable[SampleLike]) -> list[Score]:
        """Score in the calling thread, turning exceptions into ``error`` scores.

        Takes what `score` takes: `Sample` objects or plain mappings (``{"completion": ...}``).
        """
        batch = [as_sample(s) for s in samples]
        return self._run_inline(batch)

    def _run_inline(self, samples: list[Sample]) -> list[Score]:
        params = dict(self.params)
        if self.batched:
            try:
                raw = self.fn(list(samples), **params)
                if self.is_async:
                    raw = _run_coroutine(raw)
                results = list(raw)
            except Exception as exc:
                return [_error_from(exc)] * len(samples)
            if len(results) != len(samples):
                return [Score.error(f"batch reward returned {len(results)} results for {len(samples)} samples")] * len(
                    samples
                )
            return [_coerce_result(r) for r in results]
        if self.is_async:
            return _run_coroutine(self._run_async_each(samples, params))
        out = []
        for sample in samples:
            try:
                out.append(_coerce_result(self.fn(sample, **params)))
            except Exception as exc:
                out.append(_error_from(exc))
        return out

    async def _run_async_each(self, samples: Sequence[Sample], params: dict[str, Any]) -> list[Score]:
        async def one(sample: Sample) -> Score:
            try:
                return _coerce_result(await self.fn(sample, **params))
            except Exception as exc:
                return _error_from(exc)

        return list(await asyncio.gather(*(one(s) for s in samples)))

    def _score(self, samples: list[Sample], pool: Any) -> list[Score]:
        self._check_required()
        if not self.isolated:
            return self.run_inline(samples)
        from rewardlab.runtime._pool import default_pool

        pool = pool or default_pool()
        if self.uses_pool:
            try:
                results = list(self.fn(list(samples), pool=pool, **self.params))
            except Exception as exc:
                return [_error_from(exc)] * len(samples)
            if len(results) != len(samples):
                return [Score.error(f"returned {len(results)} results for {len(samples)} samples")] * len(samples)
            return [_coerce_result(r) for r in results]
        ref = (self.name, self.fn.__module__, dict(self.params))
        module = self.fn.__module__
        if self.batched:
            timeout = None if self.timeout is None else self.timeout * len(samples)
            result = pool.call(_run_isolated, ref, samples, timeout=timeout, warm=(module,))
            if result.status is Status.OK:
                return list(result.value)
            return [_failure_score(result)] * len(samples)
        results = pool.map(_run_isolated, [(ref, [s]) for s in samples], timeout=self.timeout, warm=(module,))
        return [r.value[0] if r.status is Status.OK else _failure_score(r) for r in results]

    async def ascore(self, samples: Iterable[SampleLike], *, pool: Any = None) -> list[Score]:
        if self.is_async and not self.isolated:
            batch = [as_sample(s) for s in samples]
            self._check_required()
            if self.batched:
                scores = await asyncio.to_thread(self.run_inline, batch)
            else:
                scores = await self._run_async_each(batch, dict(self.params))
            signature = self.signature
            return [s if s.signature else s.with_signature(signature) for s in scores]
        return await super().ascore(samples, pool=pool)


def _failure_score(result: Any) -> Score:
    if result.status is Status.TIMEOUT:
        return Score.timeout(result.reason)
    return Score.error(result.reason)


def _rebuild_function_reward(name: str, module: str, params: dict[str, Any], timeout: float | None) -> FunctionReward:
    from rewardlab._registry import lookup_in_worker

    rebuilt = lookup_in_worker(name, module)(**params)
    rebuilt.timeout = timeout
    return rebuilt


def _run_isolated(ref: tuple[str, str, dict[str, Any]], samples: list[Sample]) -> list[Score]:
    """Entry point inside a worker process: rebuild the reward and run it inline."""
    from rewardlab._registry import lookup_in_worker

    name, module, params = ref
    reward = lookup_in_worker(name, module)
    return reward(**params).run_inline(samples)


@overload
def reward(fn: Callable[..., Any], /) -> FunctionReward: ...


@overload
def reward(
    *,
    name: str | None = None,
    range: tuple[float, float] = (0.0, 1.0),
    batched: bool = False,
    isolated: bool = False,
    timeout: float | None = None,
    description: str | None = None,
    register: bool = True,
    uses_pool: bool = False,
) -> Callable[[Callable[..., Any]], FunctionReward]: ...


def reward(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    range: tuple[float, float] = (0.0, 1.0),
    batched: bool = False,
    isolated: bool = False,
    timeout: float | None = None,
    description: str | None = None,
    register: bool = True,
    uses_pool: bool = False,
) -> FunctionReward | Callable[[Callable[..., Any]], FunctionReward]:
    """Turn a scoring function into a registered, loadable `Reward`.

    The function takes one `Sample` (or, with ``batched=True``, a list of
    them) as its first argument; every other argument is a parameter of the
    reward and must have a default or be given at load time. It returns a
    number, a `Score`, a bool, or ``None`` (abstain), and may be ``async``.
    Exceptions become ``error`` scores; they never become ``0.0``.

    Args:
        name: Registry name (default: the function's name).
        range: Declared ``(low, high)`` of its values.
        batched: The function scores a list of samples at once.
        isolated: Run in the runtime's worker processes with a hard deadline
            (for CPU-heavy or risky verifiers).
        timeout: Per-sample deadline in seconds for isolated rewards (default:
            the pool's, 10 s).
        description: One line for ``rewardlab list`` (default: the docstring's first line).
        register: Add it to the registry so ``rewardlab.load(name)`` finds it.
        uses_pool: The (batched) function dispatches its own heavy work to the
            runtime: it is called in the caller's process with a ``pool``
            keyword argument (a `rewardlab.runtime.WorkerPool`), and is expected
            to give that work deadlines through ``pool.call``/``pool.map``.

    Example:
        >>> @reward(name="shouty")
        ... def shouty(sample, *, bonus: float = 1.0) -> float:
        ...     return bonus if sample.completion_text.isupper() else 0.0
        >>> shouty(bonus=2.0).score([{"completion": "HI"}])[0].value
        2.0
    """

    def wrap(func: Callable[..., Any]) -> FunctionReward:
        sig = inspect.signature(func)
        try:
            hints = typing.get_type_hints(func)
        except Exception:
            hints = {}
        items = list(sig.parameters.values())
        if not items or items[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise TypeError(f"{func.__qualname__}: a reward function takes the sample(s) as its first argument")
        if uses_pool and not batched:
            raise TypeError(f"{func.__qualname__}: uses_pool=True needs batched=True")
        declared = {
            p.name: _Param(p.name, p.default, hints.get(p.name, p.annotation))
            for p in items[1:]
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            and not (uses_pool and p.name == "pool")
        }
        defaults = {p.name: p.default for p in declared.values() if not p.required}
        doc = inspect.getdoc(func) or ""
        built = FunctionReward(
            func,
            name=name or func.__name__,
            params=defaults,
            declared=declared,
            range=range,
            description=description or (doc.splitlines()[0] if doc else ""),
            batched=batched,
            isolated=isolated,
            timeout=timeout,
            uses_pool=uses_pool,
        )
        built.__doc__ = func.__doc__
        if register:
            from rewardlab._registry import register as _register

            _register(built)
        return built

    if fn is not None:
        return wrap(fn)
    return wrap
