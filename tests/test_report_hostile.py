"""Hostile model output through every HTML report (audit, diff, bench, select --eval) renders inert.

Each report is built twice: from a real run over rows whose completions, prompts, references and
ids are attacks, and from that run's document with every string in it (values and keys) replaced
by an attack, so no field the templates print is left out. The pages are then parsed (no script
element, no event-handler attribute, no ``javascript:`` URL, the attack text present as text) and
opened in headless Chromium, where a script that ran would mark the DOM.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import rewardlab
from rewardlab import _html
from rewardlab.audit import AuditFields, audit, diff
from rewardlab.audit._report import render_audit_html, render_diff_html
from rewardlab.bench._report import render_bench_html, render_select_html
from test_audit_html import _chromium, _console_messages, requires_chromium

MARK = "pwned-7f3a"
"""What a script that ran would write into the DOM (and what an escaped attack shows as text)."""

ATTACKS = [
    f"<script>document.documentElement.setAttribute('data-{MARK}','1')</script>",
    f"</textarea></pre></code></style><script>document.body.setAttribute('data-{MARK}','2')</script>",
    f"\"><img src=x onerror=\"document.body.setAttribute('data-{MARK}','3')\">",
    f'\'><svg onload=\'document.body.setAttribute("data-{MARK}","4")\'>',
    "{{ 7 * 7 }}{% raw %}{{ config }}{% endraw %}{{ ''.__class__.__mro__ }}",
    f"javascript:document.body.setAttribute('data-{MARK}','5')",
    f'<a href="javascript:alert(\'{MARK}\')">click</a><iframe src="javascript:alert(1)"></iframe>',
    "</title><title>spoofed</title><!--",
]
PAYLOAD = " ".join(ATTACKS)


class _Page(HTMLParser):
    """What a browser would treat as live in a page: elements, attributes, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _assert_inert(page: str, *, shows_attacks: bool = True) -> None:
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    assert not {"script", "iframe", "img", "a", "textarea", "object", "embed", "link"} & set(parsed.tags)
    head = parsed.tags[: parsed.tags.index("body")]
    assert head.count("title") == 1 and parsed.tags.count("style") == 1
    for name, value in parsed.attributes:
        assert not name.startswith("on"), f"event handler attribute {name}={value!r}"
        assert "javascript:" not in value.lower(), f"script URL in {name}={value!r}"
        assert MARK not in value, f"attack text inside attribute {name}"
    if shows_attacks:
        # The attacks are shown to the reader as the text they are, Jinja syntax included, unevaluated.
        text = "".join(parsed.text)
        assert all(attack in text for attack in ATTACKS[:4]), "an attack was not shown as text"
        assert "{{ 7 * 7 }}{% raw %}{{ config }}{% endraw %}" in text


DATA_KEYED = {"variants", "statuses", "unjudged", "components", "parameters", "by_source", "examples", "values",
              "curves", "labelled_rates"}  # fmt: skip
"""Mappings of a document whose keys come from data (statuses, variant and component names), not the schema."""


def _poison(value: Any, keys_from_data: bool = False) -> Any:
    """Every string in a document, and every key that came from data, with the attacks appended."""
    if isinstance(value, str):
        return value + PAYLOAD
    if isinstance(value, dict):
        return {
            (k + PAYLOAD if keys_from_data and isinstance(k, str) else k): _poison(v, k in DATA_KEYED)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_poison(v) for v in value]
    return value


def _hostile_rows() -> list[dict[str, Any]]:
    rows = []
    for i, answer in enumerate(["7", "42", "6"]):
        for j, attack in enumerate(ATTACKS):
            rows.append(
                {
                    "id": f"{i}-{j}{attack}",
                    "prompt": f"{attack} what is it?",
                    "reference": f"{attack}\n#### {answer}",
                    "completion": f"{attack} {answer}" if j % 2 else attack,
                    "label": bool(j % 2),
                }
            )
    return rows


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rewardlab", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every report, from a real run over hostile rows and from its fully poisoned document."""
    tmp = tmp_path_factory.mktemp("hostile")
    rows = _hostile_rows()
    out: dict[str, str] = {}

    report = audit(
        rewardlab.load("contains"),
        rows,
        fields=AuditFields(label_field="label", group_by="prompt"),
        fail_on="probe_fpr>0.05",
        in_process=True,
    )
    out["audit"] = report.render_html()
    out["audit-poisoned"] = render_audit_html(_poison(report.document))

    compared = diff(rewardlab.load("exact_match"), rewardlab.load("contains"), rows, in_process=True)
    out["diff"] = compared.render_html()
    out["diff-poisoned"] = render_diff_html(_poison(compared.document))

    pairs = tmp / "pairs.jsonl.gz"
    with gzip.open(pairs, "wt") as handle:
        for n, attack in enumerate(ATTACKS):
            longer = f"{attack * 2} (longer: the length reward prefers it, so the item is shown as wrong)"
            pair = {"id": f"p{n}{attack}", "prompt": attack, "chosen": attack, "rejected": longer}
            handle.write(json.dumps(pair) + "\n")
    proc = _cli("bench", str(pairs), "-r", "length", "--json", "b.json", "-o", "b.html", "--bootstrap", "20", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    out["bench"] = (tmp / "b.html").read_text(encoding="utf-8")
    out["bench-poisoned"] = render_bench_html(_poison(json.loads((tmp / "b.json").read_text())))

    candidates = tmp / "candidates.jsonl"
    with candidates.open("w", encoding="utf-8") as handle:
        for row in rows:
            candidate = {"prompt": row["prompt"], "completion": row["completion"], "ok": row["label"]}
            handle.write(json.dumps(candidate) + "\n")
    proc = _cli(
        "select", str(candidates), "--method", "majority", "--label-field", "ok", "--eval", "--report", "s.html",
        "--no-progress", "--subsets", "3", cwd=tmp,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out["select"] = (tmp / "s.html").read_text(encoding="utf-8")
    document = json.loads((tmp / "s.json").read_text())
    document["input"] = PAYLOAD  # what the real run could not carry: a hostile file name and reward names
    document["reward"] = PAYLOAD
    document["curves"] = {PAYLOAD + name: points for name, points in document["curves"].items()}
    out["select-poisoned"] = render_select_html(_poison(document))
    return out


REPORTS = ["audit", "audit-poisoned", "diff", "diff-poisoned", "bench", "bench-poisoned", "select-poisoned"]


@pytest.mark.parametrize("name", REPORTS)
def test_hostile_text_is_inert_in_the_markup(pages: dict[str, str], name: str) -> None:
    _assert_inert(pages[name])


def test_real_select_report_is_inert(pages: dict[str, str]) -> None:
    # The select report prints no completion text, only what a run over hostile rows computed.
    _assert_inert(pages["select"], shows_attacks=False)


@requires_chromium
@pytest.mark.parametrize("name", ["audit-poisoned", "diff-poisoned", "bench-poisoned", "select-poisoned"])
def test_no_script_runs_in_chromium(pages: dict[str, str], name: str, tmp_path: Path) -> None:
    page = tmp_path / f"{name}.html"
    page.write_text(pages[name], encoding="utf-8")
    result = _chromium(page, tmp_path, "--dump-dom")
    dom = result.stdout
    assert "</html>" in dom, result.stderr[-2000:]
    live = _Page()
    live.feed(dom)
    assert f"data-{MARK}" not in {name for name, _ in live.attributes}, "a script in the report ran"
    assert "{{ 7 * 7 }}" in "".join(live.text)
    assert _console_messages(result.stderr) == []
    assert "<title>spoofed" not in dom


def test_every_template_escapes_and_none_opts_out() -> None:
    env = _html.environment()
    assert env.autoescape is True
    templates = env.list_templates()
    assert {"audit.html.j2", "diff.html.j2", "bench.html.j2", "select.html.j2"} <= set(templates)
    for name in templates:
        source = Path(env.loader.get_source(env, name)[1])  # type: ignore[union-attr]
        text = source.read_text(encoding="utf-8")
        for opt_out in ("|safe", "| safe", "autoescape false", "Markup"):
            assert opt_out not in text, f"{name} opts out of escaping ({opt_out})"
