"""``rewardlab audit`` and ``rewardlab diff``: measure a reward before training with it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from rewardlab._io import DataError
from rewardlab._types import FieldMap
from rewardlab.cli._common import (
    CompletionField,
    HtmlReport,
    IdField,
    InProcess,
    JsonReport,
    Params,
    Progress,
    PromptField,
    ReferenceField,
    ReferenceRegex,
    RowLimit,
    Timeout,
    Workers,
    err,
    fail,
    load_reward,
    show_progress,
)

if TYPE_CHECKING:
    from rewardlab.audit import AuditFields

_out = Console(stderr=True, highlight=False)


def _fields(
    completion_field: str,
    prompt_field: str,
    reference_field: str,
    id_field: str,
    label_field: str | None,
    group_by: str | None,
    reference_regex: str | None,
    solution_field: str | None,
) -> AuditFields:
    from rewardlab.audit import AuditFields

    return AuditFields(
        fields=FieldMap(completion=completion_field, prompt=prompt_field, reference=reference_field, id=id_field),
        label_field=label_field,
        group_by=group_by,
        reference_regex=reference_regex,
        solution_field=solution_field,
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def audit_command(
    reward: str = typer.Option(..., "--reward", "-r", help="Reward name, signature, or spec file."),
    data: Path = typer.Option(..., "--data", "-d", help="Rows to audit on: .jsonl or .parquet."),
    param: Params = None,
    output: HtmlReport = None,
    json_path: JsonReport = None,
    fail_on: list[str] = typer.Option(
        None, "--fail-on", help="Rules like 'probe_fpr>0.05,gold_failures>0'; exit 1 when one holds (repeatable)."
    ),
    label_field: str = typer.Option(None, help="Field with a correct/incorrect label for each completion."),
    group_by: str = typer.Option(None, help="Field whose equal values form a group (GRPO diagnostics)."),
    completion_field: CompletionField = "completion",
    prompt_field: PromptField = "prompt",
    reference_field: ReferenceField = "reference",
    reference_regex: ReferenceRegex = None,
    solution_field: str = typer.Option(None, help="Field with a worked solution (for the truncation probe)."),
    id_field: IdField = "id",
    probe: list[str] = typer.Option(None, "--probe", help="Run only these probes (repeatable; default all)."),
    probe_rows: int = typer.Option(None, min=1, help="Probe a seeded sample of this many rows (default all)."),
    limit: RowLimit = None,
    full_credit: float = typer.Option(None, help="Value that counts as full credit (default: top of the range)."),
    seed: int = typer.Option(0, help="Seed for probes and bootstrap."),
    examples: int = typer.Option(5, min=0, help="Examples kept per probe and table."),
    bootstrap: int = typer.Option(2000, min=0, help="Bootstrap resamples for the 95% intervals."),
    workers: Workers = None,
    timeout: Timeout = None,
    in_process: InProcess = False,
    progress: Progress = None,
) -> None:
    """Audit a reward: gold self-check, attack probes, labelled rates, training-signal diagnostics."""
    from rewardlab.audit import RuleError, audit, parse_fail_rules
    from rewardlab.audit._audit import check_rule_requirements

    try:
        rules = parse_fail_rules(fail_on) if fail_on else []
        check_rule_requirements(rules, labels=label_field is not None, groups=group_by is not None)
    except RuleError as exc:
        fail(str(exc), 2)
    loaded = load_reward(reward, param, timeout)
    fields = _fields(
        completion_field,
        prompt_field,
        reference_field,
        id_field,
        label_field,
        group_by,
        reference_regex,
        solution_field,
    )
    show = show_progress(progress)
    try:
        report = audit(
            loaded,
            data,
            fields=fields,
            probes=probe or None,
            full_credit=full_credit,
            seed=seed,
            max_examples=examples,
            bootstrap=bootstrap,
            fail_on=fail_on or None,
            probe_rows=probe_rows,
            limit=limit,
            workers=workers,
            in_process=in_process,
            progress=show,
        )
    except DataError as exc:
        fail(str(exc), 2)
    except (RuleError, FileNotFoundError, ValueError) as exc:
        fail(str(exc), 2)
    _write_reports(report, json_path, output)
    _print_audit(report.document)
    if output is not None or json_path is not None:
        err.print("report: " + ", ".join(str(p) for p in (output, json_path) if p is not None))
    if report.rules_given and not report.passed:
        raise typer.Exit(1)


def _print_audit(doc: dict[str, Any]) -> None:
    table = Table(title=f"audit of {doc['reward']['signature']}", title_justify="left")
    for col in ("probe", "n", "FPR", "mean reward", "not ok"):
        table.add_column(col, justify="left" if col == "probe" else "right")
    for p in doc["probes"]:
        style = "red" if (p["false_positive_rate"] or 0) > 0.01 else None
        table.add_row(
            p["name"],
            f"{p['n']:,}",
            _pct(p["false_positive_rate"]),
            "n/a" if p["mean_reward"] is None else f"{p['mean_reward']:.3f}",
            _pct(p["error_rate"]),
            style=style,
        )
    _out.print(table)
    gold = doc["gold"]
    _out.print(f"gold self-check: {gold['failures']:,} of {gold['n']:,} references below full credit")
    labelled = doc.get("labelled")
    if labelled:
        ci = labelled["ci95"]
        fpr_ci, fnr_ci = ci.get("false_positive_rate"), ci.get("false_negative_rate")
        _out.print(
            f"labelled ({labelled['n']:,} rows): FPR {_pct(labelled['false_positive_rate'])}"
            + (f" [{_pct(fpr_ci[0])}, {_pct(fpr_ci[1])}]" if fpr_ci else "")
            + f", FNR {_pct(labelled['false_negative_rate'])}"
            + (f" [{_pct(fnr_ci[0])}, {_pct(fnr_ci[1])}]" if fnr_ci else "")
            + f", precision {_pct(labelled['precision'])}, recall {_pct(labelled['recall'])}"
        )
    groups = doc.get("groups")
    if groups:
        _out.print(
            f"groups by {groups['field']}: {groups['n_groups']:,}; zero-variance share "
            f"{_pct(groups['zero_variance_share'])}"
        )
    verdict = doc["verdict"]
    word = "[bold green]PASS[/]" if verdict["passed"] else "[bold red]FAIL[/]"
    origin = "--fail-on" if verdict["rules_given"] else "default rules"
    failed = [
        r["rule"] + (f" (measured {r['value']:.4g})" if r["value"] is not None else f" ({r['note']})")
        for r in verdict["rules"]
        if r["failed"]
    ]
    _out.print(f"verdict ({origin}): {word}" + (": " + "; ".join(failed) if failed else ""))


def diff_command(
    reward: list[str] = typer.Option(..., "--reward", "-r", help="Two rewards: -r A -r B (names, signatures, specs)."),
    data: Path = typer.Option(..., "--data", "-d", help="Rows: .jsonl or .parquet."),
    output: HtmlReport = None,
    json_path: JsonReport = None,
    fail_on: list[str] = typer.Option(
        None, "--fail-on", help="Rules like 'disagreement_rate>0.01'; exit 1 if one holds."
    ),
    probes: bool = typer.Option(
        None, "--probes/--no-probes", help="Also compare on gold and probe completions (default: when no completions)."
    ),
    label_field: str = typer.Option(None, help="Field with a correct/incorrect label (who is right on a split)."),
    completion_field: CompletionField = "completion",
    prompt_field: PromptField = "prompt",
    reference_field: ReferenceField = "reference",
    reference_regex: ReferenceRegex = None,
    id_field: IdField = "id",
    limit: RowLimit = None,
    tolerance: float = typer.Option(1e-9, help="Values closer than this are equal."),
    examples: int = typer.Option(5, min=0, help="Examples kept per category."),
    seed: int = typer.Option(0, help="Seed for probe generation."),
    workers: Workers = None,
    in_process: InProcess = False,
    progress: Progress = None,
) -> None:
    """Show where two rewards (or two versions of one) disagree, with counts and examples."""
    from rewardlab.audit import RuleError, diff
    from rewardlab.audit._diff import DIFF_METRICS
    from rewardlab.audit._rules import parse_rules

    if len(reward) != 2:
        fail(f"diff needs exactly two rewards (-r A -r B), got {len(reward)}", 2)
    try:
        parse_rules(fail_on, DIFF_METRICS)
    except RuleError as exc:
        fail(str(exc), 2)
    a, b = load_reward(reward[0]), load_reward(reward[1])
    fields = _fields(
        completion_field, prompt_field, reference_field, id_field, label_field, None, reference_regex, None
    )
    show = show_progress(progress)
    try:
        report = diff(
            a,
            b,
            data,
            fields=fields,
            probes=probes,
            tolerance=tolerance,
            seed=seed,
            max_examples=examples,
            fail_on=fail_on or None,
            limit=limit,
            workers=workers,
            in_process=in_process,
            progress=show,
        )
    except DataError as exc:
        fail(str(exc), 2)
    except (RuleError, FileNotFoundError, ValueError) as exc:
        fail(str(exc), 2)
    doc = report.document
    _write_reports(report, json_path, output)
    table = Table(title=f"{doc['a']['signature']}  vs  {doc['b']['signature']}", title_justify="left")
    table.add_column("category")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    for name, count in doc["counts"].items():
        table.add_row(name, f"{count:,}", _pct(count / doc["n"] if doc["n"] else None))
    _out.print(table)
    _out.print(f"disagreements: {doc['disagreements']:,} of {doc['n']:,} ({_pct(doc['disagreement_rate'])})")
    for category, items in doc["examples"].items():
        first = items[0]
        text = first["completion"].replace("\n", " ")[:100]
        _out.print(
            f"  {category}: e.g. row {first['id']} ({first['source']}): A {first['a']['value']} / "
            f"B {first['b']['value']}: {text!r}"
        )
    if doc["verdict"]["rules"]:
        word = "[bold green]PASS[/]" if report.passed else "[bold red]FAIL[/]"
        _out.print(f"verdict (--fail-on): {word}")
    if not report.passed:
        raise typer.Exit(1)


def _write_reports(report: Any, json_path: Path | None, output: Path | None) -> None:
    """Write the JSON and HTML forms the user asked for (an audit or a diff report)."""
    if json_path is not None:
        report.write_json(json_path)
    if output is not None:
        report.write_html(output)
