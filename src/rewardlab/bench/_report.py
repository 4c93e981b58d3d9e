"""HTML reports of `rewardlab bench` and `rewardlab select --eval`, in the audit report's look.

Rendered from the templates ``bench.html.j2`` and ``select.html.j2`` with autoescaping on:
every text that came from data or a model is escaped, since model output in a report is
hostile input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardlab import _html


def render_bench_html(document: Mapping[str, Any]) -> str:
    """The bench report: headline with CI, baselines, every metric value, length buckets, mistakes."""
    values = document["values"]
    value_bars = [(k, v) for k, v in values.items() if isinstance(v, float) and 0.0 <= v <= 1.0]
    return _html.render(
        "bench.html.j2",
        title=f"rewardlab bench: {document['metric']}",
        doc=document,
        headline_key="total_avg_acc" if document["metric"] == "rmbench" else "score",
        value_bars=_html.bars(value_bars, threshold=2.0),
    )


def render_select_html(document: Mapping[str, Any]) -> str:
    """The `select --eval` report: accuracy against N for each method, with the table beside it."""
    curves: Mapping[str, Sequence[Mapping[str, float]]] = document["curves"]
    series = {m: [(p["n"], p["accuracy"]) for p in pts] for m, pts in curves.items()}
    return _html.render(
        "select.html.j2",
        title="rewardlab select --eval",
        doc=document,
        chart=_html.lines(series),
        ns=sorted({p["n"] for pts in curves.values() for p in pts}),
        accuracy={m: {p["n"]: p["accuracy"] for p in pts} for m, pts in curves.items()},
    )
