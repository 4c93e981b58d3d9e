"""Pieces shared by the commands: loading a reward from options, reporting errors."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console

from rewardlab._registry import RewardNotFound
from rewardlab._reward import Reward, RewardParamError

err = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """``key=value`` strings to a dict; values stay strings and are typed by the reward."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"-p {pair!r}: expected key=value", 2)
        params[key.strip()] = value
    return params


def load_reward(name_or_spec: str, pairs: list[str] | None = None, timeout: float | None = None) -> Reward:
    from rewardlab import load

    try:
        reward = load(name_or_spec, **parse_params(pairs))
    except (RewardNotFound, RewardParamError, FileNotFoundError) as exc:
        fail(str(exc), 2)
    except ValueError as exc:
        fail(str(exc), 2)
    if timeout is not None:
        with_timeout = getattr(reward, "with_timeout", None)
        if with_timeout is not None:
            reward = with_timeout(timeout)
    return reward
