"""``rewardlab score``: the main job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from rewardlab._io import DataError, iter_raw_rows, parse_row
from rewardlab._job import JobSummary, score_file
from rewardlab._reward import Reward
from rewardlab._types import FieldMap
from rewardlab.cli._common import (
    CompletionField,
    IdField,
    Params,
    Progress,
    PromptField,
    ReferenceField,
    Timeout,
    Workers,
    err,
    fail,
    load_reward,
)


def note_unmet_fields(path: Path, reward: Reward) -> None:
    """Say so on stderr when the first row lacks every field a reward needs (all its rows would abstain).

    Only the first row is read: a file whose rows take different shapes is scored
    as it is, and a malformed first row is left to the job, which names it.
    """
    try:
        raw = next(iter(iter_raw_rows(path)), None)
        row = parse_row(str(path), raw) if raw is not None else None
    except (OSError, DataError, ValueError, ImportError):
        return
    if row is None:
        return
    for name, fields in reward.unmet_task_fields(row).items():
        wanted = " or ".join(f"{field!r}" + (f" (parameter {param})" if param else "") for field, param in fields)
        line = raw.line if raw is not None else 1
        message = f"{path}:{line}: reward {name!r} reads {wanted}; the row has none, so it will abstain on such rows"
        err.print(f"[yellow]note:[/] {escape(message)}", soft_wrap=True, highlight=False)


def score(
    input: Path = typer.Argument(..., help="Input rows: .jsonl or .parquet."),
    reward: str = typer.Option(..., "--reward", "-r", help="Reward name, signature, or spec file."),
    output: Path = typer.Option(..., "--output", "-o", help="Output file (.jsonl or .parquet)."),
    param: Params = None,
    completion_field: CompletionField = "completion",
    prompt_field: PromptField = "prompt",
    reference_field: ReferenceField = "reference",
    id_field: IdField = "id",
    output_field: str = typer.Option("reward", help="Name of the added reward column (and prefix of the others)."),
    workers: Workers = 1,
    timeout: Timeout = None,
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run into the same output."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Skip malformed rows instead of stopping."),
    bad_rows: Path = typer.Option(None, help="Where skipped rows are recorded (default OUTPUT.bad.jsonl)."),
    progress: Progress = None,
    batch_size: int = typer.Option(
        None, min=1, help="Rows per batch (default 2048; 128 per worker for isolated rewards)."
    ),
    group_by: str = typer.Option(
        None, help="Keep rows sharing this field (contiguous in the file) in one batch, for group rewards."
    ),
    limit: int = typer.Option(None, min=1, help="Score only the first N input rows."),
    use_ray: bool = typer.Option(
        False,
        "--ray",
        help="Run the job on Ray Data: an actor pool scores batches (each actor builds the reward once).",
    ),
    ray_address: str = typer.Option(
        None, help="Ray cluster to join: 'auto', ray://host:10001, ... (default: a local Ray)."
    ),
    actors: int = typer.Option(None, min=1, help="Ray actors, with --ray (default 2)."),
    actor_cpus: float = typer.Option(
        None, min=0.0, help="CPUs each Ray actor asks for, with --ray (default 0.5; fractions are fine)."
    ),
    actor_gpus: float = typer.Option(None, min=0.0, help="GPUs each Ray actor asks for, with --ray (default 0)."),
) -> None:
    """Score every row of INPUT with a reward and write OUTPUT, same rows in the same order."""
    loaded = load_reward(reward, param, timeout)
    note_unmet_fields(input, loaded)
    fields = FieldMap(completion=completion_field, prompt=prompt_field, reference=reference_field, id=id_field)
    if not use_ray:
        for given, name in ((ray_address, "--ray-address"), (actors, "--actors"), (actor_cpus, "--actor-cpus")):
            if given is not None:
                fail(f"{name} needs --ray", 2)
        if actor_gpus is not None:
            fail("--actor-gpus needs --ray", 2)
    elif workers not in (None, 1):
        fail("--workers is for the local job; with --ray use --actors (and --actor-cpus)", 2)
    options = dict(
        fields=fields,
        resume=resume,
        skip_bad_rows=skip_bad_rows,
        bad_rows_path=bad_rows,
        output_field=output_field,
        progress=progress,
        timeout=timeout,
        chunk_rows=batch_size,
        group_by=group_by,
        limit=limit,
    )
    try:
        if use_ray:
            summary = _score_on_ray(input, output, loaded, options, ray_address, actors, actor_cpus, actor_gpus)
        else:
            summary = score_file(input, output, loaded, workers=workers or 1, **options)
    except DataError as exc:
        fail(f"{exc}\nrows before it were written to {output}; fix the row and re-run with --resume to continue")
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc), 2)
    _report(summary, output)


def _score_on_ray(
    input: Path,
    output: Path,
    reward: Any,
    options: dict[str, Any],
    address: str | None,
    actors: int | None,
    actor_cpus: float | None,
    actor_gpus: float | None,
) -> JobSummary:
    import logging

    from rewardlab.ray import score_file_on_ray  # imports Ray itself only when called
    from rewardlab.ray._data import DEFAULT_ACTOR_CPUS

    # Ray Data announces each execution plan at INFO; the job's own bar and summary say what happens
    logging.getLogger("ray.data").setLevel(logging.WARNING)

    try:
        return score_file_on_ray(
            input,
            output,
            reward,
            actors=2 if actors is None else actors,
            actor_cpus=DEFAULT_ACTOR_CPUS if actor_cpus is None else actor_cpus,
            actor_gpus=actor_gpus or 0.0,
            address=address,
            **options,
        )
    except RuntimeError as exc:  # Ray missing, or the cluster cannot be reached
        fail(str(exc), 2)


def _report(summary: JobSummary, output: Path) -> None:
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items())) or "none"
    mean = "n/a" if summary.mean is None else f"{summary.mean:.4f}"
    resumed = f" (resumed after {summary.resumed_from})" if summary.resumed_from else ""
    skipped = f", {summary.bad_rows} bad rows skipped" if summary.bad_rows else ""
    rate = summary.rows / summary.seconds if summary.seconds > 0 else 0.0
    err.print(
        f"scored {summary.rows} rows{resumed} in {summary.seconds:.1f}s ({rate:,.0f} rows/s): "
        f"{statuses}; mean {mean}{skipped} -> {output}"
    )
    if summary.usage:
        u = summary.usage
        cost = f", cost {u['judge_cost']:.4f}" if "judge_cost" in u else ""
        err.print(
            f"judge: {u['judge_requests']:.0f} requests, {u['judge_cached']:.0f} cached, "
            f"{u['judge_prompt_tokens']:.0f} prompt + {u['judge_completion_tokens']:.0f} completion tokens{cost}"
        )
