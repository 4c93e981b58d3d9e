"""``rewardlab bench`` and ``rewardlab select``: benchmark a reward, pick among candidates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from rewardlab.cli._common import (
    CompletionField,
    HtmlReport,
    JsonReport,
    Params,
    Progress,
    PromptField,
    Timeout,
    Workers,
    err,
    fail,
    load_reward,
    show_progress,
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def bench_command(
    data: Path = typer.Argument(None, help="Benchmark data: a .json/.jsonl(.gz) file or a folder of them."),
    reward: str = typer.Option(None, "--reward", "-r", help="Reward name, signature, spec file or URL."),
    param: Params = None,
    data_format: str = typer.Option(
        "auto", "--format", "-f", help="pairs, llmbar, rmbench, bon, rewardmath, judgebench (default: detect)."
    ),
    scores: Path = typer.Option(
        None,
        "--scores",
        help="Precomputed scores instead of a reward: scores JSONL, RewardMATH results, or JudgeBench outputs.",
    ),
    metric: str = typer.Option(None, "--metric", "-m", help="Metric (default: the format's own)."),
    steps: str = typer.Option(
        None,
        help="Combine step-score lists of --scores: min, max, prod, geometric_mean, mean, mean_logit, mean_odd, last.",
    ),
    html: HtmlReport = None,
    json_out: JsonReport = None,
    resamples: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for the 95% interval."),
    seed: int = typer.Option(0, help="Seed of the bootstrap and the random baseline."),
    workers: Workers = None,
    limit: int = typer.Option(None, min=1, help="Only the first N items."),
    timeout: Timeout = None,
    progress: Progress = None,
) -> None:
    """Benchmark a reward on preference data with the benchmark's official metric."""
    from rewardlab.bench._data import DEFAULT_METRIC, BenchDataError, load_bench_data, load_score_items
    from rewardlab.bench._metrics import METRICS
    from rewardlab.bench._report import render_bench_html
    from rewardlab.bench._run import bench_items, run_bench

    if metric is not None and metric not in METRICS:
        fail(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}", 2)
    show = show_progress(progress)
    try:
        if scores is not None:
            if metric is None:
                fail("--scores needs --metric (" + ", ".join(METRICS) + ")", 2)
            used, items = load_score_items(scores, steps=steps)
            items = items[:limit] if limit else items
            result = bench_items(
                items, metric=metric, data_format=used, reward=f"scores:{scores.name}", resamples=resamples, seed=seed
            )
        else:
            if data is None or reward is None:
                fail("give DATA and --reward, or --scores FILE --metric M", 2)
            used, records = load_bench_data(data, data_format)
            records = records[:limit] if limit else records
            loaded = load_reward(reward, param, timeout)
            result = run_bench(
                records,
                loaded,
                data_format=used,
                metric=metric or DEFAULT_METRIC[used],
                workers=workers,
                progress=show,
                resamples=resamples,
                seed=seed,
            )
    except BenchDataError as exc:
        fail(str(exc), 2)
    except ValueError as exc:
        fail(str(exc), 2)
    document = result.to_dict()
    if json_out is not None:
        _write(json_out, json.dumps(document, indent=2, default=str) + "\n")
    if html is not None:
        _write(html, render_bench_html(document))
    _print_summary(document)


def _print_summary(document: dict[str, Any]) -> None:
    ci = document.get("ci95")
    ci_text = f" (95% CI {100 * ci[0]:.2f}–{100 * ci[1]:.2f})" if ci else ""
    err.print(f"{document['metric']} on {document['items']} items: {100 * document['headline']:.2f}{ci_text}")
    baselines = document.get("baselines") or {}
    key = "total_avg_acc" if document["metric"] == "rmbench" else "score"
    for name, values in baselines.items():
        err.print(f"  {name} baseline: {100 * values[key]:.2f}")
    for name, value in document["values"].items():
        if name != key:
            err.print(f"  {name}: {100 * value:.2f}")
    if document.get("statuses"):
        err.print("  candidate statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(document["statuses"].items())))


def select_command(
    input: Path = typer.Argument(..., help="Candidate rows: .jsonl or .parquet."),
    group_by: str = typer.Option("prompt", "--group-by", help="Field that groups candidates of one prompt."),
    reward: str = typer.Option(None, "--reward", "-r", help="Reward ranking candidates (not needed for majority)."),
    param: Params = None,
    method: str = typer.Option("best", "--method", help="best, majority, weighted_vote, raft or threshold."),
    k: int = typer.Option(1, "-k", min=1, help="Candidates kept per prompt by raft."),
    threshold: float = typer.Option(None, help="Minimum reward for the threshold method."),
    weight: str = typer.Option("raw", help="Weighted-vote weights: raw rewards (>= 0) or exp(reward - best)."),
    answer_reward: str = typer.Option("math", help="Reward deciding whether two answers are equal (voting)."),
    output: Path = typer.Option(None, "--output", "-o", help="Selected rows (.jsonl or .parquet)."),
    completion_field: CompletionField = "completion",
    prompt_field: PromptField = "prompt",
    reference_field: str = typer.Option(None, help="Field holding the reference answer (for --eval)."),
    label_field: str = typer.Option(None, help="Field saying whether a candidate is correct (for --eval)."),
    evaluate: bool = typer.Option(False, "--eval", help="Accuracy against N for each method, with a plot."),
    report: Path = typer.Option(None, help="HTML report of --eval (default OUTPUT.html or select_eval.html)."),
    subsets: int = typer.Option(20, help="Random subsets per group and N for --eval."),
    seed: int = typer.Option(0, help="Seed of the --eval subsets."),
    workers: Workers = None,
    progress: Progress = None,
) -> None:
    """Pick among each prompt's candidates: best-of-N, majority or weighted vote, RAFT, or a threshold."""
    from rewardlab._io import DataError, RowWriter, iter_raw_rows, parse_row
    from rewardlab.bench import _select as sel
    from rewardlab.bench._report import render_select_html
    from rewardlab.runtime._runner import Runner

    if weight not in ("raw", "exp"):
        fail(f"--weight must be raw or exp, got {weight!r}", 2)
    if method not in sel.METHODS:
        fail(f"unknown method {method!r}; choose one of {', '.join(sel.METHODS)}", 2)
    if method == "threshold" and threshold is None:
        fail("--method threshold needs --threshold", 2)
    if method in sel.NEEDS_REWARD and reward is None:
        fail(f"--method {method} needs --reward", 2)
    if output is None and not evaluate:
        fail("give --output for the selected rows, --eval for the accuracy curves, or both", 2)
    if evaluate and reference_field is None and label_field is None:
        fail("--eval needs --reference-field (answers checked by the answer reward) or --label-field", 2)
    show = show_progress(progress)
    try:
        rows = [parse_row(input, raw) for raw in iter_raw_rows(input)]
        groups = sel.group_rows(rows, group_by, completion_field)
    except DataError as exc:
        fail(str(exc), 1)
    except (FileNotFoundError, ValueError) as exc:
        fail(f"{input}: {exc}", 2)

    runners: dict[int, Any] = {}

    def score_many(r: Any, samples: list[Any]) -> list[Any]:
        if id(r) not in runners:
            runners[id(r)] = Runner(r, workers=workers, open_pools=workers is not None)
        return list(runners[id(r)].score(samples, label="selecting", progress=show))

    try:
        ranking = load_reward(reward, param) if reward else None
        if ranking is not None:
            from rewardlab._types import Sample

            samples = [
                Sample(
                    completion=c.row[completion_field],
                    prompt=c.row.get(prompt_field),
                    extras={k2: v for k2, v in c.row.items() if k2 not in (completion_field, prompt_field)},
                )
                for g in groups
                for c in g.candidates
            ]
            flat = [c for g in groups for c in g.candidates]
            for cand, score in zip(flat, score_many(ranking, samples), strict=True):
                cand.score = score
        needs_answers = method in {"majority", "weighted_vote"} or evaluate
        equality = load_reward(answer_reward) if needs_answers else None
        if equality is not None:
            sel.extract_answers(groups)
            sel.cluster_answers(groups, equality, score_many)
        if evaluate:
            _mark_correct(groups, reference_field, label_field, equality, score_many)
    finally:
        for runner in runners.values():
            runner.close()

    selections = []
    try:
        for group in groups:
            chosen, votes, why = sel.select(group.candidates, method, k=k, threshold=threshold, weight=weight)
            selections.append(sel.Selection(group, chosen, votes, why))
        curves = None
        if evaluate:
            methods = [m for m in ("best", "majority", "weighted_vote") if m == "majority" or ranking is not None]
            curves = sel.eval_curves(groups, methods, subsets=subsets, seed=seed, weight=weight)
    except ValueError as exc:
        fail(f"{input}: {exc}", 2)
    if output is not None:
        writer = RowWriter(output, resume=False)
        out_rows = []
        for s in selections:
            for rank, cand in enumerate(s.chosen):
                row = dict(cand.row)
                row["select_method"] = method
                row["select_rank"] = rank
                row["select_reward"] = cand.value
                row["select_answer"] = cand.answer
                row["select_votes"] = s.votes.get(cand.cluster, None) if cand.cluster is not None else None
                row["select_candidates"] = len(s.group.candidates)
                out_rows.append(row)
        writer.write(out_rows)
        writer.close()
    counts = sel.summary_counts(selections)
    err.print(
        f"{method}: {counts.get('groups', 0)} groups, {counts.get('selected', 0)} rows selected, "
        f"{counts.get('abstained', 0)} groups abstained" + (f" -> {output}" if output else "")
    )
    if curves is not None:
        document = {
            "input": str(input),
            "groups": len(groups),
            "reward": ranking.signature if ranking is not None else None,
            "answer_reward": answer_reward,
            "subsets": subsets,
            "seed": seed,
            "curves": curves,
        }
        target = report or (output.with_suffix(".html") if output else Path("select_eval.html"))
        _write(target, render_select_html(document))
        _write(target.with_suffix(".json"), json.dumps(document, indent=2) + "\n")
        for name, points in curves.items():
            err.print(f"  {name:14s} " + "  ".join(f"N={p['n']:g}: {100 * p['accuracy']:.1f}" for p in points))
        err.print(f"report -> {target}")


def _mark_correct(
    groups: Any, reference_field: str | None, label_field: str | None, equality: Any, score_many: Any
) -> None:
    from rewardlab._types import Sample

    flat = [c for g in groups for c in g.candidates]
    if label_field is not None:
        for n, cand in enumerate(flat):
            if label_field not in cand.row:
                raise typer.BadParameter(f"candidate {n + 1} has no field {label_field!r}")
            cand.correct = bool(cand.row[label_field])
        return
    assert reference_field is not None
    samples = []
    for n, cand in enumerate(flat):
        if reference_field not in cand.row:
            fail(f"candidate {n + 1} has no reference field {reference_field!r}", 2)
        samples.append(Sample(completion=cand.text, reference=cand.row[reference_field]))
    for cand, score in zip(flat, score_many(equality, samples), strict=True):
        cand.correct = bool(score.status.value == "ok" and score.value and score.value >= 1.0)
