"""The worker pool: deadlines enforced from outside, memory caps, crashes, from every calling context."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import _misbehaving as bad
from rewardlab import Status
from rewardlab.runtime import CallResult, WorkerPool

DEADLINE = 1.0
SLACK = 1.0  # the contract: a status within deadline + 1 s


def _from_main(pool: WorkerPool, fn: Callable[..., Any], *args: Any) -> CallResult:
    return pool.call(fn, *args, timeout=DEADLINE)


def _from_thread(pool: WorkerPool, fn: Callable[..., Any], *args: Any) -> CallResult:
    box: list[CallResult] = []
    thread = threading.Thread(target=lambda: box.append(pool.call(fn, *args, timeout=DEADLINE)))
    thread.start()
    thread.join()
    return box[0]


def _from_asyncio(pool: WorkerPool, fn: Callable[..., Any], *args: Any) -> CallResult:
    async def main() -> CallResult:
        ticker = asyncio.create_task(asyncio.sleep(0))  # the loop must stay responsive meanwhile
        result = await pool.acall(fn, *args, timeout=DEADLINE)
        assert ticker.done()
        return result

    return asyncio.run(main())


CONTEXTS = {"main": _from_main, "thread": _from_thread, "asyncio": _from_asyncio}
MISBEHAVIOUR = {
    "infinite_loop": (bad.spin_forever, Status.TIMEOUT, "deadline"),
    "memory_hog": (bad.hog_memory, Status.ERROR, "memory"),
    "hard_crash": (bad.crash_hard, Status.ERROR, "exit code 7"),
    "segfault": (bad.segfault, Status.ERROR, "signal"),
}


@pytest.fixture(scope="module")
def small_pool():
    with WorkerPool(2, timeout=DEADLINE, memory_mb=1024) as p:
        assert p.call(bad.add, 1, 1).value == 2  # warm up outside the measured calls
        yield p


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("case", MISBEHAVIOUR)
def test_misbehaving_work_gets_its_status_within_deadline(small_pool: WorkerPool, context: str, case: str) -> None:
    fn, status, reason_part = MISBEHAVIOUR[case]
    start = time.monotonic()
    result = CONTEXTS[context](small_pool, fn)
    elapsed = time.monotonic() - start
    assert result.status is status, result
    assert reason_part in result.reason
    assert result.value is None
    assert elapsed < DEADLINE + SLACK, f"{case} from {context} took {elapsed:.2f}s"
    # the pool keeps serving, in the same context
    assert CONTEXTS[context](small_pool, bad.add, 2, 3).value == 5


def test_killed_worker_is_replaced_and_pids_change(small_pool: WorkerPool) -> None:
    before = {small_pool.call(bad.my_pid).value for _ in range(4)}
    assert small_pool.call(bad.spin_forever, timeout=0.3).status is Status.TIMEOUT
    after = {small_pool.call(bad.my_pid).value for _ in range(6)}
    assert after, "pool stopped serving"
    assert len(before | after) > len(before), "no worker was replaced"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild-started"
    with WorkerPool(1, timeout=1.0) as pool:
        result = pool.call(bad.spawn_sleeper, str(marker), timeout=1.0)
        assert result.status is Status.TIMEOUT
    assert marker.exists(), "the grandchild never ran, so the test proves nothing"
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "time.sleep(60)" not in out, "a grandchild of the killed worker survived"


def test_exceptions_are_errors_with_the_message(small_pool: WorkerPool) -> None:
    result = small_pool.call(int, "not a number")
    assert result.status is Status.ERROR
    assert "ValueError" in result.reason


def test_unpicklable_call_is_an_error_and_the_worker_survives(small_pool: WorkerPool) -> None:
    result = small_pool.call(bad.add, threading.Lock(), 1)
    assert result.status is Status.ERROR
    assert small_pool.call(bad.add, 1, 2).value == 3


def test_parallel_calls_use_all_workers() -> None:
    with WorkerPool(2, timeout=5.0) as pool:
        pool.map(bad.add, [(1, 1), (2, 2)])  # start both workers
        start = time.monotonic()
        results = pool.map(bad.sleep_then, [(i, 0.5) for i in range(4)])
        elapsed = time.monotonic() - start
    assert [r.value for r in results] == [0, 1, 2, 3]
    assert elapsed < 1.9, f"4 x 0.5s on 2 workers took {elapsed:.2f}s"


def test_closed_pool_refuses_calls() -> None:
    from rewardlab.runtime import PoolClosed

    pool = WorkerPool(1)
    pool.close()
    with pytest.raises(PoolClosed):
        pool.call(bad.add, 1, 1)


@pytest.mark.parametrize("bad_args", [{"workers": 0}, {"timeout": 0}, {"timeout": -1}])
def test_invalid_pool_parameters(bad_args: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WorkerPool(**bad_args)


def test_isolated_reward_statuses_through_score(small_pool: WorkerPool) -> None:
    reward = bad.misbehave
    samples = [{"completion": c} for c in ["ok", "loop", "hog", "crash", "raise", "ok"]]
    start = time.monotonic()
    scores = reward.score(samples, pool=small_pool)
    assert time.monotonic() - start < 2 * (DEADLINE + SLACK)
    assert [s.status for s in scores] == [
        Status.OK,
        Status.TIMEOUT,
        Status.ERROR,
        Status.ERROR,
        Status.ERROR,
        Status.OK,
    ]
    assert [s.value for s in scores] == [1.0, None, None, None, None, 1.0]
    assert "verifier bug" in scores[4].reason


def test_isolated_reward_from_asyncio_does_not_block_the_loop(small_pool: WorkerPool) -> None:
    async def main() -> tuple[list[Any], int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        scores = await bad.misbehave.ascore([{"completion": "loop"}, {"completion": "ok"}], pool=small_pool)
        ticker.cancel()
        return scores, ticks

    scores, ticks = asyncio.run(main())
    assert [s.status for s in scores] == [Status.TIMEOUT, Status.OK]
    assert ticks >= 5, "the event loop was blocked while the reward ran"


def test_no_state_leaks_between_calls_on_the_same_worker() -> None:
    with WorkerPool(1, timeout=5.0, max_tasks_per_worker=1) as pool:
        first = pool.call(bad.my_pid).value
        second = pool.call(bad.my_pid).value
    assert first != second, "max_tasks_per_worker=1 must give every call a fresh worker"


def _run_script(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "user_script.py"
    script.write_text(source)
    marker = tmp_path / "runs.log"
    return subprocess.run(
        [sys.executable, str(script), str(marker)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


def test_workers_do_not_rerun_an_unguarded_calling_script(tmp_path: Path) -> None:
    """A training script without a __main__ guard must not be re-executed by every worker."""
    result = _run_script(
        tmp_path,
        "import sys, os\n"
        "open(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\n"
        "import rewardlab\n"
        "s = rewardlab.load('math').score([{'completion': '\\\\boxed{1/2}', 'reference': '0.5'}])[0]\n"
        "print(s.status.value, s.value)\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "1.0"]
    assert len((tmp_path / "runs.log").read_text().split()) == 1, "the script ran again in a worker"


def test_an_isolated_reward_defined_in_the_calling_script_runs_in_workers(tmp_path: Path) -> None:
    result = _run_script(
        tmp_path,
        "import os, sys\n"
        "from rewardlab import reward\n"
        "@reward(name='script_defined', isolated=True, timeout=5)\n"
        "def script_defined(sample):\n"
        "    return float(os.getpid() != int(sample.completion_text))\n"
        "if __name__ == '__main__':\n"
        "    s = script_defined.score([{'completion': str(os.getpid())}])[0]\n"
        "    print(s.status.value, s.value)\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "1.0"], "scored in another process"
