"""`ModelReward`: a reward that owns a loaded model, set up once and shared by threads.

A model reward is written as a *scorer class*: its keyword-only ``__init__``
parameters are the reward's parameters and load the model (the setup step),
``score(samples)`` scores one batch, ``close()`` releases the model. `ModelReward`
wraps such a class as an ordinary `Reward`: built lazily on the first batch (so
``rewardlab.load`` and ``rewardlab list`` never load a model), once per reward
object whatever the number of threads, and released by `ModelReward.close`.
It is ``resident``: never pickled to a worker process (which would load the
model again per worker).
"""

from __future__ import annotations

import inspect
import math
import threading
import typing
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from rewardlab._reward import Reward, RewardParamError, coerce_param
from rewardlab._types import Sample, Score


class Scorer(Protocol):
    def score(self, samples: list[Sample]) -> list[Score]: ...

    def close(self) -> None: ...


class _Holder:
    """The built scorer of one reward object and its variants with the same load parameters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scorer: Scorer | None = None
        self.loads = 0


class ModelReward(Reward):
    """A reward backed by a model that is loaded once and released by `close`.

    Attributes:
        placement: Always ``resident``: one loaded instance in the process that opened it.
    """

    placement = "resident"

    def __init__(
        self,
        name: str,
        scorer_class: Callable[..., Scorer],
        params: Mapping[str, Any],
        *,
        description: str,
        value_range: Callable[[Mapping[str, Any]], tuple[float, float]],
        holder: _Holder | None = None,
        doc: str = "",
    ) -> None:
        super().__init__(name, params, range=value_range(params), description=description)
        self.__doc__ = doc or type(self).__doc__
        self._scorer_class = scorer_class
        self._value_range = value_range
        self._declared = _declared_params(scorer_class)
        self._holder = holder or _Holder()

    @classmethod
    def define(
        cls,
        name: str,
        scorer_class: Callable[..., Scorer],
        *,
        description: str,
        value_range: Callable[[Mapping[str, Any]], tuple[float, float]],
        doc: str = "",
    ) -> ModelReward:
        """The registered, unloaded reward with the scorer class's default parameters."""
        defaults = {
            k: p.default for k, p in _declared_params(scorer_class).items() if p.default is not inspect.Parameter.empty
        }
        return cls(name, scorer_class, defaults, description=description, value_range=value_range, doc=doc)

    # -- parameters ------------------------------------------------------------
    def __call__(self, **params: Any) -> ModelReward:
        merged = dict(self.params)
        for key, value in params.items():
            if key not in self._declared:
                known = ", ".join(self._declared)
                raise RewardParamError(f"reward {self.name!r} has no parameter {key!r} (parameters: {known})")
            merged[key] = coerce_param(key, value, self._declared[key].annotation)
        return ModelReward(
            self.name,
            self._scorer_class,
            merged,
            description=self.description,
            value_range=self._value_range,
            doc=self.__doc__ or "",
        )

    def _check_required(self) -> None:
        missing = [k for k, p in self._declared.items() if p.default is inspect.Parameter.empty and k not in self.params]
        if missing:
            raise RewardParamError(f"reward {self.name!r} needs parameter(s): {', '.join(missing)}")

    # -- setup, scoring, close ---------------------------------------------------
    def setup(self) -> None:
        """Load the model now (otherwise the first batch does). Raises what loading raises."""
        self._scorer()

    def _scorer(self) -> Scorer:
        self._check_required()
        holder = self._holder
        with holder.lock:
            if holder.scorer is None:
                holder.scorer = self._scorer_class(**self.params)
                holder.loads += 1
            return holder.scorer

    @property
    def loads(self) -> int:
        """How many times this reward object has loaded its model (1 after any number of batches)."""
        return self._holder.loads

    @property
    def has_resources(self) -> bool:
        """True while the model is loaded."""
        return self._holder.scorer is not None

    def _score(self, samples: list[Sample], pool: Any) -> list[Score]:
        try:
            scorer = self._scorer()
        except RewardParamError:
            raise
        except Exception as exc:
            reason = f"setup failed: {type(exc).__name__}: {exc}"[:500]
            return [Score.error(reason)] * len(samples)
        try:
            return scorer.score(samples)
        except Exception as exc:
            return [Score.error(f"{type(exc).__name__}: {exc}"[:500])] * len(samples)

    def close(self) -> None:
        """Release the model; the next batch loads it again."""
        holder = self._holder
        with holder.lock:
            scorer, holder.scorer = holder.scorer, None
        if scorer is not None:
            scorer.close()

    def __enter__(self) -> ModelReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Any:
        raise TypeError(
            f"reward {self.name!r} is resident: it holds a model in the process that opened it and is never "
            "sent to a worker process (score it in this process; it batches on its own)"
        )


class _Declared(typing.NamedTuple):
    default: Any
    annotation: Any


def _declared_params(scorer_class: Callable[..., Any]) -> dict[str, _Declared]:
    init = scorer_class.__init__ if isinstance(scorer_class, type) else scorer_class
    signature = inspect.signature(init)
    try:
        hints = typing.get_type_hints(init)
    except Exception:
        hints = {}
    return {
        p.name: _Declared(p.default, hints.get(p.name, p.annotation))
        for p in signature.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


UNBOUNDED = (-math.inf, math.inf)

__all__ = ["ModelReward", "Scorer", "UNBOUNDED"]
