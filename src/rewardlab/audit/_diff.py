"""`diff`: where two rewards (or two versions of one) disagree, with counts and examples."""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab._reward import Reward
from rewardlab._stats import pearson
from rewardlab._types import Score, Status
from rewardlab._version import __version__
from rewardlab.audit._audit import _build_jobs, _full_credit, _Job, _reward_section, _task_key_fields, _text
from rewardlab.audit._data import AuditData, AuditFields, load_audit_data
from rewardlab.audit._document import ReportDocument
from rewardlab.audit._probes import select_probes
from rewardlab.audit._rules import check_rules, parse_rules
from rewardlab.audit._stats import clip_text, is_full_credit
from rewardlab.runtime._pool import WorkerPool
from rewardlab.runtime._runner import Runner

DIFF_TOLERANCE = 1e-9
"""Two ``ok`` values closer than this are equal."""

DIFF_METRICS: dict[str, str] = {
    "disagreement_rate": "disagreements / samples compared",
    "disagreements": "samples whose values differ beyond the tolerance or whose statuses differ",
    "a_only_full": "samples where only the first reward gives full credit",
    "b_only_full": "samples where only the second reward gives full credit",
}
"""Metric names usable in ``rewardlab diff --fail-on``."""


@dataclass
class DiffReport(ReportDocument):
    """Where two rewards disagree. ``document`` is the JSON form (see docs/audit.md)."""

    def render_html(self) -> str:
        from rewardlab.audit._report import render_diff_html

        return render_diff_html(self.document)


def _category(a: Score, b: Score, full_a: float, full_b: float, tolerance: float) -> str:
    if a.status is not Status.OK or b.status is not Status.OK:
        return "same_status" if a.status is b.status else "status_differs"
    assert a.value is not None and b.value is not None
    fa, fb = is_full_credit(a, full_a), is_full_credit(b, full_b)
    if fa and not fb:
        return "a_only_full"
    if fb and not fa:
        return "b_only_full"
    if abs(a.value - b.value) <= tolerance:
        return "agree"
    return "a_higher" if a.value > b.value else "b_higher"


_DISAGREE = ("status_differs", "a_only_full", "b_only_full", "a_higher", "b_higher")


def diff(
    reward_a: Reward,
    reward_b: Reward,
    data: str | Path | Iterable[Mapping[str, Any]] | AuditData,
    *,
    fields: AuditFields | None = None,
    probes: bool | None = None,
    full_credit: tuple[float | None, float | None] = (None, None),
    tolerance: float = DIFF_TOLERANCE,
    seed: int = 0,
    max_examples: int = 5,
    fail_on: str | Iterable[str] | None = None,
    limit: int | None = None,
    pool: WorkerPool | None = None,
    workers: int | None = None,
    in_process: bool = False,
    progress: bool = False,
) -> DiffReport:
    """Score the same samples with two rewards and report where they disagree.

    The samples are the data's completions; with ``probes=True`` (the default
    when the data has no completions) also the gold answers (rendered for
    ``reward_a``) and every probe completion that applies to either reward.

    Each sample falls in one category: ``agree`` (both ``ok``, values within
    ``tolerance``), ``a_only_full`` / ``b_only_full`` (only one gives full
    credit), ``a_higher`` / ``b_higher`` (other value differences),
    ``status_differs`` (one is not ``ok``, or both are not ``ok`` with different
    statuses) or ``same_status`` (both not ``ok``, same status). The first five
    but ``agree`` are disagreements; ``disagreement_rate`` = disagreements / n.

    With labels (``fields.label_field``), the labelled rows where exactly one
    reward gives full credit are counted as ``a_right`` or ``b_right``.

    Raises:
        RuleError: a bad ``--fail-on`` rule.
    """
    started = time.monotonic()
    rules = parse_rules(fail_on, DIFF_METRICS)
    spec = fields or (data.fields if isinstance(data, AuditData) else AuditFields())
    full_a, full_b = _full_credit(reward_a, full_credit[0]), _full_credit(reward_b, full_credit[1])
    loaded = data if isinstance(data, AuditData) else load_audit_data(data, spec, limit=limit)
    with_probes = (not loaded.has_completions) if probes is None else probes
    jobs: list[_Job]
    if with_probes:
        names = sorted({p.name for p in select_probes(reward_a.name)} | {p.name for p in select_probes(reward_b.name)})
        keys = tuple(dict.fromkeys((*_task_key_fields(reward_a), *_task_key_fields(reward_b))))
        jobs = _build_jobs(loaded.rows, select_probes(reward_a.name, names), reward_a.name, keys, seed, None)
    else:
        jobs = [_Job("data", r, r.completion) for r in loaded.rows if r.completion is not None]
    samples = [j.row.sample(j.completion, f"/{j.kind}") for j in jobs]
    with Runner(reward_a, executor=pool, workers=workers, ship=not in_process) as runner:
        scores_a = runner.score(samples, label=f"scoring {reward_a.name}", progress=progress)
    with Runner(reward_b, executor=pool, workers=workers, ship=not in_process) as runner:
        scores_b = runner.score(samples, label=f"scoring {reward_b.name}", progress=progress)
    counts: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    a_right = b_right = 0
    pairs_ok: list[tuple[float, float]] = []
    for job, a, b in zip(jobs, scores_a, scores_b, strict=True):
        category = _category(a, b, full_a, full_b, tolerance)
        counts[category] += 1
        source = job.kind if job.kind != "probe" else f"probe:{job.probe}"
        by_source[source][category] += 1
        if a.value is not None and b.value is not None:
            pairs_ok.append((a.value, b.value))
        if category in ("a_only_full", "b_only_full") and job.kind == "data" and job.row.label is not None:
            a_says = category == "a_only_full"
            if a_says == job.row.label:
                a_right += 1
            else:
                b_right += 1
        if category in _DISAGREE and len(examples[category]) < max_examples:
            examples[category].append(
                {
                    "row": job.row.index,
                    "id": job.row.id,
                    "source": source,
                    "variant": job.variant,
                    "reference": clip_text(job.row.reference_text or ""),
                    "completion": clip_text(_text(job.completion)),
                    "label": job.row.label,
                    "a": {"value": a.value, "status": a.status.value, "reason": a.reason},
                    "b": {"value": b.value, "status": b.status.value, "reason": b.reason},
                }
            )
    n = len(jobs)
    disagreements = sum(counts[c] for c in _DISAGREE)
    corr = pearson([x for x, _ in pairs_ok], [y for _, y in pairs_ok])
    document: dict[str, Any] = {
        "schema_version": 1,
        "rewardlab_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "a": _reward_section(reward_a, full_a),
        "b": _reward_section(reward_b, full_b),
        "data": loaded.describe(),
        "settings": {"seed": seed, "tolerance": tolerance, "probes": with_probes, "max_examples": max_examples},
        "n": n,
        "disagreements": disagreements,
        "disagreement_rate": disagreements / n if n else None,
        "counts": {c: counts.get(c, 0) for c in ("agree", *_DISAGREE, "same_status")},
        "by_source": {k: dict(sorted(v.items())) for k, v in sorted(by_source.items())},
        "correlation": corr,
        "mean_abs_difference": (sum(abs(x - y) for x, y in pairs_ok) / len(pairs_ok)) if pairs_ok else None,
        "labelled": {"a_right": a_right, "b_right": b_right} if spec.label_field else None,
        "examples": dict(examples),
    }

    def measure(metric: str, arg: str | None) -> tuple[float | None, str]:
        value = document[metric] if metric in document else document["counts"].get(metric)
        return (None if value is None else float(value)), ""

    outcomes = check_rules(rules, measure)
    document["verdict"] = {"passed": not any(o.failed for o in outcomes), "rules": [o.to_dict() for o in outcomes]}
    document["timing"] = {"seconds": round(time.monotonic() - started, 3), "samples_scored": 2 * n}
    if document["mean_abs_difference"] is not None and not math.isfinite(document["mean_abs_difference"]):
        document["mean_abs_difference"] = None
    return DiffReport(document, outcomes)


__all__ = ["DIFF_METRICS", "DiffReport", "diff"]
