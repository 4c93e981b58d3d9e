"""The executor protocol: where ``process``-placed work runs, with a deadline per call.

The runtime's `rewardlab.runtime.WorkerPool` implements it (local worker
processes, killed from outside at their deadline); a Ray-backed executor can
implement the same two members. Rewards never create processes themselves:
they are handed an executor by whoever owns it (a score job, an audit, a
server's lifespan, an actor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rewardlab._types import Status


@dataclass(frozen=True, slots=True)
class CallResult:
    """What came back from one call: a value, or why there is none.

    ``status`` is ``ok`` (``value`` holds the return value), ``timeout`` (the
    deadline passed and the worker was killed) or ``error`` (the function
    raised, ran out of memory, or its worker died).
    """

    status: Status
    value: Any = None
    reason: str = ""
    elapsed_s: float = 0.0


@runtime_checkable
class Executor(Protocol):
    """Runs picklable calls elsewhere, each with a hard deadline.

    ``map(fn, items, timeout=...)`` calls ``fn(*item)`` for every item and
    returns one `CallResult` per item, in order; it never raises because of an
    item. ``size`` is how many calls run at once (batch sizes follow it).
    """

    size: int

    def map(
        self, fn: Callable[..., Any], items: Iterable[tuple[Any, ...]], *, timeout: float | None = None
    ) -> list[CallResult]: ...


__all__ = ["CallResult", "Executor"]
