"""rewardlab on a local Ray (no network): the score job on actors, the actor pool's failure semantics."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import _ray_rewards  # noqa: F401  (registers the test rewards)
import rewardlab
from rewardlab import Status
from rewardlab._io import DataError
from rewardlab._job import score_file

ray = pytest.importorskip("ray")

from rewardlab.ray import RewardActorPool, score_file_on_ray  # noqa: E402
from rewardlab.ray._data import ACTOR_RETRIES  # noqa: E402

TESTS = Path(__file__).parent
ROOT = TESTS.parent


@pytest.fixture(scope="module")
def local_ray():
    # fractional CPUs per actor (0.5) on 2 declared CPUs: actors never wait on each other for cores
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}},
    )
    yield
    ray.shutdown()


def _rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _gsm8k(shared_data: Path, count: int) -> list[dict]:
    with (shared_data / "gsm8k" / "model_solutions_labeled.jsonl").open() as handle:
        solutions = [json.loads(line) for line in handle]
    return [dict(solutions[i % len(solutions)], id=i) for i in range(count)]


# -- the score job on Ray Data ---------------------------------------------------------------


def test_ray_data_job_equals_the_local_job_on_10000_gsm8k_rows(local_ray, shared_data, tmp_path):
    data = _rows(tmp_path / "in.jsonl", _gsm8k(shared_data, 10_000))
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    reward = rewardlab.load("math")
    score_file(data, local, reward, chunk_rows=1000)
    summary = score_file_on_ray(data, remote, reward, chunk_rows=1000, actors=2)
    assert summary.rows == 10_000
    assert summary.statuses == score_file(data, tmp_path / "again.jsonl", reward, chunk_rows=1000).statuses
    assert remote.read_bytes() == local.read_bytes()  # same values, statuses, reasons, order: the same bytes


def test_cli_ray_on_the_example_equals_the_local_job_and_shows_progress(local_ray, tmp_path):
    example = ROOT / "examples" / "math.jsonl"
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    base = [sys.executable, "-m", "rewardlab", "score", str(example), "-r", "math"]
    assert subprocess.run([*base, "-o", str(local), "--no-progress"], capture_output=True, timeout=300).returncode == 0
    proc = subprocess.run(
        [
            *base,
            "-o",
            str(remote),
            "--ray",
            "--ray-address",
            "auto",
            "--actors",
            "2",
            "--batch-size",
            "3",
            "--progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert remote.read_bytes() == local.read_bytes()
    assert "scoring" in proc.stderr  # the job's progress bar
    assert f"scored {len(example.read_text().splitlines())} rows" in proc.stderr


@pytest.mark.parametrize("out_format", ["jsonl", "parquet"])
def test_ray_data_job_reads_parquet_like_the_local_job(local_ray, tmp_path, out_format):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rows = [json.loads(line) for line in (ROOT / "examples" / "math.jsonl").read_text().splitlines()]
    rows = [dict(rows[i % len(rows)], n=i, weight=i / 7) for i in range(60)]
    data = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data, row_group_size=16)  # batches cross row groups
    local, remote = tmp_path / f"local.{out_format}", tmp_path / f"ray.{out_format}"
    reward = rewardlab.load("math")
    score_file(data, local, reward, chunk_rows=25)
    score_file_on_ray(data, remote, reward, chunk_rows=25, actors=2)
    if out_format == "jsonl":
        assert remote.read_bytes() == local.read_bytes()
    else:
        assert pq.read_table(remote).equals(pq.read_table(local))
        assert pq.ParquetFile(remote).metadata.num_row_groups == pq.ParquetFile(local).metadata.num_row_groups


def test_ray_data_job_builds_a_resident_reward_once_per_actor_never_in_the_driver(local_ray, tmp_path):
    log = tmp_path / "setups.log"
    data = _rows(tmp_path / "in.jsonl", [{"completion": "a" * (i % 30), "id": i} for i in range(300)])
    summary = score_file_on_ray(
        data, tmp_path / "out.jsonl", rewardlab.load("ray_counted", log=str(log)), chunk_rows=20
    )
    assert summary.rows == 300
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["reward"] for r in written] == [float(i % 30) for i in range(300)]
    pids = {int(line.split()[1]) for line in log.read_text().splitlines()}
    assert len(log.read_text().splitlines()) == 2  # two actors, fifteen batches: each built its reward once
    assert os.getpid() not in pids


def test_an_actor_killed_mid_job_is_retried_then_its_batch_is_error_rows_never_lost(local_ray, tmp_path):
    rows = [{"completion": "x" * (i % 5 + 1), "id": i} for i in range(40)]
    rows[17]["completion"] = "die"  # kills every actor that scores it
    rows[32]["completion"] = f"die:{tmp_path / 'died-once'}"  # kills the first actor only: the retry scores it
    data = _rows(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    summary = score_file_on_ray(data, out, rewardlab.load("ray_faulty"), chunk_rows=10, actors=2)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in written] == list(range(40))  # every row, once, in order
    statuses = [r["reward_status"] for r in written]
    assert statuses[10:20] == ["error"] * 10  # the batch that killed its actor each time
    assert f"died {1 + ACTOR_RETRIES} times" in written[17]["reward_reason"]
    assert statuses[:10] + statuses[20:] == ["ok"] * 30
    assert summary.statuses == {"ok": 30, "error": 10}
    # a transient death: the batch is scored again, and nothing shows but the right values
    again = tmp_path / "again.jsonl"
    score_file_on_ray(data, again, rewardlab.load("ray_dies_once"), chunk_rows=10, actors=2)
    rescored = [json.loads(line) for line in again.read_text().splitlines()]
    assert (tmp_path / "died-once").exists()
    assert [r["reward_status"] for r in rescored] == ["ok"] * 40
    assert [r["reward"] for r in rescored] == [float(len(r["completion"])) for r in rows]


def test_ray_data_job_resumes_where_the_local_job_would(local_ray, shared_data, tmp_path):
    rows = [json.dumps(r) for r in _gsm8k(shared_data, 500)]
    rows[130] = "{not json"
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(rows) + "\n")
    reward = rewardlab.load("math")
    local = tmp_path / "local.jsonl"
    score_file(data, local, reward, chunk_rows=64, skip_bad_rows=True)
    whole = local.read_bytes()
    lines = whole.splitlines(keepends=True)
    out = tmp_path / "ray.jsonl"
    out.write_bytes(b"".join(lines[:200]) + lines[200][:37])  # a crash mid-line, after the bad row
    bad_log = tmp_path / "ray.jsonl.bad.jsonl"
    bad_log.write_bytes((tmp_path / "local.jsonl.bad.jsonl").read_bytes())
    summary = score_file_on_ray(data, out, reward, chunk_rows=64, resume=True, skip_bad_rows=True)
    assert summary.resumed_from == 200
    assert summary.rows == 299
    assert out.read_bytes() == whole
    assert bad_log.read_bytes() == (tmp_path / "local.jsonl.bad.jsonl").read_bytes()


def test_a_bad_line_stops_the_ray_job_where_the_local_job_stops(local_ray, tmp_path):
    rows = [json.dumps({"completion": f"\\boxed{{{i}}}", "reference": str(i % 3), "id": i}) for i in range(50)]
    rows[22] = '{"completion": "\\boxed{1}", "reference": "1"'  # line 23: cut short
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(rows) + "\n")
    reward = rewardlab.load("math")
    with pytest.raises(DataError) as local_error:
        score_file(data, tmp_path / "local.jsonl", reward, chunk_rows=10)
    with pytest.raises(DataError) as ray_error:
        score_file_on_ray(data, tmp_path / "ray.jsonl", reward, chunk_rows=10)
    assert str(ray_error.value) == str(local_error.value)
    assert str(ray_error.value).startswith(f"{data}:23: invalid JSON")
    written = (tmp_path / "ray.jsonl").read_bytes()
    assert written == (tmp_path / "local.jsonl").read_bytes()
    assert len(written.splitlines()) == 22  # every row before it
    # skipped instead: the same bad-row log as the local job's
    score_file(data, tmp_path / "local2.jsonl", reward, chunk_rows=10, skip_bad_rows=True)
    score_file_on_ray(data, tmp_path / "ray2.jsonl", reward, chunk_rows=10, skip_bad_rows=True)
    assert (tmp_path / "ray2.jsonl").read_bytes() == (tmp_path / "local2.jsonl").read_bytes()
    assert (tmp_path / "ray2.jsonl.bad.jsonl").read_bytes() == (tmp_path / "local2.jsonl.bad.jsonl").read_bytes()


def test_ray_data_job_keeps_groups_whole_and_honours_limit(local_ray, tmp_path):
    rows = [{"completion": "y" * (i % 7), "group": i // 3, "id": i} for i in range(90)]
    data = _rows(tmp_path / "in.jsonl", rows)
    reward = rewardlab.load("ray_counted", log=str(tmp_path / "log"))
    for options in ({"group_by": "group"}, {"limit": 41}):
        local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
        score_file(data, local, reward, chunk_rows=8, **options)
        score_file_on_ray(data, remote, reward, chunk_rows=8, **options)
        assert remote.read_bytes() == local.read_bytes(), options


def test_ray_data_job_refuses_what_it_cannot_do(local_ray, tmp_path):
    data = _rows(tmp_path / "in.jsonl", [{"completion": "a"}])
    with pytest.raises(ValueError, match="need 20.1 CPUs, but the Ray cluster has 2"):
        score_file_on_ray(data, tmp_path / "out.jsonl", rewardlab.load("exact_match"), actors=20, actor_cpus=1)
    spec = {"transform": "normalize", "of": {"reward": "exact_match"}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="cannot be scored on Ray: it keeps running state"):
        score_file_on_ray(data, tmp_path / "out.jsonl", rewardlab.load(tmp_path / "spec.json"))


# -- the actor pool (Ray-based trainers; the score job's batch executor) ----------------------------


def test_an_actor_that_dies_mid_job_fails_its_batch_never_loses_a_row(local_ray, tmp_path):
    rows = [{"completion": "x" * (i % 5 + 1), "id": i} for i in range(40)]
    rows[17]["completion"] = "die"
    data = _rows(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    with RewardActorPool(rewardlab.load("ray_faulty"), num_actors=2) as pool:
        summary = score_file(data, out, rewardlab.load("ray_faulty"), chunk_rows=10, batch_executor=pool)
        assert pool.replaced == 1
        after = pool.score([{"completion": "abc"}])  # the replacement actor serves
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in written] == list(range(40))  # every row, in order
    statuses = [r["reward_status"] for r in written]
    assert statuses[10:20] == ["error"] * 10  # the dead actor's batch
    assert "Ray actor died" in written[17]["reward_reason"]
    assert statuses[:10] == statuses[20:30] == ["ok"] * 10
    assert summary.statuses == {"ok": 30, "error": 10}
    assert after[0].value == 3.0


def test_a_hung_actor_is_killed_at_the_deadline_and_replaced(local_ray):
    with RewardActorPool(rewardlab.load("ray_faulty"), num_actors=1, timeout=3.0) as pool:
        scores = pool.score([{"completion": "ok"}, {"completion": "hang"}, {"completion": "fine"}], batch_size=1)
        assert [s.status for s in scores] == [Status.OK, Status.TIMEOUT, Status.OK]
        assert "did not answer within 3s" in scores[1].reason
        assert pool.replaced == 1


def test_resident_reward_is_set_up_once_per_actor_never_in_the_driver(local_ray, tmp_path):
    log = tmp_path / "setups.log"
    reward = rewardlab.load("ray_counted", log=str(log))
    with RewardActorPool(reward, num_actors=2) as pool:
        for _ in range(3):
            scores = pool.score([{"completion": "a" * n} for n in range(50)], batch_size=5)
            assert [s.value for s in scores] == [float(n) for n in range(50)]
        pids = set(pool.actor_pids())
    setups = [line.split() for line in log.read_text().splitlines()]
    assert len(setups) == 2  # once per actor, across three calls of ten batches
    assert {int(pid) for _, pid in setups} == pids
    assert os.getpid() not in pids


def test_async_api(local_ray):
    async def main() -> list[float | None]:
        with RewardActorPool(rewardlab.load("exact_match"), num_actors=2) as pool:
            scores = await pool.ascore([{"completion": "a", "reference": "a"}, {"completion": "b", "reference": "c"}])
        return [s.value for s in scores]

    assert asyncio.run(main()) == [1.0, 0.0]


def test_verl_adapter_scores_through_the_pool(local_ray):
    from rewardlab.integrations.verl import compute_score_batch

    with RewardActorPool(rewardlab.load("math"), num_actors=2) as pool:
        values = compute_score_batch(
            data_sources=["gsm8k"] * 4,
            solution_strs=["\\boxed{4}", "\\boxed{5}", "so 4", "\\boxed{4.0}"],
            ground_truths=["4"] * 4,
            reward=pool,
        )
    assert values == [1.0, 0.0, 1.0, 1.0]


def test_cli_refuses_ray_options_without_ray_and_workers_with_it(tmp_path):
    data = _rows(tmp_path / "in.jsonl", [{"completion": "a", "reference": "a"}])
    base = [sys.executable, "-m", "rewardlab", "score", str(data), "-r", "exact_match", "-o", str(tmp_path / "o.jsonl")]
    for extra, message in (
        (["--actors", "3"], "--actors needs --ray"),
        (["--actor-gpus", "1"], "--actor-gpus needs --ray"),
        (["--ray", "--workers", "2"], "--workers is for the local job; with --ray use --actors"),
    ):
        proc = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr
    assert not (tmp_path / "o.jsonl").exists()
