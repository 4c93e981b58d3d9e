"""`rewardlab score` end to end, as a real subprocess on real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def run(*args: str, check: bool = True, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    out = subprocess.run(
        [sys.executable, "-m", "rewardlab.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    if check and out.returncode != 0:
        raise AssertionError(f"exit {out.returncode}\nstdout: {out.stdout}\nstderr: {out.stderr}")
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


ROWS = [{"id": i, "response": f"answer {i % 7}", "gold": f"Answer {i % 5}", "meta": {"k": i}} for i in range(300)]


def test_jsonl_rows_keep_order_fields_and_gain_reward_columns(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    result = run(
        "score",
        str(src),
        "-r",
        "exact_match",
        "-o",
        str(out),
        "--completion-field",
        "response",
        "--reference-field",
        "gold",
    )
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == list(range(300))
    for r in rows:
        assert r["meta"] == {"k": r["id"]} and r["response"] == f"answer {r['id'] % 7}"
        expected = 1.0 if r["id"] % 7 == r["id"] % 5 else 0.0
        assert r["reward"] == expected
        assert r["reward_status"] == "ok"
        assert r["reward_signature"].startswith("exact_match|")
    assert "scored 300 rows" in result.stderr
    assert "\x1b[" not in result.stderr, "no progress bar when not on a terminal"


def test_parquet_in_parquet_out_and_workers(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(
        pa.Table.from_pylist([{"completion": r["response"], "reference": r["gold"], "id": r["id"]} for r in ROWS]), src
    )
    out1, out2 = tmp_path / "one.parquet", tmp_path / "two.parquet"
    run("score", str(src), "-r", "exact_match", "-o", str(out1))
    run("score", str(src), "-r", "exact_match", "-o", str(out2), "--workers", "2", "--batch-size", "40")
    t1, t2 = pq.read_table(out1), pq.read_table(out2)
    assert t1.to_pylist() == t2.to_pylist()
    assert t1.column("id").to_pylist() == list(range(300))
    assert set(t1.column_names) >= {"reward", "reward_status", "reward_reason", "reward_components", "reward_signature"}
    assert not (tmp_path / "one.parquet.parts").exists()


def test_jsonl_to_parquet_and_output_field_prefix(tmp_path: Path) -> None:
    src = write_jsonl(
        tmp_path / "in.jsonl", [{"completion": "a", "reference": "a"}, {"completion": "b", "reference": "c"}]
    )
    out = tmp_path / "out.parquet"
    run("score", str(src), "-r", "exact_match", "-o", str(out), "--output-field", "em")
    table = pq.read_table(out).to_pylist()
    assert [r["em"] for r in table] == [1.0, 0.0]
    assert [r["em_status"] for r in table] == ["ok", "ok"]


def test_non_ok_statuses_are_null_not_zero(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"completion": "a"}, {"completion": "a", "reference": "a"}])
    out = tmp_path / "out.jsonl"
    run("score", str(src), "-r", "exact_match", "-o", str(out))
    rows = read_jsonl(out)
    assert rows[0]["reward"] is None and rows[0]["reward_status"] == "abstain"
    assert rows[1]["reward"] == 1.0


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [("{not json", "invalid JSON"), ("[1, 2]", "expected a JSON object"), ('{"reference": "x"}', "field 'completion'")],
)
def test_malformed_row_stops_with_file_and_line_and_keeps_earlier_rows(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    good = [json.dumps({"completion": f"c{i}", "reference": f"c{i}"}) for i in range(5)]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([*good[:3], bad_line, *good[3:]]) + "\n")
    out = tmp_path / "out.jsonl"
    result = run("score", str(src), "-r", "exact_match", "-o", str(out), "--batch-size", "2", check=False)
    assert result.returncode == 1
    assert f"{src}:4" in result.stderr and message in result.stderr
    assert [r["completion"] for r in read_jsonl(out)] == ["c0", "c1", "c2"]
    # fix the row and resume: the final file equals a clean run
    src.write_text("\n".join([*good[:3], json.dumps({"completion": "fixed"}), *good[3:]]) + "\n")
    run("score", str(src), "-r", "exact_match", "-o", str(out), "--resume")
    assert [r["completion"] for r in read_jsonl(out)] == ["c0", "c1", "c2", "fixed", "c3", "c4"]


def test_skip_bad_rows_records_them(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"completion": "a", "reference": "a"}\nnot json\n\n{"completion": "b", "reference": "a"}\n')
    out = tmp_path / "out.jsonl"
    result = run("score", str(src), "-r", "exact_match", "-o", str(out), "--skip-bad-rows")
    assert [r["reward"] for r in read_jsonl(out)] == [1.0, 0.0]
    bad = read_jsonl(Path(str(out) + ".bad.jsonl"))
    assert len(bad) == 1 and bad[0]["line"] == 2 and bad[0]["raw"] == "not json"
    assert "1 bad rows skipped" in result.stderr


def test_unknown_reward_and_bad_param_exit_2(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"completion": "a"}])
    r1 = run("score", str(src), "-r", "exact_mach", "-o", str(tmp_path / "o.jsonl"), check=False)
    assert r1.returncode == 2 and "did you mean" in r1.stderr
    r2 = run(
        "score", str(src), "-r", "exact_match", "-p", "ignore_case=maybe", "-o", str(tmp_path / "o.jsonl"), check=False
    )
    assert r2.returncode == 2 and "ignore_case" in r2.stderr
    r3 = run(
        "score", str(tmp_path / "missing.jsonl"), "-r", "exact_match", "-o", str(tmp_path / "o.jsonl"), check=False
    )
    assert r3.returncode != 0 and "missing.jsonl" in r3.stderr


def _kill_midway(cmd: list[str], out: Path, min_rows: int, is_done) -> None:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "SLOW_PLUGIN_DELAY": "0.002"}
    proc = subprocess.Popen([sys.executable, "-m", "rewardlab.cli", *cmd], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if is_done(out, min_rows):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; the test proves nothing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()


def _jsonl_rows_at_least(out: Path, n: int) -> bool:
    return out.exists() and out.read_bytes().count(b"\n") >= n


def _parts_at_least(out: Path, n: int) -> bool:
    parts = Path(str(out) + ".parts")
    return parts.exists() and len(list(parts.glob("part-*.parquet"))) >= n


def test_resume_after_kill_9_equals_an_uninterrupted_run_jsonl(tmp_path: Path) -> None:
    rows = [{"id": i, "completion": "x" * (i % 13)} for i in range(1500)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    clean, crashed = tmp_path / "clean.jsonl", tmp_path / "crashed.jsonl"
    common = ["-I", "_slow_plugin", "score", str(src), "-r", "test_slow_len", "--batch-size", "25"]
    run(*common, "-o", str(clean))
    _kill_midway([*common, "-o", str(crashed)], crashed, 200, _jsonl_rows_at_least)
    partial = crashed.read_bytes().count(b"\n")
    assert 0 < partial < 1500
    run(*common, "-o", str(crashed), "--resume")
    assert crashed.read_bytes() == clean.read_bytes()


def test_resume_after_kill_9_equals_an_uninterrupted_run_parquet(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": i, "completion": "y" * (i % 11)} for i in range(1200)]), src)
    clean, crashed = tmp_path / "clean.parquet", tmp_path / "crashed.parquet"
    common = ["-I", "_slow_plugin", "score", str(src), "-r", "test_slow_len", "--batch-size", "25"]
    run(*common, "-o", str(clean))
    _kill_midway([*common, "-o", str(crashed)], crashed, 8, _parts_at_least)
    run(*common, "-o", str(crashed), "--resume")
    assert pq.read_table(crashed).to_pylist() == pq.read_table(clean).to_pylist()


def test_resume_refuses_an_output_from_another_reward(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"completion": "a", "reference": "a"}] * 3)
    out = tmp_path / "out.jsonl"
    run("score", str(src), "-r", "exact_match", "-o", str(out))
    result = run("score", str(src), "-r", "contains", "-o", str(out), "--resume", check=False)
    assert result.returncode == 2 and "cannot resume" in result.stderr


def test_list_shows_rewards_with_parameters() -> None:
    result = run("list", "--json")
    data = {r["name"]: r for r in json.loads(result.stdout)}
    assert data["exact_match"]["params"]["ignore_case"] is True
    assert data["math"]["description"]
    assert data["sql"]["task_fields"] == ["db", "db_id"] and data["exact_match"]["task_fields"] == []
    table = run("list").stdout
    assert "exact_match" in table and "overlong" in table


def test_readme_example_runs(tmp_path: Path) -> None:
    out = tmp_path / "scored.jsonl"
    run("score", "examples/math.jsonl", "-r", "math", "-o", str(out))
    rows = read_jsonl(out)
    assert rows and all(r["reward_status"] == "ok" for r in rows)
    assert {r["reward"] for r in rows} == {0.0, 1.0}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_group_by_keeps_contiguous_groups_in_one_batch(tmp_path: Path, workers: str) -> None:
    sizes = [3, 1, 4, 2, 5, 1, 3]
    rows = [{"group": g, "completion": "x"} for g, n in enumerate(sizes) for _ in range(n)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    grouped, plain = tmp_path / "grouped.jsonl", tmp_path / "plain.jsonl"
    common = ["-I", "_slow_plugin", "score", str(src), "-r", "test_group_size", "--batch-size", "2", "-w", workers]
    run(*common, "-o", str(grouped), "--group-by", "group")
    run(*common, "-o", str(plain))
    assert [r["reward"] for r in read_jsonl(grouped)] == [float(n) for n in sizes for _ in range(n)]
    assert [r["reward"] for r in read_jsonl(plain)] != [float(n) for n in sizes for _ in range(n)]


def test_resume_with_group_by_rescores_a_group_cut_by_the_crash(tmp_path: Path) -> None:
    sizes = [3, 4, 2, 5]
    rows = [{"group": g, "completion": "x"} for g, n in enumerate(sizes) for _ in range(n)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    clean, crashed = tmp_path / "clean.jsonl", tmp_path / "crashed.jsonl"
    common = ["-I", "_slow_plugin", "score", str(src), "-r", "test_group_size", "--group-by", "group"]
    run(*common, "-o", str(clean))
    # a crash that left the first group and half of the second one written
    lines = clean.read_text().splitlines(keepends=True)
    crashed.write_text("".join(lines[:5]))
    run(*common, "-o", str(crashed), "--resume")
    assert crashed.read_bytes() == clean.read_bytes()


def test_limit_scores_only_the_first_rows(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "completion": "a", "reference": "a"} for i in range(50)])
    out = tmp_path / "out.jsonl"
    run("score", str(src), "-r", "exact_match", "-o", str(out), "--limit", "7")
    assert [r["id"] for r in read_jsonl(out)] == list(range(7))


NORMALIZED_LENGTH = {"transform": "normalize", "of": {"reward": "length", "params": {"unit": "chars"}}}


def _normalized_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "normalized.json"
    spec.write_text(json.dumps({"combine": "sum", "terms": [NORMALIZED_LENGTH, {"reward": "exact_match"}]}))
    return spec


def test_a_reward_with_running_state_refuses_several_workers(tmp_path: Path) -> None:
    # each worker would normalise with its own statistics: the result would not be one run's
    src = write_jsonl(tmp_path / "in.jsonl", [{"completion": "x" * (i % 9)} for i in range(200)])
    out = tmp_path / "out.jsonl"
    spec = _normalized_spec(tmp_path)
    refused = run("score", str(src), "-r", str(spec), "-o", str(out), "-w", "2", "--batch-size", "20", check=False)
    assert refused.returncode == 2
    assert "cannot be scored with --workers 2: it keeps running state between batches" in refused.stderr
    assert not out.exists()
    run("score", str(src), "-r", str(spec), "-o", str(out), "--batch-size", "20")
    import rewardlab

    whole = rewardlab.load(spec)
    expected = [s.value for batch in range(10) for s in whole.score(read_jsonl(src)[batch * 20 : batch * 20 + 20])]
    assert [r["reward"] for r in read_jsonl(out)] == pytest.approx(expected)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_reward_with_running_state_refuses_to_resume_a_partial_output(tmp_path: Path, fmt: str) -> None:
    rows = [{"completion": "x" * (i % 9)} for i in range(60)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / f"out.{fmt}"
    spec = _normalized_spec(tmp_path)
    run("score", str(src), "-r", str(spec), "-o", str(out), "--batch-size", "20")

    def rows_of(path: Path) -> list[dict]:
        return read_jsonl(path) if fmt == "jsonl" else pq.read_table(path).to_pylist()

    clean = rows_of(out)
    if fmt == "jsonl":  # a crash after the first batch
        out.write_bytes(b"".join(out.read_bytes().splitlines(keepends=True)[:20]))
    else:
        parts = Path(f"{out}.parts")
        parts.mkdir()
        pq.write_table(pq.read_table(out).slice(0, 20), parts / "part-000000.parquet")
    partial = out.read_bytes()
    refused = run("score", str(src), "-r", str(spec), "-o", str(out), "--batch-size", "20", "--resume", check=False)
    assert refused.returncode == 2 and "cannot resume reward" in refused.stderr
    assert "statistics of the rows already written are not saved" in refused.stderr
    assert out.read_bytes() == partial  # nothing already written is lost
    # a fresh output with --resume is simply a first run
    fresh = tmp_path / f"fresh.{fmt}"
    run("score", str(src), "-r", str(spec), "-o", str(fresh), "--batch-size", "20", "--resume")
    assert rows_of(fresh) == clean
