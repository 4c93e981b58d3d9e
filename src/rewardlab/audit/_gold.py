"""The gold self-check: each row's reference, written as a well-formed answer, must score full credit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rewardlab._types import Score
from rewardlab.audit._data import AuditRow
from rewardlab.audit._stats import clip_text, is_full_credit


def gold_section(
    rows: Sequence[AuditRow],
    completions: Sequence[str],
    scores: Sequence[Score],
    full_credit: float,
    max_examples: int,
) -> dict[str, Any]:
    """Summarise the gold check.

    A row *fails* when its rendered reference does not get full credit: a lower
    value, or any status other than ``ok`` (an ``abstain`` on the gold answer
    means the reward cannot read this reference, which is worth fixing too).

    Returns the ``gold`` section of the report: ``n`` (rows with a reference),
    ``failures``, ``failure_rate``, ``statuses`` (status -> count), ``mean_reward``
    (over ``ok`` scores) and ``failed_rows`` (up to ``max_examples``, each with
    ``row``, ``line``, ``id``, ``reference``, ``completion``, ``value``, ``status``, ``reason``).
    """
    statuses: Counter[str] = Counter(s.status.value for s in scores)
    failed = [
        (r, c, s) for r, c, s in zip(rows, completions, scores, strict=True) if not is_full_credit(s, full_credit)
    ]
    values = [s.value for s in scores if s.value is not None]
    return {
        "n": len(scores),
        "failures": len(failed),
        "failure_rate": len(failed) / len(scores) if scores else None,
        "statuses": dict(sorted(statuses.items())),
        "mean_reward": sum(values) / len(values) if values else None,
        "failed_rows": [
            {
                "row": r.index,
                "line": r.line,
                "id": r.id,
                "reference": clip_text(r.reference_text or ""),
                "completion": clip_text(c),
                "value": s.value,
                "status": s.status.value,
                "reason": s.reason,
            }
            for r, c, s in failed[:max_examples]
        ],
    }
