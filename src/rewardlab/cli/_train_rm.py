"""``rewardlab train-rm``: train an embedding reward model from preference pairs."""

from __future__ import annotations

from pathlib import Path

import typer

from rewardlab._io import DataError
from rewardlab.cli._common import (
    Progress,
    err,
    fail,
    show_progress,
)


def train_rm(
    pairs: Path = typer.Argument(
        ..., help="Pairs: .jsonl(.gz) with prompt/chosen/rejected or HH transcripts, or LLMBar .json."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write the reward model to."),
    ensemble: int = typer.Option(4, "--ensemble", "-k", min=1, help="Number of Bradley-Terry heads."),
    holdout: float = typer.Option(0.1, min=0.0, max=0.9, help="Fraction of pairs held out for the printed accuracy."),
    seed: int = typer.Option(0, help="Seed of the split, the bootstrap resamples and the initialisations."),
    encoder: str = typer.Option(None, help="Sentence-transformers folder (default: the packaged all-MiniLM-L6-v2)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, mps."),
    progress: Progress = None,
) -> None:
    """Train an embedding RM (`embedding_rm`) on PAIRS and print its held-out pairwise accuracy."""
    from rewardlab.models import read_pairs, train_embedding_rm
    from rewardlab.rewards._optional import MissingExtra

    try:
        loaded = read_pairs(pairs)
    except DataError as exc:
        fail(str(exc))
    except FileNotFoundError as exc:
        fail(str(exc), 2)
    err.print(f"{len(loaded)} pairs from {pairs}")
    show = show_progress(progress)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show,
    )
    tasks: dict[str, TaskID] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done)

    try:
        with bar:
            result = train_embedding_rm(
                loaded,
                output,
                ensemble=ensemble,
                holdout=holdout,
                seed=seed,
                encoder=encoder,
                device=device,
                progress=report,
            )
    except MissingExtra as exc:
        fail(str(exc))
    except (ValueError, OSError) as exc:
        fail(str(exc), 2)
    if result.heldout_accuracy is None:
        typer.echo(
            f"trained {result.ensemble} heads on {result.train_pairs} pairs (no held-out split); "
            f"train accuracy {result.train_accuracy:.3f} -> {output}"
        )
        return
    typer.echo(
        f"held-out accuracy {result.heldout_accuracy:.3f} on {result.heldout_pairs} pairs "
        f"(prefer-longer baseline {result.heldout_length_baseline:.3f}; train accuracy {result.train_accuracy:.3f}; "
        f"{result.ensemble} heads on {result.train_pairs} pairs) -> {output}"
    )
