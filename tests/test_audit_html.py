"""The HTML audit report in a real headless Chromium: no console errors, summary and plots on screen."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

import rewardlab
from rewardlab.audit import AuditFields, audit, diff

STRICT = os.environ.get("REWARDLAB_STRICT_TESTS") == "1"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_TIMEOUT_S = 90

requires_chromium = pytest.mark.skipif(
    CHROMIUM is None and not STRICT, reason="chromium is not installed (apt-get install chromium)"
)


def _chromium(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None, "chromium is required (REWARDLAB_STRICT_TESTS=1)"
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--hide-scrollbars", *extra,
        page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=False)


def _console_messages(stderr: str) -> list[str]:
    """Messages the page wrote to its console (Chromium logs them as ``CONSOLE`` lines)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def _read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG into rows of raw pixel bytes."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = depth = color = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and color in (2, 6), f"unsupported PNG (depth {depth}, colour type {color})"
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                corner = prev[i - bpp] if i >= bpp else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(b for j, b in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


def _has_colour(rows: list[bytes], rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    for row in rows:
        for x in range(0, len(row), 3):
            if all(abs(row[x + k] - rgb[k]) <= tolerance for k in range(3)):
                return True
    return False


def _report_rows() -> list[dict]:
    rows = []
    for i, (question, answer) in enumerate([("2+5?", "7"), ("6*7?", "42"), ("10-4?", "6"), ("9+9?", "18")]):
        for j, completion in enumerate([answer, f"I think {answer}", "13", answer + "0"]):
            rows.append(
                {
                    "id": f"{i}-{j}",
                    "prompt": question,
                    "reference": f"work\n#### {answer}",
                    "completion": completion,
                    "label": completion == answer or completion.endswith(f" {answer}"),
                }
            )
    return rows


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = audit(
        rewardlab.load("contains"),
        _report_rows(),
        fields=AuditFields(label_field="label", group_by="prompt"),
        fail_on="probe_fpr>0.05",
        in_process=True,
    )
    path = tmp_path_factory.mktemp("html") / "audit.html"
    report.write_html(path)
    return path


def test_report_is_self_contained(report_page: Path) -> None:
    text = report_page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "external asset referenced"
    assert text.count("<svg") >= 4
    # Summary verdict first, then plots, then the tables and the reward card.
    order = [
        text.index(s) for s in ('class="verdict', "<h2>Plots", "<h2>Attack probes", "<h2>Labelled", "<h2>Reward card")
    ]
    assert order == sorted(order)
    assert "contains|ignore_case:yes" in text  # signature and parameters shown


def test_html_escapes_completions(tmp_path: Path) -> None:
    rows = [{"prompt": "<script>alert(1)</script>", "reference": "<b>7</b>"}]
    report = audit(rewardlab.load("contains"), rows, probes=["prompt_echo"], in_process=True)
    path = tmp_path / "x.html"
    report.write_html(path)
    assert "<script>alert(1)" not in path.read_text() and "&lt;script&gt;alert(1)" in path.read_text()


@requires_chromium
def test_console_detection_catches_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>console.error('marker-123'); nope();</script></body></html>")
    result = _chromium(bad, tmp_path, f"--screenshot={tmp_path / 'bad.png'}", "--window-size=400,300")
    messages = _console_messages(result.stderr)
    assert any("marker-123" in m for m in messages), result.stderr[-2000:]


@requires_chromium
def test_report_renders_in_chromium(report_page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "audit.png"
    result = _chromium(report_page, tmp_path, f"--screenshot={shot}", "--window-size=1100,1500")
    assert shot.exists(), result.stderr[-2000:]
    assert _console_messages(result.stderr) == []
    width, height, rows = _read_png(shot)
    assert (width, height) == (1100, 1500)
    colours = {row[x : x + 3] for row in rows[::7] for x in range(0, len(row), 21)}
    assert len(colours) > 50, "screenshot looks blank"
    top = rows[:400]
    assert _has_colour(top, (0xB4, 0x23, 0x18)), "the FAIL verdict badge is not in the first screen"
    assert _has_colour(rows, (0x34, 0x56, 0xC7)), "no histogram/scatter plot on the first screen"
    assert _has_colour(rows[400:], (0xB4, 0x23, 0x18)), "no red false-positive bars on the first screen"


@requires_chromium
def test_report_dom_is_complete(report_page: Path, tmp_path: Path) -> None:
    result = _chromium(report_page, tmp_path, "--dump-dom")
    assert "<h2>Reward card</h2>" in result.stdout
    assert result.stdout.count("<svg") >= 4
    assert _console_messages(result.stderr) == []


@requires_chromium
def test_diff_report_renders(tmp_path: Path) -> None:
    report = diff(rewardlab.load("exact_match"), rewardlab.load("contains"), _report_rows(), in_process=True)
    page = tmp_path / "diff.html"
    report.write_html(page)
    result = _chromium(page, tmp_path, "--dump-dom")
    assert "Reward diff: exact_match vs contains" in result.stdout
    assert _console_messages(result.stderr) == []
