"""HTML reports of `rewardlab bench` and `rewardlab select --eval`, in the audit report's look.

Every text that came from data or a model is escaped: model output in a report is
hostile input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardlab.audit._report import _card, _page, _table, esc, num, pct, svg_bars

_COLORS = ("#3456c7", "#1a7f4b", "#b54708", "#b42318", "#6941c6", "#5d6678")


def _score_cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def render_bench_html(document: Mapping[str, Any]) -> str:
    """The bench report: headline with CI, baselines, every metric value, length buckets, mistakes."""
    headline = document["headline"]
    ci = document.get("ci95")
    ci_text = f"95% CI {pct(ci[0])} – {pct(ci[1])}" if ci else "no bootstrap"
    baselines = document.get("baselines") or {}
    body = [
        f"<h1>Reward benchmark: {esc(document['metric'])}</h1>",
        f'<div class="sub">{esc(document.get("description", ""))}<br>reward <code>{esc(document["reward"])}</code>'
        f" · format {esc(document['format'])} · {document['items']:,} items</div>",
        '<div class="cards">',
        _card("headline", pct(headline), esc(ci_text), "good" if headline >= 0.5 else "bad"),
    ]
    headline_key = "total_avg_acc" if document["metric"] == "rmbench" else "score"
    for name in ("length", "random"):
        if name in baselines:
            value = baselines[name].get(headline_key)
            body.append(
                _card(
                    f"{name} baseline",
                    pct(value),
                    "prefer the longer response" if name == "length" else "uniform random scores",
                )
            )
    statuses = document.get("statuses") or {}
    if statuses:
        body.append(_card("candidate statuses", esc(", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))))
    body.append("</div>")

    values = document["values"]
    rows = []
    for key, value in values.items():
        cells = [esc(key), pct(value)]
        for name in ("length", "random"):
            cells.append(pct(baselines.get(name, {}).get(key)) if name in baselines else "n/a")
        rows.append(cells)
    body.append("<h2>Metric values</h2>")
    body.append(_table(["value", "reward", "length baseline", "random baseline"], rows, numeric=(1, 2, 3)))
    bars = [(k, v) for k, v in values.items() if isinstance(v, float) and 0.0 <= v <= 1.0]
    if bars:
        body.append(f"<figure><figcaption>Metric values</figcaption>{svg_bars(bars, threshold=2.0)}</figure>")

    by_length = document.get("by_length") or []
    if by_length:
        body.append("<h2>Accuracy by length difference</h2>")
        body.append(
            '<p class="sub">Relative length difference (chosen − rejected) / longer, in characters. A reward '
            "that tracks the length baseline across buckets is mostly measuring length.</p>"
        )
        body.append(
            _table(
                ["bucket", "items", "reward", "length baseline"],
                [[esc(r["bucket"]), num(r["items"]), pct(r["reward"]), pct(r["length"])] for r in by_length],
                numeric=(1, 2, 3),
            )
        )

    wrong = document.get("wrong") or []
    body.append(f"<h2>Items the reward gets wrong ({len(wrong)} shown)</h2>")
    if not wrong:
        body.append('<p class="empty">none</p>')
    else:
        rows = []
        for w in wrong:
            problems = "<br>".join(esc(p) for p in w.get("problems", []))
            rows.append(
                [
                    f"{esc(w['id'])}<br><span class='sub'>{esc(w['subset'])}</span>",
                    f"<pre>{esc(w['prompt'])}</pre>",
                    f"<pre>{esc(w['chosen'])}</pre>",
                    f"<pre>{esc(w['rejected'])}</pre>",
                    esc(", ".join(_score_cell(v) for v in w["chosen_scores"]))
                    + " vs "
                    + esc(", ".join(_score_cell(v) for v in w["rejected_scores"]))
                    + (f"<br>{problems}" if problems else ""),
                ]
            )
        body.append(_table(["item", "prompt", "chosen (first)", "rejected (first)", "scores"], rows))
    body.append(f"<footer>rewardlab bench · {esc(document.get('schema', ''))}</footer>")
    return _page(f"rewardlab bench: {document['metric']}", "".join(body))


def svg_lines(
    series: Mapping[str, Sequence[tuple[float, float]]], *, x_label: str = "", y_label: str = "", log2_x: bool = True
) -> str:
    """A line chart of named series of (x, y) points, y a rate in [0, 1]; x on a log2 axis by default."""
    import math

    points = [p for s in series.values() for p in s]
    if not points:
        return '<p class="empty">nothing to plot</p>'
    left, right, top, bottom, width, height = 56, 150, 16, 44, 640, 320
    xs = [math.log2(x) if log2_x else x for x, _ in points]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    ys = [y for _, y in points]
    y0, y1 = max(0.0, min(ys) - 0.05), min(1.0, max(ys) + 0.05)
    y1 = y1 if y1 > y0 else y0 + 0.1

    def sx(x: float) -> float:
        v = math.log2(x) if log2_x else x
        return left + (v - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{esc(y_label)}">']
    for k in range(5):
        y = y0 + (y1 - y0) * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#e3e6ee"/>')
        parts.append(
            f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#5d6678">{pct(y, 0)}</text>'
        )
    for x in sorted({x for x, _ in points}):
        parts.append(
            f'<text x="{sx(x):.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle" '
            f'fill="#5d6678">{num(x)}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2:.1f}" y="{height - 6}" font-size="12" '
        f'text-anchor="middle" fill="#1f2430">{esc(x_label)}</text>'
    )
    for n, (name, pts) in enumerate(series.items()):
        color = _COLORS[n % len(_COLORS)]
        pts = sorted(pts)
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.2"/>')
        for x, y in pts:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.2" fill="{color}"/>')
        ly = top + 14 + n * 18
        parts.append(f'<rect x="{width - right + 14}" y="{ly - 9}" width="12" height="12" rx="2" fill="{color}"/>')
        parts.append(f'<text x="{width - right + 32}" y="{ly + 1}" font-size="12" fill="#1f2430">{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_select_html(document: Mapping[str, Any]) -> str:
    """The `select --eval` report: accuracy against N for each method, with the table beside it."""
    curves: Mapping[str, Sequence[Mapping[str, float]]] = document["curves"]
    series = {m: [(p["n"], p["accuracy"]) for p in pts] for m, pts in curves.items()}
    ns = sorted({p["n"] for pts in curves.values() for p in pts})
    rows = []
    for method, pts in curves.items():
        by_n = {p["n"]: p["accuracy"] for p in pts}
        rows.append([esc(method)] + [pct(by_n.get(n)) for n in ns])
    body = [
        "<h1>Selection: accuracy against N</h1>",
        f'<div class="sub">{esc(document.get("input", ""))} · {document["groups"]:,} groups · '
        f"reward <code>{esc(document.get('reward') or 'none')}</code> · answers by "
        f"<code>{esc(document.get('answer_reward', ''))}</code> · {document['subsets']} random subsets per N "
        f"(seed {document['seed']})</div>",
        "<figure><figcaption>Accuracy of the selected answer against the number of candidates</figcaption>",
        svg_lines(series, x_label="candidates per prompt (N)", y_label="accuracy"),
        '<div class="note">oracle: some candidate is correct (pass@N); first: the first candidate of the subset.'
        "</div></figure>",
        "<h2>Accuracy</h2>",
        _table(["method"] + [f"N={n:g}" for n in ns], rows, numeric=tuple(range(1, len(ns) + 1))),
        "<footer>rewardlab select --eval</footer>",
    ]
    return _page("rewardlab select --eval", "".join(body))
