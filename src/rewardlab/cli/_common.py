"""Pieces shared by the commands: loading a reward from options, reporting errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console

from rewardlab._registry import RewardNotFound
from rewardlab._reward import Reward, RewardParamError

err = Console(stderr=True, highlight=False)

# Options several commands share: one spelling, one help text. Defaults stay with each command.
# (Optional[...] rather than "X | None": Typer reads these annotations at run time on Python 3.10.)
CompletionField = Annotated[str, typer.Option("--completion-field", help="Field holding the completion.")]
PromptField = Annotated[str, typer.Option("--prompt-field", help="Field holding the prompt.")]
ReferenceField = Annotated[
    str, typer.Option("--reference-field", help="Field holding the reference answer ('... #### N' uses N).")
]
IdField = Annotated[str, typer.Option("--id-field", help="Field holding a row id.")]
Workers = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--workers", "-w", min=1, help="Worker processes (audit, diff: the CPU count when not given)."),
]
Timeout = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option("--timeout", help="Per-sample deadline in seconds for rewards that run in worker processes."),
]
Params = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--param", "-p", help="Reward parameter key=value (repeatable)."),
]
Progress = Annotated[
    Optional[bool],  # noqa: UP045
    typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal)."),
]
InProcess = Annotated[bool, typer.Option("--in-process", help="Score non-isolated rewards in this process.")]
ReferenceRegex = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--reference-regex", help="Regex whose first group extracts the reference."),
]
RowLimit = Annotated[Optional[int], typer.Option("--limit", min=1, help="Read at most this many rows.")]  # noqa: UP045
JsonReport = Annotated[Optional[Path], typer.Option("--json", help="Write the JSON report here.")]  # noqa: UP045
HtmlReport = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write an HTML report here.")]  # noqa: UP045


def show_progress(progress: bool | None) -> bool:
    """``--progress/--no-progress`` when given, else whether stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


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


def import_plugins(names: list[str]) -> None:
    """Import modules (dotted names or ``.py`` paths) so the rewards they define are registered."""
    import importlib
    import sys
    from pathlib import Path

    for name in names:
        name = name.strip()
        try:
            if name.endswith(".py"):
                path = Path(name).resolve()
                if not path.is_file():
                    raise FileNotFoundError(str(path))
                # On sys.path, so worker processes can import it by name too.
                sys.path.insert(0, str(path.parent))
                importlib.import_module(path.stem)
            else:
                importlib.import_module(name)
        except (ImportError, FileNotFoundError, SyntaxError) as exc:
            fail(f"--import {name}: {type(exc).__name__}: {exc}", 2)


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
