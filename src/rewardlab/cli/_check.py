"""``rewardlab check``: validate reward specs without scoring anything."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from rewardlab.cli._common import err


def _describe(reward: object) -> str:
    from rewardlab.compose import CompositeReward

    if isinstance(reward, CompositeReward):
        parts = ", ".join(reward.labels)
        return f"{reward.name} of {len(reward.labels)} ({parts})"
    return str(getattr(reward, "name", reward))


def check(
    specs: list[Path] = typer.Argument(..., help="Spec files (.toml, .yaml, .yml, .json)."),
    show_signature: bool = typer.Option(False, "--signature", help="Print each valid spec's signature."),
) -> None:
    """Validate reward specs: every problem of every file, each with file, line and key. Nothing is scored."""
    from rewardlab.compose import SpecError, load_spec_file

    failed = 0
    for path in specs:
        try:
            reward = load_spec_file(path)
        except SpecError as exc:
            failed += 1
            for problem in exc.problems:
                err.print(f"[red]{escape(str(problem))}[/]", soft_wrap=True, highlight=False)
            continue
        summary = escape(f"{path}: {_describe(reward)}; placement: {reward.placement}")
        err.print(f"[green]ok[/] {summary}", soft_wrap=True)
        if show_signature:
            typer.echo(reward.signature)
    if failed:
        err.print(f"{failed} of {len(specs)} spec(s) have problems")
        raise typer.Exit(1)
