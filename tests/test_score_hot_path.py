"""The score job's fast paths give exactly what the plain row-by-row paths give.

JSONL input travels in blocks of raw lines (parsed in the worker, rows merged and encoded
there); the row-by-row path (taken with ``limit``, ``--group-by`` and Parquet input) is the
reference. Outputs, bad-row logs and error messages must be byte-identical.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rewardlab
from rewardlab import Sample, Score
from rewardlab import _io as io
from rewardlab._io import DataError, RawBlock, dumps_row, iter_raw_blocks, iter_raw_rows
from rewardlab._job import score_file
from rewardlab._reward import sign_scores
from rewardlab.rewards.text import _text

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
EVERYTHING = 10**9
"""A ``limit`` that keeps every row: it sends the job down the row-by-row path."""

GOOD = st.builds(
    lambda i, c, r: json.dumps({"id": i, "completion": c, "reference": r, "meta": {"k": [i, c]}}),
    st.integers(0, 10**6),
    st.sampled_from(["Paris", " paris ", "PARIS\t", "Rome", "ﬁne", "fine", "a\u3000b", "a b", ""]),
    st.sampled_from(["Paris", "fine", "a b", "Rome"]),
)
ODD = st.sampled_from(
    [
        "",
        "   ",
        "\t",
        "{not json",
        "[1, 2]",
        '"text"',
        '{"reference": "no completion"}',
        '{"completion": "crlf", "reference": "crlf"}\r',
        '  {"completion": "padded", "reference": "padded"}  ',
        '{"completion": "form feed", "reference": "x"}\x0c',
        '{"completion": "dup", "completion": "last wins", "reference": "last wins"}',
        '{"completion": "has reward", "reward": 5, "reference": "x"}',
        '{"completion": ["not", "messages"], "reference": "x"}',
    ]
)
LINES = st.lists(st.one_of(GOOD, GOOD, GOOD, ODD), max_size=40)


def _write(path: Path, lines: list[str], final_newline: bool) -> Path:
    path.write_bytes(("\n".join(lines) + ("\n" if final_newline and lines else "")).encode())
    return path


def _run(src: Path, out: Path, **kwargs: Any) -> tuple[bytes, bytes, str | None]:
    """Output bytes, bad-row log bytes and the error message of one run."""
    bad = Path(str(out) + ".bad.jsonl")
    error = None
    try:
        score_file(src, out, rewardlab.load("exact_match"), progress=False, **kwargs)
    except DataError as exc:
        error = str(exc)
    return out.read_bytes(), bad.read_bytes() if bad.exists() else b"", error


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES, final_newline=st.booleans(), batch=st.integers(1, 7), skip_bad=st.booleans())
def test_blocks_give_what_rows_one_by_one_give(
    tmp_path: Path, lines: list[str], final_newline: bool, batch: int, skip_bad: bool
) -> None:
    src = _write(tmp_path / "in.jsonl", lines, final_newline)
    fast = _run(src, tmp_path / "fast.jsonl", chunk_rows=batch, skip_bad_rows=skip_bad)
    plain = _run(src, tmp_path / "plain.jsonl", chunk_rows=batch, skip_bad_rows=skip_bad, limit=EVERYTHING)
    assert fast == plain
    if fast[2] is not None:  # the error names the file and the line, counting blank lines
        assert fast[2].startswith(f"{src}:")


def test_blocks_to_parquet_and_with_two_workers(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    lines = [json.dumps({"id": i, "completion": f"c{i % 3}", "reference": "c1"}) for i in range(500)]
    lines[17] = ""
    lines[230] = "{broken"
    src = _write(tmp_path / "in.jsonl", lines, True)
    plain = _run(src, tmp_path / "plain.jsonl", chunk_rows=64, skip_bad_rows=True, limit=EVERYTHING)
    two = _run(src, tmp_path / "two.jsonl", chunk_rows=64, skip_bad_rows=True, workers=2)
    assert two == plain
    assert json.loads(plain[1].splitlines()[0])["line"] == 231
    score_file(src, tmp_path / "fast.parquet", rewardlab.load("exact_match"), chunk_rows=64, skip_bad_rows=True)
    score_file(
        src, tmp_path / "plain.parquet", rewardlab.load("exact_match"), chunk_rows=64, skip_bad_rows=True,
        limit=EVERYTHING,
    )  # fmt: skip
    fast_rows = pq.read_table(tmp_path / "fast.parquet").to_pylist()
    assert fast_rows == pq.read_table(tmp_path / "plain.parquet").to_pylist()
    assert [r["reward"] for r in fast_rows] == [json.loads(line)["reward"] for line in plain[0].splitlines()]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(("good_written", "bad_logged"), [(0, 1), (3, 0), (3, 1), (40, 2), (95, 3)])
def test_resume_inside_a_block_with_bad_rows(tmp_path: Path, workers: int, good_written: int, bad_logged: int) -> None:
    lines = [json.dumps({"id": i, "completion": "x" * (i % 5), "reference": "xx"}) for i in range(100)]
    for at in (2, 33, 60):
        lines.insert(at, "not json")
    src = _write(tmp_path / "in.jsonl", lines, True)
    clean = tmp_path / "clean.jsonl"
    reward = rewardlab.load("exact_match")
    score_file(src, clean, reward, chunk_rows=16, skip_bad_rows=True, workers=workers)
    crashed = tmp_path / "crashed.jsonl"
    # what a kill -9 leaves: some rows, a half-written one, and some of the bad rows logged
    written = clean.read_bytes().splitlines(keepends=True)
    crashed.write_bytes(b"".join(written[:good_written]) + written[good_written][:9])
    logged = Path(str(clean) + ".bad.jsonl").read_bytes().splitlines(keepends=True)
    Path(str(crashed) + ".bad.jsonl").write_bytes(b"".join(logged[:bad_logged]))
    summary = score_file(src, crashed, reward, chunk_rows=16, skip_bad_rows=True, workers=workers, resume=True)
    assert summary.resumed_from == good_written
    assert crashed.read_bytes() == clean.read_bytes()
    assert Path(str(crashed) + ".bad.jsonl").read_bytes() == Path(str(clean) + ".bad.jsonl").read_bytes()


def test_resume_after_kill_9_with_two_workers(tmp_path: Path) -> None:
    lines = [json.dumps({"id": i, "completion": "x" * (i % 13)}) for i in range(3000)]
    lines[1234] = "not json"
    src = _write(tmp_path / "in.jsonl", lines, True)
    clean, crashed = tmp_path / "clean.jsonl", tmp_path / "crashed.jsonl"
    common = ["-I", "_slow_plugin", "score", str(src), "-r", "test_slow_len", "--batch-size", "25", "-w", "2"]
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    cli = [sys.executable, "-m", "rewardlab.cli"]
    subprocess.run([*cli, *common, "-o", str(clean), "--skip-bad-rows"], env=env, check=True, timeout=300)
    proc = subprocess.Popen(
        [*cli, *common, "-o", str(crashed), "--skip-bad-rows"],
        env={**env, "SLOW_PLUGIN_DELAY": "0.002"},
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if crashed.exists() and crashed.read_bytes().count(b"\n") >= 300:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; the test proves nothing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < crashed.read_bytes().count(b"\n") < 2999
    subprocess.run([*cli, *common, "-o", str(crashed), "--skip-bad-rows", "--resume"], env=env, check=True, timeout=300)
    assert crashed.read_bytes() == clean.read_bytes()
    assert Path(str(crashed) + ".bad.jsonl").read_bytes() == Path(str(clean) + ".bad.jsonl").read_bytes()


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.sampled_from([b"{}", b'{"a": 1}', b"", b"  ", b"x\r", b"\xff"]), max_size=30),
    final_newline=st.booleans(),
    lines=st.integers(1, 6),
    read_bytes=st.sampled_from([1, 2, 5, 64, 1 << 22]),
)
def test_raw_blocks_hold_the_same_rows_and_lines(
    pieces: list[bytes], final_newline: bool, lines: int, read_bytes: int, tmp_path_factory: Any
) -> None:
    path = tmp_path_factory.mktemp("blocks") / "in.jsonl"
    data = b"\n".join(pieces) + (b"\n" if final_newline and pieces else b"")
    path.write_bytes(data)
    original = io.READ_BYTES
    io.READ_BYTES = read_bytes
    try:
        blocks = list(iter_raw_blocks(path, lines))
    finally:
        io.READ_BYTES = original
    assert b"".join(b.data for b in blocks) == data
    assert all(b.data.count(b"\n") == lines for b in blocks[:-1])
    assert [(r.line, r.data) for b in blocks for r in b] == [(r.line, r.data) for r in iter_raw_rows(path)]


def test_a_raw_block_pickles_as_one_bytes_object() -> None:
    import pickle

    block = RawBlock(7, b'{"a": 1}\n\n{"b": 2}\n')
    assert [(r.line, r.data) for r in pickle.loads(pickle.dumps(block))] == [(7, b'{"a": 1}'), (9, b'{"b": 2}')]


_SPACES = re.compile(r"\s+")


def _normalize_reference(text: str, ignore_punctuation: bool, ignore_articles: bool) -> str:
    """The normalisation as first written: NFKC, casefold, punctuation, articles, regex whitespace."""
    import string

    text = unicodedata.normalize("NFKC", text).casefold()
    if ignore_punctuation:
        text = text.translate(str.maketrans("", "", string.punctuation))
    if ignore_articles:
        text = re.sub(r"\b(a|an|the)\b", " ", text)
    return _SPACES.sub(" ", text).strip()


WHITESPACE = "".join(chr(c) for c in range(0x3100) if chr(c).isspace())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(WHITESPACE + "aAbB.,ﬁ The"), max_size=30), st.booleans(), st.booleans())
def test_normalize_text_matches_the_regex_definition(text: str, punctuation: bool, articles: bool) -> None:
    got = _text.normalize_text(text, ignore_punctuation=punctuation, ignore_articles=articles)
    assert got == _normalize_reference(text, punctuation, articles)


def test_exact_match_fast_path_agrees_with_the_general_one() -> None:
    em = rewardlab.load("exact_match")
    cases = [("Paris", "paris"), ("a\u3000b", "a b"), ("x", ["y", " X "]), ("x", None), ("ﬁ", "fi"), ("1", 1)]
    for completion, reference in cases:
        fast = em.score([{"completion": completion, "reference": reference}])[0]
        chat = em.score([{"completion": [{"role": "assistant", "content": completion}], "reference": reference}])[0]
        assert (fast.value, fast.status) == (chat.value, chat.status), (completion, reference)


def test_shared_scores_are_signed_once_and_signed_ones_kept() -> None:
    shared, other = Score.ok(1.0), Score.ok(1.0)
    already = Score.ok(0.5).with_signature("mine")
    out = sign_scores([shared, other, shared, already], "sig")
    assert [s.signature for s in out] == ["sig", "sig", "sig", "mine"]
    assert out[0] is out[2] and out[0] is not out[1] and out[3] is already
    assert shared.signature == ""  # the reward's own constant is untouched


def test_sample_from_mapping_equals_the_constructor_and_stays_frozen() -> None:
    row = {"completion": "c", "prompt": "p", "reference": "r", "id": 3, "tests": [1]}
    sample = Sample.from_mapping(row)
    assert sample == Sample("c", "p", "r", {"tests": [1]}, "3")
    with pytest.raises(AttributeError):
        sample.completion = "x"  # type: ignore[misc]
    assert row == {"completion": "c", "prompt": "p", "reference": "r", "id": 3, "tests": [1]}


def test_dumps_row_plain_and_unusual_rows() -> None:
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    plain = {"a": 1, "b": [1.5, None, "é"], "c": {"d": True}}
    assert dumps_row(plain) == orjson.dumps(plain, default=str, option=options)
    unusual = {"n": np.float32(0.5), 3: "int key", "p": Path("/x")}
    assert dumps_row(unusual) == orjson.dumps(unusual, default=str, option=options)
    assert json.loads(dumps_row(unusual)) == {"n": 0.5, "3": "int key", "p": "/x"}


def test_a_bad_row_found_in_a_worker_is_reported_with_file_and_line(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", ['{"completion": "a"}', "not json", '{"completion": "b"}'], True)
    out = tmp_path / "out.jsonl"
    for kwargs in ({"workers": 2}, {"workers": 2, "limit": EVERYTHING}):
        with pytest.raises(DataError, match=f"^{re.escape(str(src))}:2: invalid JSON"):
            score_file(src, out, rewardlab.load("exact_match"), **kwargs)  # type: ignore[arg-type]
        assert [json.loads(line)["completion"] for line in out.read_bytes().splitlines()] == ["a"]
    score_file(src, out, rewardlab.load("exact_match"), workers=2, skip_bad_rows=True)
    assert [json.loads(line)["line"] for line in Path(str(out) + ".bad.jsonl").read_bytes().splitlines()] == [2]


def test_each_output_line_is_the_row_with_the_score_columns_encoded_as_one_object(tmp_path: Path) -> None:
    rows = [
        {"id": 1, "completion": "Paris", "reference": "paris", "meta": {"é": [1, 2.5, None]}},
        {"completion": "x", "reward": 7, "prompt": "p"},  # a column of that name already: replaced in place
        {"reward_status": "old", "completion": "y", "reference": "y"},
        {"completion": "z"},  # no reference: abstain, with a reason
        {"completion": "\u2028 line separator \\ \" quote", "reference": "x", "n": 1e300, "big": -(2**63)},
    ]
    src = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in rows], True)
    out = tmp_path / "out.jsonl"
    reward = rewardlab.load("exact_match")
    score_file(src, out, reward, progress=False)
    scores = reward.score(rows)
    lines = out.read_bytes().splitlines()
    assert len(lines) == len(rows)
    for line, row, score in zip(lines, rows, scores, strict=True):
        expected = {
            **row,
            "reward": score.value,
            "reward_status": score.status.value,
            "reward_reason": score.reason,
            "reward_components": dict(score.components),
            "reward_signature": score.signature,
        }
        assert line == orjson.dumps(expected)
