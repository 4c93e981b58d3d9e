"""`audit`: gold self-check, attack probes, labelled rates and signal diagnostics of one reward."""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab._reward import FunctionReward, Reward
from rewardlab._types import Sample, Score
from rewardlab._version import __version__
from rewardlab.audit._data import AuditData, AuditFields, AuditRow, load_audit_data
from rewardlab.audit._document import ReportDocument
from rewardlab.audit._gold import gold_section
from rewardlab.audit._groups import completion_length, groups_section, signal_section
from rewardlab.audit._labelled import DEFAULT_BOOTSTRAP, labelled_section
from rewardlab.audit._probes import Probe, ProbeInput, all_task_fields, render_gold, select_probes, wrong_answers
from rewardlab.audit._rules import FailRule, RuleError, check_rules, parse_rules
from rewardlab.audit._stats import clip_text, is_full_credit
from rewardlab.runtime._pool import WorkerPool
from rewardlab.runtime._runner import Runner

SCHEMA_VERSION = 1
"""Version of the JSON report layout (see docs/audit.md); bumped only on incompatible changes."""

DEFAULT_VERDICT_RULES = "probe_fpr>0.01,gold_failures>0"
"""The verdict when no ``--fail-on`` is given: every probe at most 1% false
positives, and every gold answer scored full credit."""

FLAG_FPR = 0.01
"""A probe above this false-positive rate is listed as a failure mode in the reward card."""

AUDIT_METRICS: dict[str, str] = {
    "probe_fpr": "false-positive rate of the worst probe (or of probe_fpr[NAME])",
    "probe_mean_reward": "mean reward of the worst probe (or of probe_mean_reward[NAME])",
    "probe_error_rate": "share of probe samples not scored ok, worst probe (or [NAME])",
    "gold_failures": "number of rows whose rendered reference did not get full credit",
    "gold_failure_rate": "gold_failures / rows with a reference",
    "labelled_fpr": "false-positive rate against labels (needs --label-field)",
    "labelled_fnr": "false-negative rate against labels (needs --label-field)",
    "labelled_fpr_upper": "upper end of the bootstrap 95% interval of labelled_fpr",
    "labelled_fnr_upper": "upper end of the bootstrap 95% interval of labelled_fnr",
    "labelled_precision": "precision against labels (needs --label-field)",
    "labelled_recall": "recall against labels (needs --label-field)",
    "labelled_accuracy": "accuracy against labels (needs --label-field)",
    "error_rate": "share of the data's completions not scored ok (error, timeout, abstain)",
    "zero_variance_share": "share of informative groups whose rewards are all equal (needs --group-by)",
    "length_corr": "Pearson correlation of reward and completion length",
}
"""Metric names usable in ``--fail-on`` rules, with what they measure."""

_NEEDS = {
    "labelled_": ("labelled", "--label-field"),
    "zero_variance_share": ("groups", "--group-by"),
}


@dataclass
class AuditReport(ReportDocument):
    """The result of an audit: a JSON-ready document and the checked rules.

    Attributes:
        document: The report as plain data; its layout is documented in
            ``docs/audit.md`` and versioned by ``schema_version``.
        outcomes: The ``--fail-on`` rules (or the default verdict rules) checked.
        rules_given: Whether ``outcomes`` come from user rules (else the default verdict).
    """

    rules_given: bool = False

    @property
    def probes(self) -> list[dict[str, Any]]:
        return list(self.document["probes"])

    def probe(self, name: str) -> dict[str, Any]:
        """The result of one probe by name."""
        for item in self.document["probes"]:
            if item["name"] == name:
                return dict(item)
        raise KeyError(name)

    def render_html(self) -> str:
        from rewardlab.audit._report import render_audit_html

        return render_audit_html(self.document)


def parse_fail_rules(texts: str | Iterable[str] | None) -> list[FailRule]:
    """Parse ``--fail-on`` rules for an audit (grammar in `rewardlab.audit._rules`).

    Raises:
        RuleError: a malformed rule or an unknown metric.
    """
    return parse_rules(texts, AUDIT_METRICS)


def check_rule_requirements(rules: Sequence[FailRule], *, labels: bool, groups: bool) -> None:
    """Refuse, before any scoring, rules whose measurement the options cannot produce.

    Raises:
        RuleError: e.g. ``labelled_fpr>0.01`` without ``--label-field``.
    """
    for rule in rules:
        for prefix, (what, option) in _NEEDS.items():
            if rule.metric.startswith(prefix) and not (labels if what == "labelled" else groups):
                raise RuleError(f"--fail-on rule {rule.text!r} needs {option}")


def _full_credit(reward: Reward, given: float | None) -> float:
    if given is not None:
        return float(given)
    high = reward.range[1]
    if not math.isfinite(high):
        raise ValueError(
            f"reward {reward.name!r} has no finite maximum (range {reward.range}); give the full-credit value "
            "(full_credit= / --full-credit)"
        )
    return float(high)


def _text(value: Any) -> str:
    return Sample(completion=value).completion_text if value is not None else ""


def _task_key_fields(reward: Reward) -> tuple[str, ...]:
    """Row fields that define the task itself, so rows differing in them are probed separately: those the
    audited reward reads (its parameters' renames included), then every field any family declares."""
    return tuple(dict.fromkeys((*reward.task_fields, *all_task_fields())))


def _probe_inputs(rows: Sequence[AuditRow], seed: int) -> tuple[list[str], dict[int, list[str]]]:
    references = sorted({r.reference_text for r in rows if r.reference_text})
    wrong: dict[int, list[str]] = {}
    for row in rows:
        if row.reference_text:
            rng = random.Random(f"{seed}:{row.index}:wrong")
            others = rng.sample(references, min(len(references), 32))
            wrong[row.index] = wrong_answers(row.reference_text, others, rng)
    return references, wrong


@dataclass
class _Job:
    kind: str  # "gold", "probe", "data"
    row: AuditRow
    completion: Any
    probe: str = ""
    variant: str = ""


def _build_jobs(
    rows: Sequence[AuditRow],
    probes: Sequence[Probe],
    reward_name: str,
    task_key_fields: Sequence[str],
    seed: int,
    probe_rows: int | None,
) -> list[_Job]:
    jobs: list[_Job] = []
    for row in rows:
        if row.reference_text is not None:
            # "reference": the reference as given (a call list, a box), not only its text form
            gold = render_gold(
                reward_name, row.reference_text, {**row.extras, "prompt": row.prompt, "reference": row.reference}
            )
            jobs.append(_Job("gold", row, gold))
    # Rows that repeat a prompt and reference (several completions per prompt) are probed once.
    # Task fields (tests, database...) are part of what makes a row a different task.
    seen: set[tuple[str, str, str]] = set()
    probed = []
    for row in rows:
        task = repr([(k, row.extras.get(k)) for k in task_key_fields if row.extras.get(k) is not None])
        key = (row.prompt_text, row.reference_text or "", task)
        if key not in seen:
            seen.add(key)
            probed.append(row)
    if probe_rows is not None and probe_rows < len(probed):
        probed = sorted(random.Random(f"{seed}:probe-rows").sample(probed, probe_rows), key=lambda r: r.index)
    _, wrong = _probe_inputs(rows, seed)
    for row in probed:
        fields = {**row.extras, "prompt": row.prompt, "reference": row.reference}
        prompt = row.prompt_text
        for item in probes:
            if item.needs_reference and not row.reference_text:
                continue
            data = ProbeInput(
                prompt=prompt,
                reference=row.reference_text or "",
                solution=row.solution,
                fields=fields,
                wrong=wrong.get(row.index, ["unknown"]),
                rng=random.Random(f"{seed}:{row.index}:{item.name}"),
            )
            for variant, completion in item.generate(data):
                jobs.append(_Job("probe", row, completion, item.name, variant))
    for row in rows:
        if row.completion is not None:
            jobs.append(_Job("data", row, row.completion))
    return jobs


def _probe_results(
    probes: Sequence[Probe], jobs: Sequence[_Job], scores: Sequence[Score], full_credit: float, max_examples: int
) -> list[dict[str, Any]]:
    by_probe: dict[str, list[tuple[_Job, Score]]] = defaultdict(list)
    for job, score in zip(jobs, scores, strict=True):
        if job.kind == "probe":
            by_probe[job.probe].append((job, score))
    out = []
    for item in probes:
        pairs = by_probe.get(item.name, [])
        ok = [s for _, s in pairs if s.is_ok and s.value is not None]
        hits = [(j, s) for j, s in pairs if is_full_credit(s, full_credit)]
        statuses = Counter(s.status.value for _, s in pairs)
        variants: dict[str, dict[str, Any]] = {}
        for job, score in pairs:
            entry = variants.setdefault(job.variant, {"n": 0, "n_ok": 0, "full_credit": 0})
            entry["n"] += 1
            entry["n_ok"] += int(score.is_ok)
            entry["full_credit"] += int(is_full_credit(score, full_credit))
        for entry in variants.values():
            entry["false_positive_rate"] = entry["full_credit"] / entry["n_ok"] if entry["n_ok"] else None
        # Examples: full-credit hits first (the attack worked), else a sample of what was tried.
        shown = hits[:max_examples] or pairs[: min(2, max_examples)]
        out.append(
            {
                "name": item.name,
                "description": item.description,
                "n": len(pairs),
                "n_ok": len(ok),
                "full_credit": len(hits),
                "false_positive_rate": len(hits) / len(ok) if ok else None,
                "mean_reward": sum(s.value for s in ok if s.value is not None) / len(ok) if ok else None,
                "error_rate": (len(pairs) - len(ok)) / len(pairs) if pairs else None,
                "statuses": dict(sorted(statuses.items())),
                "variants": variants,
                "examples": [
                    {
                        "row": j.row.index,
                        "id": j.row.id,
                        "variant": j.variant,
                        "reference": clip_text(j.row.reference_text or ""),
                        "completion": clip_text(_text(j.completion)),
                        "value": s.value,
                        "status": s.status.value,
                        "reason": s.reason,
                        "full_credit": is_full_credit(s, full_credit),
                    }
                    for j, s in shown
                ],
            }
        )
    return out


def _reward_section(reward: Reward, full_credit: float) -> dict[str, Any]:
    doc = ""
    if isinstance(reward, FunctionReward):
        doc = inspect.getdoc(reward.fn) or ""
    else:
        doc = inspect.getdoc(type(reward)) or ""
    return {
        "name": reward.name,
        "signature": reward.signature,
        "params": json.loads(json.dumps(dict(reward.params), default=str)),
        "range": [_finite_or_str(reward.range[0]), _finite_or_str(reward.range[1])],
        "description": reward.description,
        "documentation": doc,
        "isolated": bool(reward.isolated),
        "placement": reward.placement,
        "full_credit": full_credit,
    }


def _finite_or_str(value: float) -> float | str:
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _measure(document: Mapping[str, Any]) -> Any:
    def measure(metric: str, arg: str | None) -> tuple[float | None, str]:
        if metric.startswith("probe_"):
            key = {"probe_fpr": "false_positive_rate", "probe_mean_reward": "mean_reward"}.get(metric, "error_rate")
            items = [p for p in document["probes"] if arg is None or p["name"] == arg]
            if arg is not None and not items:
                return None, f"no probe named {arg!r} ran"
            values = [(p[key], p["name"]) for p in items if p[key] is not None]
            if not values:
                return None, "no probe sample was scored ok"
            worst = max(values, key=lambda item: item[0])
            return worst[0], f"worst probe: {worst[1]}" if arg is None else ""
        if metric == "gold_failures":
            return float(document["gold"]["failures"]), ""
        if metric == "gold_failure_rate":
            return document["gold"]["failure_rate"] or 0.0, ""
        if metric.startswith("labelled_"):
            labelled = document.get("labelled")
            if not labelled:
                return None, "no labelled rows"
            short = metric.removeprefix("labelled_")
            if short.endswith("_upper"):
                name = {"fpr": "false_positive_rate", "fnr": "false_negative_rate"}[short.removesuffix("_upper")]
                interval = labelled["ci95"].get(name)
                return (interval[1], "") if interval else (None, "interval undefined")
            name = {"fpr": "false_positive_rate", "fnr": "false_negative_rate"}.get(short, short)
            value = labelled.get(name)
            return (value, "") if value is not None else (None, f"{name} undefined (no rows in its denominator)")
        if metric == "error_rate":
            signal = document.get("signal")
            if not signal or signal["source"] != "data" or not signal["n"]:
                return None, "the data has no completions"
            ok = signal["statuses"].get("ok", 0)
            return 1.0 - ok / signal["n"], ""
        if metric == "zero_variance_share":
            groups = document.get("groups")
            value = groups.get("zero_variance_share") if groups else None
            return (value, "") if value is not None else (None, "no group with two ok rewards")
        if metric == "length_corr":
            signal = document.get("signal")
            value = signal["length_correlation"]["pearson"] if signal else None
            return (value, "") if value is not None else (None, "correlation undefined")
        return None, f"unknown metric {metric!r}"

    return measure


def _card(document: Mapping[str, Any]) -> dict[str, Any]:
    reward, data = document["reward"], document["data"]
    modes = [
        {"probe": p["name"], "description": p["description"], "false_positive_rate": p["false_positive_rate"]}
        for p in document["probes"]
        if p["false_positive_rate"] is not None and p["false_positive_rate"] > FLAG_FPR
    ]
    modes.sort(key=lambda m: -m["false_positive_rate"])
    labelled = document.get("labelled")
    rates = None
    if labelled:
        rates = {k: labelled.get(k) for k in ("false_positive_rate", "false_negative_rate", "precision", "recall")}
    return {
        "measures": reward["documentation"] or reward["description"],
        "parameters": reward["params"],
        "signature": reward["signature"],
        "failure_modes": modes,
        "gold_failures": document["gold"]["failures"],
        "labelled_rates": rates,
        "audited_on": {k: data[k] for k in ("source", "sha256", "rows")},
        "audited_at": document["created"],
        "rewardlab_version": __version__,
    }


def audit(
    reward: Reward,
    data: str | Path | Iterable[Mapping[str, Any]] | AuditData,
    *,
    fields: AuditFields | None = None,
    probes: Sequence[str] | None = None,
    full_credit: float | None = None,
    seed: int = 0,
    max_examples: int = 5,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    fail_on: str | Iterable[str] | None = None,
    probe_rows: int | None = None,
    limit: int | None = None,
    pool: WorkerPool | None = None,
    workers: int | None = None,
    in_process: bool = False,
    progress: bool = False,
) -> AuditReport:
    """Audit a reward on a data set: gold self-check, attack probes, labels, signal.

    Every sample (gold answers, probe completions, the data's own completions)
    is scored with ``reward.score`` in a few large batches through the runtime,
    so isolated rewards keep their per-sample deadlines and other rewards run
    in worker processes under a batch deadline (a slow reward cannot hang it).

    Args:
        reward: The reward under test.
        data: A JSONL/Parquet path, rows in memory, or `AuditData` already loaded.
        fields: Field mapping, label and group fields, reference rule.
        probes: Probe names to run (default: every registered probe that applies).
        full_credit: The value that counts as full credit (default: the top of
            ``reward.range``). Also the labelled decision threshold.
        seed: Seeds probe generation and the bootstrap.
        max_examples: Examples kept per probe and per table.
        bootstrap: Resamples for the 95% intervals of labelled rates.
        fail_on: ``--fail-on`` rules; the default verdict rules when ``None``.
        probe_rows: Run probes on a seeded sample of this many rows (default all).
            Rows repeating an earlier row's prompt and reference are probed once.
        limit: Read at most this many rows.
        pool: A worker pool to use (default: a new one, closed at the end).
        workers: Worker processes for a new pool.
        in_process: Score non-isolated rewards in this process (no batch deadline).
        progress: Show a progress bar on stderr.

    Raises:
        RuleError: a bad rule, or one the options cannot measure.
        DataError: a malformed row (names file, line and field).
        ValueError: no full-credit value can be known.

    Example:
        >>> import rewardlab
        >>> from rewardlab.audit import audit
        >>> rows = [{"prompt": "2+2?", "reference": "4"}]
        >>> report = audit(rewardlab.load("contains"), rows, in_process=True)
        >>> report.probe("spray")["false_positive_rate"]
        1.0
    """
    started = time.monotonic()
    rules_given = fail_on is not None
    rules = parse_fail_rules(fail_on if rules_given else DEFAULT_VERDICT_RULES)
    spec = fields or (data.fields if isinstance(data, AuditData) else AuditFields())
    check_rule_requirements(rules, labels=spec.label_field is not None, groups=spec.group_by is not None)
    threshold = _full_credit(reward, full_credit)
    loaded = data if isinstance(data, AuditData) else load_audit_data(data, spec, limit=limit)
    selected = select_probes(reward.name, probes)
    jobs = _build_jobs(loaded.rows, selected, reward.name, _task_key_fields(reward), seed, probe_rows)
    with Runner(reward, executor=pool, workers=workers, ship=not in_process) as runner:
        samples = [job.row.sample(job.completion, f"/{job.kind}") for job in jobs]
        scores = runner.score(samples, label="auditing", progress=progress)
    gold_jobs = [(j, s) for j, s in zip(jobs, scores, strict=True) if j.kind == "gold"]
    data_jobs = [(j, s) for j, s in zip(jobs, scores, strict=True) if j.kind == "data"]
    probe_pairs = [(j, s) for j, s in zip(jobs, scores, strict=True) if j.kind == "probe"]
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "rewardlab_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "reward": _reward_section(reward, threshold),
        "data": loaded.describe(),
        "settings": {
            "seed": seed,
            "probes": [p.name for p in selected],
            "probe_rows": probe_rows,
            "max_examples": max_examples,
            "bootstrap": bootstrap,
        },
        "gold": gold_section(
            [j.row for j, _ in gold_jobs],
            [_text(j.completion) for j, _ in gold_jobs],
            [s for _, s in gold_jobs],
            threshold,
            max_examples,
        ),
        "probes": _probe_results(selected, jobs, scores, threshold, max_examples),
        "labelled": None,
        "signal": None,
        "groups": None,
    }
    if spec.label_field is not None:
        labelled_rows = [(j.row, s) for j, s in data_jobs if j.row.label is not None]
        document["labelled"] = labelled_section(
            [r for r, _ in labelled_rows],
            [s for _, s in labelled_rows],
            threshold,
            resamples=bootstrap,
            seed=seed,
            max_examples=max_examples,
        )
        document["labelled"]["field"] = spec.label_field
    low = reward.range[0]
    value_range = (low if math.isfinite(low) else math.nan, threshold)
    if data_jobs:
        document["signal"] = signal_section(
            [completion_length(j.completion) for j, _ in data_jobs],
            [s for _, s in data_jobs],
            value_range,
            source="data",
            seed=seed,
        )
    elif probe_pairs:
        document["signal"] = signal_section(
            [completion_length(j.completion) for j, _ in probe_pairs],
            [s for _, s in probe_pairs],
            value_range,
            source="probes",
            seed=seed,
        )
    if spec.group_by is not None and data_jobs:
        document["groups"] = groups_section(
            [j.row for j, _ in data_jobs], [s for _, s in data_jobs], spec.group_by, max_examples=max_examples
        )
    outcomes = check_rules(rules, _measure(document))
    document["verdict"] = {
        "passed": not any(o.failed for o in outcomes),
        "rules_given": rules_given,
        "rules": [o.to_dict() for o in outcomes],
    }
    document["card"] = _card(document)
    document["timing"] = {"seconds": round(time.monotonic() - started, 3), "samples_scored": len(jobs)}
    return AuditReport(document, outcomes, rules_given)


__all__ = ["AUDIT_METRICS", "AuditReport", "RuleError", "audit", "parse_fail_rules"]
