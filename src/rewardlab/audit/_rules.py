"""``--fail-on`` rules: ``METRIC OP NUMBER``, checked against a report to gate CI.

Grammar (whitespace around tokens is ignored)::

    rules  := rule ("," rule)*
    rule   := metric ("[" name "]")? op number
    op     := ">" | ">=" | "<" | "<=" | "==" | "!="
    number := a decimal number, optionally ending in "%" (5% == 0.05)

``metric[name]`` picks one item (``probe_fpr[spray]``); without it, metrics
over several items take the worst one (the largest false-positive rate).
A rule *fails* (the command exits non-zero) when its comparison is true:
``probe_fpr>0.05`` fails when some probe's false-positive rate exceeds 5%.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_RULE = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*(?:\[\s*(?P<arg>[^\]]+?)\s*\])?\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<pct>%)?\s*$"
)


class RuleError(ValueError):
    """A ``--fail-on`` rule cannot be read or names an unknown metric."""


@dataclass(frozen=True)
class FailRule:
    """One parsed rule."""

    text: str
    metric: str
    arg: str | None
    op: str
    threshold: float

    def fails(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)


@dataclass(frozen=True)
class RuleOutcome:
    """A rule checked against a report: the measured value and whether it failed.

    ``value`` is ``None`` when the report has no such measurement (e.g. a
    labelled rule on unlabelled data); such a rule fails, so a gate never
    passes by accident.
    """

    rule: FailRule
    value: float | None
    failed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.text,
            "metric": self.rule.metric,
            "item": self.rule.arg,
            "op": self.rule.op,
            "threshold": self.rule.threshold,
            "value": self.value,
            "failed": self.failed,
            "note": self.note,
        }


def parse_rules(texts: str | Iterable[str] | None, metrics: Mapping[str, str]) -> list[FailRule]:
    """Parse comma-separated rules; ``metrics`` maps known metric names to descriptions.

    Raises:
        RuleError: a rule is malformed or names an unknown metric (the message lists the known ones).
    """
    if texts is None:
        return []
    items = [texts] if isinstance(texts, str) else list(texts)
    rules: list[FailRule] = []
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            match = _RULE.match(part)
            if match is None:
                raise RuleError(
                    f"--fail-on rule {part.strip()!r}: expected METRIC OP NUMBER such as 'probe_fpr>0.05' "
                    f"(OP is one of > >= < <= == !=)"
                )
            metric = match["metric"]
            if metric not in metrics:
                known = ", ".join(sorted(metrics))
                raise RuleError(f"--fail-on rule {part.strip()!r}: unknown metric {metric!r}; known metrics: {known}")
            threshold = float(match["num"]) / (100.0 if match["pct"] else 1.0)
            rules.append(FailRule(part.strip(), metric, match["arg"], match["op"], threshold))
    return rules


def check_rules(
    rules: Iterable[FailRule], measure: Callable[[str, str | None], tuple[float | None, str]]
) -> list[RuleOutcome]:
    """Evaluate each rule; ``measure(metric, arg)`` returns ``(value, note)``."""
    outcomes = []
    for rule in rules:
        value, note = measure(rule.metric, rule.arg)
        if value is None:
            outcomes.append(RuleOutcome(rule, None, True, note or "not measured"))
        else:
            outcomes.append(RuleOutcome(rule, value, rule.fails(value), note))
    return outcomes
