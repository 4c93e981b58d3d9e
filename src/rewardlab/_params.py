"""Blocks of reward parameters that several rewards share, declared once as typed, validated groups.

A `ParamGroup` is a frozen dataclass listing parameters with their types, defaults and bounds
(``batch_tokens`` at least 1, a ``timeout`` above 0, as `annotated_types` constraints);
pydantic validates it, imported on first use so that loading a reward stays light and worker
processes do not pay for it. `with_params` puts a group's fields into a reward function's
signature where the function names the group, so the reward still takes them one by one
(``load("rm", device="cpu")``, ``-p device=cpu``, the same signature string as before) while
the function receives one validated group object per name. A value out of bounds is refused
when the reward is loaded, by a `RewardParamError` that names the parameter, not when the
first batch runs.

Example:
    >>> from rewardlab import reward
    >>> from rewardlab.models._params import ModelLoading
    >>> @reward(name="doc_budget", register=False)
    ... @with_params(loading=ModelLoading)
    ... def doc_budget(sample, *, loading: ModelLoading) -> float:
    ...     return float(loading.batch_tokens or 0)
    >>> doc_budget(batch_tokens=64).score([{"completion": "x"}])[0].value
    64.0
    >>> doc_budget(batch_tokens=0)
    Traceback (most recent call last):
    ...
    rewardlab._reward.RewardParamError: parameter 'batch_tokens': Input should be greater than or equal to 1 (got 0)
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rewardlab._reward import RewardParamError

F = TypeVar("F", bound=Callable[..., Any])
G = TypeVar("G", bound="ParamGroup")

CHECK_ATTRIBUTE = "__reward_params_check__"
"""Attribute of a function made by `with_params`: checks a full parameter mapping (run by `FunctionReward`)."""


@functools.cache
def _adapter(group: type) -> Any:
    from pydantic import TypeAdapter  # on first use: loading a reward by name never needs it

    return TypeAdapter(group)


class ParamGroup:
    """Base of a block of reward parameters; subclasses are frozen dataclasses."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The group's parameters, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def of(cls: type[G], values: Mapping[str, Any]) -> G:
        """The group from a reward's parameters (the others are ignored), validated by pydantic.

        Raises:
            RewardParamError: a value of the wrong type or out of bounds, naming the parameter.
        """
        from pydantic import ValidationError

        given = {k: v for k, v in values.items() if k in cls.names()}
        try:
            validated: G = _adapter(typing.cast(type, cls)).validate_python(given)
            return validated
        except ValidationError as exc:
            problems = [
                f"parameter {'.'.join(map(str, e['loc']))!r}: {e['msg']} (got {e['input']!r})" for e in exc.errors()
            ]
            raise RewardParamError("; ".join(problems)) from None

    def kwargs(self) -> dict[str, Any]:
        """The parameters as keyword arguments."""
        return {name: getattr(self, name) for name in self.names()}


def with_params(**groups: type[ParamGroup]) -> Callable[[F], F]:
    """Expand parameter groups into a reward function's keyword parameters.

    Each keyword ``NAME=Group`` names a parameter of the decorated function annotated with that
    group; in the signature `reward` reads, it is replaced by the group's fields, in order, at
    its place. The function is called with one validated ``Group`` per name.
    """

    def wrap(func: F) -> F:
        signature = inspect.signature(func)
        hints = typing.get_type_hints(func, include_extras=True)
        missing = set(groups) - set(signature.parameters)
        if missing:
            raise TypeError(f"{func.__qualname__}: no parameter {', '.join(sorted(missing))} to expand")
        owner: dict[str, str] = {}
        parameters: list[inspect.Parameter] = []
        for param in signature.parameters.values():
            group = groups.get(param.name)
            if group is None:
                parameters.append(param.replace(annotation=hints.get(param.name, param.annotation)))
                continue
            types = typing.get_type_hints(group, include_extras=True)
            for field in dataclasses.fields(group):  # type: ignore[arg-type]
                if field.name in owner or field.name in signature.parameters:
                    raise TypeError(f"{func.__qualname__}: parameter {field.name!r} is declared twice")
                owner[field.name] = param.name
                default = inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
                parameters.append(
                    inspect.Parameter(
                        field.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=types[field.name]
                    )
                )

        def split(kwargs: dict[str, Any]) -> dict[str, Any]:
            own = {k: v for k, v in kwargs.items() if k not in owner}
            for name, group in groups.items():
                own[name] = group.of(kwargs)
            return own

        def check(values: Mapping[str, Any]) -> None:
            for group in groups.values():
                group.of(values)

        wrapper: Callable[..., Any]
        if inspect.isgeneratorfunction(func):

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return (yield from func(*args, **split(kwargs)))

        elif inspect.isasyncgenfunction(func):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                async for item in func(*args, **split(kwargs)):
                    yield item

        elif inspect.iscoroutinefunction(func):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                return await func(*args, **split(kwargs))

        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return func(*args, **split(kwargs))

        functools.update_wrapper(wrapper, func)
        setattr(wrapper, "__signature__", signature.replace(parameters=parameters))  # noqa: B010
        annotations = {p.name: p.annotation for p in parameters if p.annotation is not inspect.Parameter.empty}
        if "return" in hints:
            annotations["return"] = hints["return"]
        wrapper.__annotations__ = annotations
        setattr(wrapper, CHECK_ATTRIBUTE, check)
        return typing.cast(F, wrapper)

    return wrap


__all__ = ["CHECK_ATTRIBUTE", "ParamGroup", "with_params"]
