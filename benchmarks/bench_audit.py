"""Audit time for 1,000 GSM8K rows with all probes, beside rewardlint on the same rewards.

rewardlint (PyPI, "find out what your RLVR reward function actually accepts") runs a fixed
corpus of hand-written cases through a reward function, one call per case, in process.
rewardlab generates its probes per data row and scores them in large batches through the
runtime (worker processes with deadlines). The comparable number is samples scored per second
on the same reward; what each tool finds is printed beside it.

    python benchmarks/bench_audit.py [--rows 1000] [--rewards contains,math]

rewardlint is optional: ``pip install rewardlint`` to run its column.

Prints BENCHMARKS.md's audit table. In-sample corpora are marked: the ``math`` reward was
developed against GSM8K (tests/test_audit_gsm8k.py asserts its probe rates on these rows)
and against rewardlint's corpus (its negated-answer and unit cases), so its rates there
show that it fits them, not how it does on unseen attacks.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import rewardlab
from rewardlab import FieldMap
from rewardlab.audit import AuditFields, audit

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k" / "test.jsonl"
TUNED_ON = {"math": {"gsm8k", "rewardlint"}}
"""Corpora each reward was developed against: its results there are marked in-sample."""


def _corpus(reward: str, corpus: str) -> str:
    return " (in-sample)" if corpus in TUNED_ON.get(reward, set()) else ""


def _rewardlab(name: str, rows: int) -> dict[str, float | str]:
    fields = AuditFields(fields=FieldMap(prompt="question", reference="answer"))
    started = time.perf_counter()
    report = audit(rewardlab.load(name), DATA, fields=fields, limit=rows)
    seconds = time.perf_counter() - started
    top = max(p["false_positive_rate"] or 0.0 for p in report.probes)
    worst = sorted(p["name"] for p in report.probes if (p["false_positive_rate"] or 0.0) == top)
    samples = report.document["timing"]["samples_scored"]
    return {
        "seconds": seconds,
        "samples": samples,
        "rate": samples / seconds,
        "finding": f"worst probe FPR {100 * top:.1f}% ({', '.join(worst)})",
    }


def _rewardlint(name: str) -> dict[str, float | str] | None:
    try:
        import rewardlint
    except ImportError:
        return None
    reward = rewardlab.load(name)

    def reward_fn(completion: str, reference: str) -> float:
        score = reward.score([{"completion": completion, "reference": reference}])[0]
        return score.value if score.value is not None else 0.0

    started = time.perf_counter()
    result = rewardlint.audit(reward_fn, name=name)
    seconds = time.perf_counter() - started
    samples = len(result.outcomes) + len(result.contested)
    return {
        "seconds": seconds,
        "samples": samples,
        "rate": samples / seconds,
        "finding": (
            f"FPR {100 * result.false_positive_rate:.1f}%, FNR {100 * result.false_negative_rate:.1f}% on its corpus"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rewards", default="contains,math")
    args = parser.parse_args()
    print(f"Load average (1, 5, 15 min) at the start: {_load()}.\n")
    print(f"Machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}.\n")
    print("| reward | tool | samples | seconds | samples/s | finding |")
    print("|---|---|---:|---:|---:|---|")
    for name in args.rewards.split(","):
        ours = _rewardlab(name, args.rows)
        peer = _rewardlint(name)
        print(
            f"| `{name}` | rewardlab audit ({args.rows:,} GSM8K rows{_corpus(name, 'gsm8k')}, all probes) "
            f"| {ours['samples']:,} | {ours['seconds']:.1f} | {ours['rate']:,.0f} | {ours['finding']} |"
        )
        if peer is None:
            print(f"| `{name}` | rewardlint | not installed (pip install rewardlint) | | | |")
            continue
        print(
            f"| `{name}` | rewardlint (its corpus{_corpus(name, 'rewardlint')}) | {peer['samples']:,} "
            f"| {peer['seconds']:.2f} | {peer['rate']:,.0f} | {peer['finding']} |"
        )
        print(f"| `{name}` | ratio of samples/s (rewardlab / rewardlint) | | | {ours['rate'] / peer['rate']:.1f}x | |")


def _load() -> str:
    """The machine's load average: these numbers come from a shared machine."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
    print(f"\nLoad average (1, 5, 15 min) at the end: {_load()}.")
