"""Self-contained HTML reports: inline CSS, inline SVG plots drawn here, no scripts, no external assets."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FPR_WARN = 0.01
"""Bars above this false-positive rate are drawn in the warning colour."""

_CSS = """
:root{--ink:#1f2430;--muted:#5d6678;--line:#e3e6ee;--bg:#f6f7fb;--card:#fff;--ok:#1a7f4b;--ok-bg:#e6f5ec;
--bad:#b42318;--bad-bg:#fdecea;--warn:#b54708;--accent:#3456c7;--accent-soft:#dfe6fb}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg)}
main{max-width:1120px;margin:0 auto;padding:28px 24px 64px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:36px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:18px 0 8px}
.sub{color:var(--muted);font-size:13px;word-break:break-all}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.verdict{margin:20px 0;padding:18px 22px;border-radius:10px;display:flex;gap:18px;align-items:flex-start}
.verdict.pass{background:var(--ok-bg);border:1px solid #b7e1c8}
.verdict.fail{background:var(--bad-bg);border:1px solid #f5c2bd}
.badge{font-weight:700;font-size:20px;padding:6px 14px;border-radius:8px;color:#fff;white-space:nowrap}
.pass .badge{background:var(--ok)}
.fail .badge{background:var(--bad)}
.verdict ul{margin:6px 0 0;padding-left:18px}
.verdict li{margin:2px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:14px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:650;margin-top:2px}
.card .n{color:var(--muted);font-size:12px}
.v.bad{color:var(--bad)}
.v.good{color:var(--ok)}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
figcaption{font-weight:600;margin-bottom:6px}
figure .note{color:var(--muted);font-size:12px;margin-top:4px}
svg{display:block;width:100%;height:auto}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);
border-radius:10px;overflow:hidden}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top;
font-size:13.5px}
th{background:#eef1f8;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr:last-child td{border-bottom:none}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600}
.pill.ok{background:var(--ok-bg);color:var(--ok)}
.pill.bad{background:var(--bad-bg);color:var(--bad)}
.pill.na{background:#eef0f4;color:var(--muted)}
details{margin:6px 0}
summary{cursor:pointer;color:var(--accent);font-size:13px}
pre{white-space:pre-wrap;word-break:break-word;background:#f3f4f8;border-radius:6px;padding:6px 8px;margin:0;
max-height:180px;overflow:auto}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px}
dl.card-dl{display:grid;grid-template-columns:200px 1fr;gap:6px 14px;margin:0}
dl.card-dl dt{color:var(--muted)}
dl.card-dl dd{margin:0}
.empty{color:var(--muted);font-style:italic}
footer{margin-top:40px;color:var(--muted);font-size:12px}
"""

_INK, _MUTED, _LINE = "#1f2430", "#5d6678", "#e3e6ee"
_OK, _BAD, _ACCENT = "#1a7f4b", "#b42318", "#3456c7"


_PLACEMENT_TEXT = {
    "inline": "in process",
    "process": "in worker processes, each call under a deadline",
    "resident": "resident in one process (set up once, never copied to workers)",
}


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}f}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


# -- SVG plots -------------------------------------------------------------------------


def svg_bars(items: Sequence[tuple[str, float | None]], *, threshold: float = FPR_WARN, title: str = "") -> str:
    """Horizontal bars of rates in [0, 1], one per item; ``None`` drawn as 'n/a'."""
    if not items:
        return '<p class="empty">nothing to plot</p>'
    label_w, bar_w, row_h, top = 190, 420, 24, 26
    width, height = label_w + bar_w + 70, top + row_h * len(items) + 12
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + tick * bar_w
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 8}" stroke="{_LINE}"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{top - 10}" font-size="11" text-anchor="middle" '
            f'fill="{_MUTED}">{int(tick * 100)}%</text>'
        )
    for i, (name, value) in enumerate(items):
        y = top + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" font-size="12.5" text-anchor="end" fill="{_INK}">{esc(name)}</text>'
        )
        if value is None:
            parts.append(f'<text x="{label_w + 4}" y="{y + 16}" font-size="12" fill="{_MUTED}">n/a</text>')
            continue
        w = max(value * bar_w, 1.5 if value > 0 else 0)
        color = _BAD if value > threshold else _OK
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="3" fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" font-size="12" fill="{_INK}">{pct(value)}</text>')
    x = label_w + threshold * bar_w
    parts.append(
        f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 8}" stroke="{_BAD}" stroke-dasharray="4 3"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def svg_histogram(edges: Sequence[float], counts: Sequence[int], *, title: str = "") -> str:
    """Vertical bars of counts over bins given by ``edges``."""
    total = sum(counts)
    if not counts or total == 0:
        return '<p class="empty">no ok scores to plot</p>'
    left, bottom, plot_w, plot_h, top = 56, 40, 520, 210, 14
    width, height = left + plot_w + 16, top + plot_h + bottom
    peak = max(counts)
    bw = plot_w / len(counts)
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">']
    for frac in (0, 0.5, 1.0):
        y = top + plot_h - frac * plot_h
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{_LINE}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{_MUTED}">{int(round(frac * peak)):,}</text>'
        )
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        x = left + i * bw
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" rx="2" '
            f'fill="{_ACCENT}">'
            f"<title>[{edges[i]:.3g}, {edges[i + 1]:.3g}): {count}</title></rect>"
        )
        if count:
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{top + plot_h - h - 4:.1f}" font-size="10.5" '
                f'text-anchor="middle" fill="{_INK}">{count:,}</text>'
            )
    step = max(1, len(counts) // 5)
    for i in range(0, len(edges), step):
        x = left + i * bw
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle" '
            f'fill="{_MUTED}">{edges[i]:.3g}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 4}" font-size="12" text-anchor="middle" '
        f'fill="{_MUTED}">reward</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def svg_confusion(confusion: Mapping[str, int]) -> str:
    """2x2 confusion matrix: rows are labels, columns the reward's decision."""
    tp, fp, tn, fn = (int(confusion.get(k, 0)) for k in ("tp", "fp", "tn", "fn"))
    cells = [
        ("correct", "full credit", tp, True),
        ("correct", "not full", fn, False),
        ("incorrect", "full credit", fp, False),
        ("incorrect", "not full", tn, True),
    ]
    peak = max(tp, fp, tn, fn, 1)
    left, top, size = 120, 44, 150
    width, height = left + 2 * size + 20, top + 2 * size + 16
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="confusion matrix">']
    parts.append(
        f'<text x="{left + size}" y="14" font-size="12" text-anchor="middle" fill="{_MUTED}">reward says</text>'
    )
    for j, col in enumerate(("full credit", "not full")):
        parts.append(
            f'<text x="{left + j * size + size / 2}" y="{top - 10}" font-size="12.5" text-anchor="middle" '
            f'fill="{_INK}">{col}</text>'
        )
    for i, row in enumerate(("label: correct", "label: incorrect")):
        parts.append(
            f'<text x="{left - 10}" y="{top + i * size + size / 2 + 4}" font-size="12.5" text-anchor="end" '
            f'fill="{_INK}">{row}</text>'
        )
    for k, (_, _, count, good) in enumerate(cells):
        i, j = divmod(k, 2)
        alpha = 0.12 + 0.75 * count / peak
        color = "26,127,75" if good else "180,35,24"
        x, y = left + j * size, top + i * size
        parts.append(
            f'<rect x="{x + 2}" y="{y + 2}" width="{size - 4}" height="{size - 4}" rx="6" '
            f'fill="rgba({color},{alpha:.2f})"/>'
        )
        name = ("TP", "FN", "FP", "TN")[k]
        ink = "#fff" if alpha > 0.55 else _INK
        parts.append(
            f'<text x="{x + size / 2}" y="{y + size / 2}" font-size="24" font-weight="700" '
            f'text-anchor="middle" fill="{ink}">{count:,}</text>'
        )
        parts.append(
            f'<text x="{x + size / 2}" y="{y + size / 2 + 22}" font-size="12" text-anchor="middle" '
            f'fill="{ink}">{name}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_scatter(points: Sequence[Sequence[float]], *, title: str = "") -> str:
    """Reward (y) against completion length (x); small deterministic jitter separates discrete rewards."""
    if not points:
        return '<p class="empty">no ok scores to plot</p>'
    left, bottom, plot_w, plot_h, top = 56, 40, 520, 210, 12
    width, height = left + plot_w + 16, top + plot_h + bottom
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    x_hi = max(xs) or 1.0
    y_lo, y_hi = min(ys), max(ys)
    if y_hi - y_lo < 1e-12:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad = 0.06 * (y_hi - y_lo)
    y_lo, y_hi = y_lo - pad, y_hi + pad
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">']
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{_LINE}"/>')
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        jitter = ((i * 2654435761) % 1000 / 1000.0 - 0.5) * 0.04 * (y_hi - y_lo)
        px = left + plot_w * x / x_hi
        py = top + plot_h * (1 - (y + jitter - y_lo) / (y_hi - y_lo))
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.4" fill="{_ACCENT}" fill-opacity="0.35"/>')
    for frac in (0, 0.5, 1.0):
        x = left + frac * plot_w
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle" '
            f'fill="{_MUTED}">{frac * x_hi:,.0f}</text>'
        )
        value = y_lo + frac * (y_hi - y_lo)
        y = top + plot_h * (1 - frac)
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="{_MUTED}">{value:.2g}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 4}" font-size="12" text-anchor="middle" '
        f'fill="{_MUTED}">completion length (characters)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


# -- building blocks ------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


def _card(key: str, value: str, note: str = "", tone: str = "") -> str:
    return (
        f'<div class="card"><div class="k">{esc(key)}</div><div class="v {tone}">{value}</div><div '
        f'class="n">{note}</div></div>'
    )


def _pill(failed: bool | None, yes: str = "pass", no: str = "fail") -> str:
    if failed is None:
        return '<span class="pill na">n/a</span>'
    return f'<span class="pill bad">{no}</span>' if failed else f'<span class="pill ok">{yes}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f'<th class="{"num" if i in numeric else ""}">{esc(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"num" if i in numeric else ""}">{cell}</td>' for i, cell in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _examples(items: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    if not items:
        return '<p class="empty">none</p>'
    rows = []
    for item in items:
        cells = []
        for key, _ in columns:
            value = item.get(key)
            if key in ("completion", "reference"):
                cells.append(f"<pre>{esc(value)}</pre>")
            elif isinstance(value, float):
                cells.append(num(value))
            else:
                cells.append(esc(value))
        rows.append(cells)
    return _table([label for _, label in columns], rows)


def _verdict(document: Mapping[str, Any]) -> str:
    verdict = document["verdict"]
    passed = verdict["passed"]
    items = []
    for rule in verdict["rules"]:
        value = "not measured" if rule["value"] is None else num(rule["value"], 4)
        note = f" ({esc(rule['note'])})" if rule.get("note") else ""
        items.append(f"<li>{_pill(rule['failed'])} <code>{esc(rule['rule'])}</code>: measured {value}{note}</li>")
    origin = "--fail-on rules" if verdict.get("rules_given") else "default rules (no --fail-on given)"
    headline = "Passes" if passed else "Fails"
    return (
        f'<section class="verdict {"pass" if passed else "fail"}"><div '
        f'class="badge">{"PASS" if passed else "FAIL"}</div>'
        f"<div><strong>{headline} the {origin}.</strong><ul>{''.join(items)}</ul></div></section>"
    )


# -- the audit report --------------------------------------------------------------------------


def render_audit_html(document: Mapping[str, Any]) -> str:
    """The audit report as one self-contained HTML page (summary verdict first)."""
    reward, data, gold = document["reward"], document["data"], document["gold"]
    probes, labelled = document["probes"], document.get("labelled")
    signal, groups = document.get("signal"), document.get("groups")
    out: list[str] = []
    out.append(f"<h1>Reward audit: {esc(reward['name'])}</h1>")
    out.append(
        f'<div class="sub"><code>{esc(reward["signature"])}</code> &middot; data {esc(data["source"])} '
        f"({data['rows']:,} rows) &middot; {esc(document['created'])}</div>"
    )
    out.append(_verdict(document))

    rated = [p for p in probes if p["false_positive_rate"] is not None]
    worst = max(rated, key=lambda p: p["false_positive_rate"], default=None)
    cards = [
        _card("rows audited", f"{data['rows']:,}", f"{data['with_reference']:,} with a reference"),
        _card("probe samples", f"{sum(p['n'] for p in probes):,}", f"{len(probes)} probes"),
        _card(
            "worst probe FPR",
            pct(worst["false_positive_rate"]) if worst else "n/a",
            esc(worst["name"]) if worst else "",
            "bad" if worst and worst["false_positive_rate"] > FPR_WARN else "good",
        ),
        _card(
            "gold failures",
            f"{gold['failures']:,} / {gold['n']:,}",
            "reference scored below full credit",
            "bad" if gold["failures"] else "good",
        ),
    ]
    if labelled:
        ci = labelled["ci95"]
        cards.append(_card("labelled FPR", pct(labelled["false_positive_rate"]), _ci(ci.get("false_positive_rate"))))
        cards.append(_card("labelled FNR", pct(labelled["false_negative_rate"]), _ci(ci.get("false_negative_rate"))))
    if groups:
        cards.append(
            _card(
                "zero-variance groups",
                pct(groups["zero_variance_share"]),
                f"{groups['zero_variance_groups']:,} of {groups['informative_groups']:,} groups",
            )
        )
    out.append(f'<div class="cards">{"".join(cards)}</div>')

    figures = [
        _figure(
            "False-positive rate per probe",
            svg_bars([(p["name"], p["false_positive_rate"]) for p in probes], title="probe false-positive rates"),
            f"Share of probe completions given full credit (value &ge; {num(reward['full_credit'])}). Dashed "
            f"line: {pct(FPR_WARN, 0)}.",
        ),
    ]
    if signal:
        source = (
            "the data's completions"
            if signal["source"] == "data"
            else "all probe completions (the data has no completions)"
        )
        figures.append(
            _figure(
                "Reward distribution",
                svg_histogram(signal["histogram"]["edges"], signal["histogram"]["counts"], title="reward histogram"),
                f"Over {source}; {signal['statuses'].get('ok', 0):,} ok scores.",
            )
        )
    if labelled:
        figures.append(
            _figure(
                "Confusion matrix",
                svg_confusion(labelled["confusion"]),
                f"Labels from <code>{esc(labelled.get('field'))}</code>; {labelled['n']:,} judged rows.",
            )
        )
    if signal:
        corr = signal["length_correlation"]
        figures.append(
            _figure(
                "Reward vs length",
                svg_scatter(signal["scatter"], title="reward against length"),
                f"Pearson r = {num(corr['pearson'])}, Spearman &rho; = {num(corr['spearman'])}; points "
                "jittered vertically.",
            )
        )
    out.append(f'<h2>Plots</h2><div class="plots">{"".join(figures)}</div>')

    out.append("<h2>Attack probes</h2>")
    out.append(
        "<p>Each probe writes completions that must not earn full credit. The false-positive rate (FPR) is the "
        "share of "
        "probe completions scored <code>ok</code> at full credit; samples with another status are counted as "
        "errors.</p>"
    )
    rows = []
    for p in probes:
        failed = None if p["false_positive_rate"] is None else p["false_positive_rate"] > FPR_WARN
        rows.append(
            [
                f'<strong>{esc(p["name"])}</strong><br><span class="sub">{esc(p["description"])}</span>',
                f"{p['n']:,}",
                pct(p["false_positive_rate"]),
                num(p["mean_reward"]),
                pct(p["error_rate"]),
                _pill(failed, "ok", "vulnerable"),
            ]
        )
    out.append(_table(["probe", "n", "FPR", "mean reward", "not ok", ""], rows, numeric=(1, 2, 3, 4)))
    out.append("<h3>Examples</h3>")
    for p in probes:
        hits = sum(1 for e in p["examples"] if e.get("full_credit"))
        label = f"{esc(p['name'])}: {'examples that got full credit' if hits else 'examples tried'}"
        variants = ", ".join(f"{esc(k)} {pct(v['false_positive_rate'])}" for k, v in p["variants"].items())
        out.append(
            f'<details><summary>{label}</summary><p class="sub">by variant: {variants or "none"}</p>'
            + _examples(
                p["examples"],
                [
                    ("id", "row"),
                    ("variant", "variant"),
                    ("reference", "reference"),
                    ("completion", "completion"),
                    ("value", "reward"),
                    ("status", "status"),
                ],
            )
            + "</details>"
        )

    out.append("<h2>Gold self-check</h2>")
    out.append(
        f"<p>Each row's reference, written as a well-formed answer, must score full credit. "
        f"{gold['failures']:,} of {gold['n']:,} rows did not ({pct(gold['failure_rate'])}); "
        f"statuses: {esc(', '.join(f'{k} {v:,}' for k, v in gold['statuses'].items()) or 'none')}.</p>"
    )
    if gold["failed_rows"]:
        out.append(
            _examples(
                gold["failed_rows"],
                [
                    ("line", "line"),
                    ("id", "id"),
                    ("reference", "reference"),
                    ("completion", "gold answer"),
                    ("value", "reward"),
                    ("status", "status"),
                    ("reason", "reason"),
                ],
            )
        )

    if labelled:
        out.append("<h2>Labelled evaluation</h2>")
        ci = labelled["ci95"]
        metric_rows = [
            [esc(name.replace("_", " ")), pct(labelled[name]), esc(_ci(ci.get(name)))]
            for name in ("false_positive_rate", "false_negative_rate", "precision", "recall", "accuracy", "f1")
        ]
        out.append(
            f"<p>A completion counts as judged correct when its reward is <code>ok</code> and at least "
            f"{num(labelled['threshold'])}. {labelled['n']:,} rows judged; not judged (not ok): "
            f"{esc(', '.join(f'{k} {v}' for k, v in labelled['unjudged'].items()) or 'none')}. "
            f"Intervals: percentile bootstrap, {labelled['bootstrap']['resamples']:,} resamples, seed "
            f"{labelled['bootstrap']['seed']}.</p>"
        )
        out.append(_table(["metric", "value", "95% interval"], metric_rows, numeric=(1,)))
        cols = [("id", "id"), ("reference", "reference"), ("completion", "completion"), ("value", "reward")]
        out.append(
            f'<div class="grid2"><div><h3>False positives</h3>{_examples(labelled["false_positives"], cols)}</div>'
            f"<div><h3>False negatives</h3>{_examples(labelled['false_negatives'], cols)}</div></div>"
        )

    if signal:
        out.append("<h2>Training signal</h2>")
        stats = [
            ["scores", f"{signal['n']:,}"],
            ["mean", num(signal["mean"])],
            ["std", num(signal["std"])],
            ["min / max", f"{num(signal['min'])} / {num(signal['max'])}"],
            ["distinct values", f"{signal['distinct_values']:,}"],
            ["reward-length Pearson", num(signal["length_correlation"]["pearson"])],
            ["reward-length Spearman", num(signal["length_correlation"]["spearman"])],
        ]
        blocks = [f"<div><h3>Distribution</h3>{_table(['statistic', 'value'], stats, numeric=(1,))}</div>"]
        if groups:
            g = [
                ["grouped by", f"<code>{esc(groups['field'])}</code>"],
                ["groups", f"{groups['n_groups']:,}"],
                [
                    "size mean (min-max)",
                    f"{num(groups['size']['mean'])} ({groups['size']['min']}-{groups['size']['max']})",
                ],
                ["groups with 2+ ok rewards", f"{groups['informative_groups']:,}"],
                ["zero-variance share", pct(groups["zero_variance_share"])],
                ["all at best / all at worst", f"{groups['all_max_groups']:,} / {groups['all_min_groups']:,}"],
                ["mean within-group std", num(groups["mean_within_group_std"])],
                ["within-group length correlation", num(groups["within_group_length_correlation"])],
            ]
            blocks.append(f"<div><h3>Groups (GRPO signal)</h3>{_table(['statistic', 'value'], g, numeric=(1,))}</div>")
        out.append(f'<div class="grid2">{"".join(blocks)}</div>')
        if signal["components"]:
            comp_rows = [
                [
                    f"<code>{esc(k)}</code>",
                    f"{v['n']:,}",
                    num(v["mean"]),
                    num(v["std"]),
                    num(v["min"]),
                    num(v["max"]),
                    num(v["corr_with_reward"]),
                ]
                for k, v in signal["components"].items()
            ]
            out.append(
                "<h3>Components</h3>"
                + _table(
                    ["component", "n", "mean", "std", "min", "max", "corr. with reward"],
                    comp_rows,
                    numeric=(1, 2, 3, 4, 5, 6),
                )
            )

    out.append(_reward_card(document))
    out.append(
        f"<footer>rewardlab {esc(document['rewardlab_version'])} &middot; report schema "
        f"{document['schema_version']} &middot; "
        f"{document['timing']['samples_scored']:,} samples scored in {document['timing']['seconds']:.1f}s</footer>"
    )
    return _page(f"Reward audit: {reward['name']}", "".join(out))


def _ci(interval: Sequence[float] | None) -> str:
    return "95% CI n/a" if not interval else f"95% CI {pct(interval[0])} - {pct(interval[1])}"


def _figure(title: str, svg: str, note: str) -> str:
    return f'<figure><figcaption>{esc(title)}</figcaption>{svg}<div class="note">{note}</div></figure>'


def _reward_card(document: Mapping[str, Any]) -> str:
    card, reward = document["card"], document["reward"]
    modes = card["failure_modes"]
    modes_html = (
        "<ul>"
        + "".join(
            f"<li><strong>{esc(m['probe'])}</strong> ({pct(m['false_positive_rate'])} full credit): "
            f"{esc(m['description'])}</li>"
            for m in modes
        )
        + "</ul>"
        if modes
        else "none found by the probes run"
    )
    rates = card.get("labelled_rates")
    rates_html = (
        ", ".join(f"{esc(k.replace('_', ' '))} {pct(v)}" for k, v in rates.items()) if rates else "no labelled data"
    )
    params = json.dumps(card["parameters"], ensure_ascii=False, sort_keys=True) if card["parameters"] else "none"
    audited = card["audited_on"]
    entries = [
        ("What it measures", f"<pre>{esc(card['measures'] or 'not documented')}</pre>"),
        ("Parameters", f"<code>{esc(params)}</code>"),
        ("Signature", f"<code>{esc(card['signature'])}</code>"),
        (
            "Range / full credit",
            f"{esc(reward['range'])} / {num(reward['full_credit'])}; runs "
            f"{_PLACEMENT_TEXT.get(reward.get('placement', ''), 'in process')}",
        ),
        ("Measured failure modes", modes_html),
        ("Gold self-check", f"{card['gold_failures']:,} failures"),
        ("Labelled error rates", rates_html),
        (
            "Audited on",
            f"{esc(audited['source'])}, {audited['rows']:,} rows"
            + (f"<br><code>sha256 {esc(audited['sha256'])}</code>" if audited.get("sha256") else ""),
        ),
        ("Audited", f"{esc(card['audited_at'])} with rewardlab {esc(card['rewardlab_version'])}"),
    ]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in entries)
    return f'<h2>Reward card</h2><div class="card"><dl class="card-dl">{body}</dl></div>'


# -- the diff report ---------------------------------------------------------------------------------


def render_diff_html(document: Mapping[str, Any]) -> str:
    """Where two rewards disagree, as one self-contained HTML page."""
    a, b = document["a"], document["b"]
    out = [f"<h1>Reward diff: {esc(a['name'])} vs {esc(b['name'])}</h1>"]
    out.append(
        f'<div class="sub">A <code>{esc(a["signature"])}</code><br>B <code>{esc(b["signature"])}</code><br>'
        f"data {esc(document['data']['source'])} &middot; {esc(document['created'])}</div>"
    )
    if document["verdict"]["rules"]:
        out.append(_verdict({"verdict": {**document["verdict"], "rules_given": True}}))
    rate = document["disagreement_rate"]
    cards = [
        _card("samples compared", f"{document['n']:,}"),
        _card(
            "disagreements", f"{document['disagreements']:,}", pct(rate), "bad" if document["disagreements"] else "good"
        ),
        _card("only A full credit", f"{document['counts']['a_only_full']:,}"),
        _card("only B full credit", f"{document['counts']['b_only_full']:,}"),
        _card("correlation", num(document["correlation"]), "Pearson over samples both scored ok"),
    ]
    if document.get("labelled"):
        cards.append(
            _card(
                "right when they split",
                f"A {document['labelled']['a_right']:,} / B {document['labelled']['b_right']:,}",
                "against labels",
            )
        )
    out.append(f'<div class="cards">{"".join(cards)}</div>')
    items = [(k, (v / document["n"]) if document["n"] else None) for k, v in document["counts"].items()]
    out.append(
        _figure(
            "Share of samples per category",
            svg_bars(items, threshold=1.01, title="categories"),
            "agree, disagreement kinds, and same non-ok status.",
        )
    )
    rows = [
        [esc(src)] + [f"{counts.get(c, 0):,}" for c in document["counts"]]
        for src, counts in document["by_source"].items()
    ]
    out.append(
        "<h2>By source</h2>"
        + _table(["source", *document["counts"].keys()], rows, numeric=tuple(range(1, len(document["counts"]) + 1)))
    )
    out.append("<h2>Examples</h2>")
    for category, examples in document["examples"].items():
        flat = [
            {
                **e,
                "a_value": f"{e['a']['status']} {num(e['a']['value'])}",
                "b_value": f"{e['b']['status']} {num(e['b']['value'])}",
            }
            for e in examples
        ]
        out.append(
            f"<h3>{esc(category)}</h3>"
            + _examples(
                flat,
                [
                    ("id", "row"),
                    ("source", "source"),
                    ("reference", "reference"),
                    ("completion", "completion"),
                    ("a_value", "A"),
                    ("b_value", "B"),
                ],
            )
        )
    out.append(
        f"<footer>rewardlab {esc(document['rewardlab_version'])} &middot; "
        f"{document['timing']['samples_scored']:,} scores in {document['timing']['seconds']:.1f}s</footer>"
    )
    return _page(f"Reward diff: {a['name']} vs {b['name']}", "".join(out))
