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
from rewardlab._job import score_file

ray = pytest.importorskip("ray")

from rewardlab.ray import RewardActorPool  # noqa: E402

TESTS = Path(__file__).parent


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


def test_score_job_on_ray_equals_the_local_job_on_10000_gsm8k_rows(local_ray, shared_data, tmp_path):
    with (shared_data / "gsm8k" / "model_solutions_labeled.jsonl").open() as handle:
        solutions = [json.loads(line) for line in handle]
    rows = [dict(solutions[i % len(solutions)], id=i) for i in range(10_000)]
    data = _rows(tmp_path / "in.jsonl", rows)
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    reward = rewardlab.load("math")
    score_file(data, local, reward, chunk_rows=1000)
    with RewardActorPool(reward, num_actors=2) as pool:
        summary = score_file(data, remote, reward, chunk_rows=1000, batch_executor=pool)
    assert summary.rows == 10_000
    assert remote.read_bytes() == local.read_bytes()  # same values, statuses, order


def test_cli_ray_on_the_example(local_ray, tmp_path):
    root = TESTS.parent
    example = root / "examples" / "math.jsonl"
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    base = [sys.executable, "-m", "rewardlab", "score", str(example), "-r", "math", "--no-progress"]
    assert subprocess.run([*base, "-o", str(local)], capture_output=True, timeout=300).returncode == 0
    proc = subprocess.run(
        [*base, "-o", str(remote), "--ray", "--ray-address", "auto", "--actors", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert remote.read_bytes() == local.read_bytes()


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
