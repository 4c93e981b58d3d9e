"""Shared parameter groups: declared once, expanded into each reward's parameters, checked at load time."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import pytest
from annotated_types import Ge, Gt

import rewardlab
from rewardlab import RewardParamError, reward
from rewardlab._params import ParamGroup, with_params
from rewardlab.compose import check_spec
from rewardlab.models._params import ModelLoading, PromptFit
from rewardlab.rewards.code._code import CodeOptions
from rewardlab.rewards.sql._sql import SQLExecution

# The parameters each reward takes, in order: the groups stand where the function names them.
EXPECTED = {
    "rm": ["model", "head", "label", "sigmoid", "truncate", "max_length", "markup", "template", "device", "dtype",
           "batch_tokens"],
    "dpo_implicit": ["policy", "reference", "beta", "reduce", "truncate", "max_length", "device", "dtype",
                     "batch_tokens"],
    "likelihood": ["model", "reduce", "truncate", "max_length", "device", "dtype", "batch_tokens"],
    "prm": ["model", "mode", "reference", "beta", "step_separator", "step_tag", "positive_token", "negative_token",
            "aggregate", "truncate", "max_length", "device", "dtype", "batch_tokens"],
    "embedding_rm": ["model", "mode", "k", "encoder", "device", "dtype", "batch_tokens"],
    "code": ["credit", "backend", "timeout", "memory_mb", "output_bytes", "io_compare", "entry_point", "workers",
             "reuse"],
    "sql": ["engine", "db_root", "db_field", "db_id_field", "timeout", "max_rows", "max_memory_mb", "float_tol",
            "column_order"],
    "sql_partial_match": ["engine", "db_root", "db_field", "db_id_field", "timeout", "max_rows", "max_memory_mb",
                          "float_tol"],
}  # fmt: skip
GROUPS = {
    "rm": (PromptFit, ModelLoading),
    "dpo_implicit": (PromptFit, ModelLoading),
    "likelihood": (PromptFit, ModelLoading),
    "prm": (PromptFit, ModelLoading),
    "embedding_rm": (ModelLoading,),
    "code": (CodeOptions,),
    "sql": (SQLExecution,),
    "sql_partial_match": (SQLExecution,),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_groups_expand_into_the_rewards_own_parameters(name: str) -> None:
    loaded = rewardlab.load(name)
    assert list(loaded.declared) == EXPECTED[name]  # type: ignore[attr-defined]
    for group in GROUPS[name]:
        for field in group.names():
            default = loaded.declared[field].default  # type: ignore[attr-defined]
            assert default == getattr(group(), field), (name, field)
            if default is not inspect.Parameter.empty:
                assert loaded.params[field] == default


@pytest.mark.parametrize(
    ("name", "params", "wrong"),
    [
        ("rm", {"model": "m", "batch_tokens": 0}, "batch_tokens"),
        ("rm", {"model": "m", "max_length": "-3"}, "max_length"),  # text, as from -p max_length=-3
        ("dpo_implicit", {"policy": "p", "reference": "r", "truncate": "middle"}, "truncate"),
        ("prm", {"model": "m", "device": 3}, "device"),
        ("embedding_rm", {"model": "m", "batch_tokens": -1}, "batch_tokens"),
        ("code", {"timeout": 0}, "timeout"),
        ("code", {"workers": 0}, "workers"),
        ("code", {"memory_mb": "0"}, "memory_mb"),
        ("sql", {"max_memory_mb": 0}, "max_memory_mb"),
        ("sql_partial_match", {"float_tol": -0.5}, "float_tol"),
    ],
)
def test_a_bad_value_is_refused_at_load_naming_the_parameter(name: str, params: dict, wrong: str) -> None:
    with pytest.raises(RewardParamError, match=f"parameter '{wrong}'"):
        rewardlab.load(name, **params)
    base = rewardlab.load(name)
    with pytest.raises(RewardParamError, match=f"parameter '{wrong}'"):
        base(**params)  # rebinding a loaded reward checks the same way


def test_good_values_reach_the_group_typed() -> None:
    loaded = rewardlab.load("code", timeout="2.5", workers="3", reuse="no")
    assert loaded.params["timeout"] == 2.5 and loaded.params["workers"] == 3 and loaded.params["reuse"] is False
    assert CodeOptions.of(loaded.params) == CodeOptions(timeout=2.5, workers=3, reuse=False)
    assert rewardlab.load(loaded.signature).signature == loaded.signature


def test_a_spec_names_the_file_line_and_parameter(tmp_path: Path) -> None:
    spec = tmp_path / "gated.toml"
    spec.write_text('gate = "format"\n\n[then]\nreward = "code"\n[then.params]\ntimeout = 0\nworkers = 2\n')
    (problem,) = check_spec(spec)
    assert str(problem).startswith(f"{spec}:6: then.params.timeout: parameter 'timeout': ")
    assert "greater than 0" in problem.message


@dataclass(frozen=True)
class Window(ParamGroup):
    size: Annotated[int, Ge(1)] = 4
    scale: Annotated[float, Gt(0)] = 1.0
    label: Optional[str] = None  # noqa: UP045


def test_every_kind_of_function_gets_its_group() -> None:
    seen: list[Window] = []

    @reward(name="params_plain", register=False)
    @with_params(window=Window)
    def plain(sample, *, bonus: float = 0.0, window: Window) -> float:
        seen.append(window)
        return window.size * window.scale + bonus

    @reward(name="params_async", register=False)
    @with_params(window=Window)
    async def in_loop(sample, *, window: Window) -> float:
        await asyncio.sleep(0)
        return float(window.size)

    closed: list[bool] = []

    @reward(name="params_factory", factory=True, register=False)
    @with_params(window=Window)
    def made(*, window: Window) -> Iterator[object]:
        try:
            yield lambda sample: window.scale
        finally:
            closed.append(True)

    @reward(name="params_async_factory", factory=True, register=False)
    @with_params(window=Window)
    async def made_async(*, window: Window) -> AsyncIterator[object]:
        yield lambda sample: float(window.size)

    sample = [{"completion": "x"}]
    assert plain(size="3", scale=2, bonus=1).score(sample)[0].value == 7.0
    assert seen[-1] == Window(size=3, scale=2.0)
    assert in_loop(size=5).score(sample)[0].value == 5.0
    factory = made(scale=0.5)
    assert factory.score(sample)[0].value == 0.5
    factory.close()
    assert closed == [True]
    assert made_async(size=9).score(sample)[0].value == 9.0
    assert list(plain.declared) == ["bonus", "size", "scale", "label"]  # type: ignore[attr-defined]
    with pytest.raises(RewardParamError, match="parameter 'scale'"):
        plain(scale=-1)


def test_a_parameter_declared_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="'size' is declared twice"):

        @with_params(window=Window)
        def clash(sample, *, size: int = 1, window: Window) -> float:
            return 0.0

    with pytest.raises(TypeError, match="no parameter other"):

        @with_params(other=Window)
        def missing(sample, *, window: Window) -> float:
            return 0.0
