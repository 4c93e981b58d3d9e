"""``rewardlab advantages``: add group advantages to a scored file."""

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


def advantages(
    input: Path = typer.Argument(..., help="Scored rows: .jsonl or .parquet."),
    group_by: str = typer.Option(..., "--group-by", "-g", help="Field identifying the group (e.g. prompt)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output file (.jsonl or .parquet)."),
    estimator: str = typer.Option("grpo", "--estimator", "-e", help="grpo, drgrpo, rloo, bnpo or normalize_then_sum."),
    reward_field: list[str] = typer.Option(
        None, "--reward-field", "-f", help="Reward column (repeat for normalize_then_sum; dots reach nested values)."
    ),
    status_field: str = typer.Option("reward_status", help="Rows whose status here is not 'ok' are excluded."),
    output_field: str = typer.Option("advantage", help="Name of the added column."),
    eps: float = typer.Option(None, help="Added to std (grpo, normalize_then_sum); default 1e-6."),
    weight: list[float] = typer.Option(None, "--weight", "-w", help="Per-reward weight for normalize_then_sum."),
    batch_normalize: bool = typer.Option(True, help="normalize_then_sum: standardise the sums over the batch."),
    min_value: float = typer.Option(0.0, help="bnpo: lowest possible reward."),
    max_value: float = typer.Option(1.0, help="bnpo: highest possible reward."),
    progress: Progress = None,
) -> None:
    """Add an advantage per row, computed within groups of rows that share GROUP_BY.

    Unusable rewards (null, NaN, non-ok status) are excluded from their group and get a null advantage.
    """
    from rewardlab.advantages import DEFAULT_EPS, advantages_file

    show = show_progress(progress)
    bar = None
    if show:
        from rich.progress import Progress

        bar = Progress(transient=True)
        task = bar.add_task("writing", total=None)
        bar.start()
    try:
        summary = advantages_file(
            input,
            output,
            group_by=group_by,
            estimator=estimator,
            reward_fields=reward_field or ["reward"],
            status_field=status_field or None,
            output_field=output_field,
            eps=DEFAULT_EPS if eps is None else eps,
            weights=weight or None,
            batch_normalize=batch_normalize,
            min_value=min_value,
            max_value=max_value,
            on_row=(lambda n: bar.advance(task, n)) if bar is not None else None,
        )
    except DataError as exc:
        fail(str(exc))
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc), 2)
    finally:
        if bar is not None:
            bar.stop()
    excluded = ", ".join(f"{k}: {v}" for k, v in sorted(summary.excluded.items())) or "none"
    err.print(
        f"{summary.rows} rows in {summary.groups} groups; {summary.with_advantage} with an advantage "
        f"({estimator}); excluded: {excluded} -> {output}",
        soft_wrap=True,
    )
