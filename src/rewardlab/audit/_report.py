"""The audit and diff reports as self-contained HTML pages.

Rendered from the templates ``audit.html.j2`` and ``diff.html.j2`` (see `rewardlab._html`) with
autoescaping on: completions, references, probe names and every other string from data or a
model are escaped where they are printed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rewardlab import _html
from rewardlab._html import FPR_WARN

_PLACEMENT_TEXT = {
    "inline": "in process",
    "process": "in worker processes, each call under a deadline",
    "resident": "resident in one process (set up once, never copied to workers)",
}


def _ci(interval: Sequence[float] | None) -> str:
    return "95% CI n/a" if not interval else f"95% CI {_html.pct(interval[0])} - {_html.pct(interval[1])}"


def render_audit_html(document: Mapping[str, Any]) -> str:
    """The audit report as one self-contained HTML page (summary verdict first)."""
    reward, probes = document["reward"], document["probes"]
    signal, labelled = document.get("signal"), document.get("labelled")
    rated = [p for p in probes if p["false_positive_rate"] is not None]
    parameters = document["card"]["parameters"]
    plots = {
        "probes": _html.bars([(p["name"], p["false_positive_rate"]) for p in probes]),
        "histogram": _html.histogram(signal["histogram"]["edges"], signal["histogram"]["counts"]) if signal else None,
        "scatter": _html.scatter(signal["scatter"]) if signal else None,
        "confusion": _html.confusion(labelled["confusion"]) if labelled else None,
    }
    return _html.render(
        "audit.html.j2",
        title=f"Reward audit: {reward['name']}",
        doc=document,
        worst=max(rated, key=lambda p: p["false_positive_rate"], default=None),
        fpr_warn=FPR_WARN,
        plots=plots,
        ci=_ci,
        parameters=json.dumps(parameters, ensure_ascii=False, sort_keys=True) if parameters else "none",
        placement=_PLACEMENT_TEXT.get(reward.get("placement", ""), "in process"),
    )


def render_diff_html(document: Mapping[str, Any]) -> str:
    """Where two rewards disagree, as one self-contained HTML page."""
    a, b, n = document["a"], document["b"], document["n"]
    examples = {
        category: [
            {
                **e,
                "a_value": f"{e['a']['status']} {_html.num(e['a']['value'])}",
                "b_value": f"{e['b']['status']} {_html.num(e['b']['value'])}",
            }
            for e in items
        ]
        for category, items in document["examples"].items()
    }
    return _html.render(
        "diff.html.j2",
        title=f"Reward diff: {a['name']} vs {b['name']}",
        doc=document,
        category_bars=_html.bars([(k, (v / n) if n else None) for k, v in document["counts"].items()], threshold=1.01),
        examples_by_category=examples,
    )
