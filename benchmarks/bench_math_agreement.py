"""Agreement with Math-Verify's newer test files: rewardlab's `math` reward and math-verify itself.

Each row of ``../shared/data/math-verify-cases/newer_cases.jsonl`` is a (gold, pred,
expected) assertion from one of Math-Verify's test files. ``verify`` rows say
whether pred equals gold; ``parse`` rows say which value ``parse(pred)`` must
return, read here as "pred equals that value" (expected 1). rewardlab scores
``completion=pred`` against ``reference=gold`` (with ``strict`` as the test
set it); math-verify (the installed
release) runs the comparison the test used (``config``: ``compare_strings`` =
LaTeX with boxed priority 0 plus expressions, float rounding 6; ``expr`` =
expressions only; ``default`` = parse/verify defaults), in this process.

Prints one table per test file, then every row where rewardlab disagrees with
the expected label, with its score's reason.

    python benchmarks/bench_math_agreement.py [--data ../shared/data/math-verify-cases/newer_cases.jsonl]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path

import rewardlab
from rewardlab import Sample

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "math-verify-cases" / "newer_cases.jsonl"


def math_verify_says(row: dict) -> bool:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    if row["config"] == "compare_strings":
        targets = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
        gold, pred = parse(row["gold"], targets), parse(row["pred"], targets)
        return bool(verify(gold, pred, float_rounding=6, strict=row["strict"]))
    pred_targets = [ExprExtractionConfig()] if row["config"] == "expr" else None
    pred = parse(row["pred"], pred_targets) if pred_targets else parse(row["pred"])
    gold = parse(row["gold"], [ExprExtractionConfig()]) if row["kind"] == "parse" else None
    if gold is None:
        gold = parse(row["gold"], pred_targets) if pred_targets else parse(row["gold"])
    return bool(verify(gold, pred))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    # the reward's strict parameter set as each test set math-verify's
    scores = [
        rewardlab.load("math", strict=bool(r["strict"])).score_one(Sample(completion=r["pred"], reference=r["gold"]))
        for r in rows
    ]
    peer = []
    for row in rows:
        try:
            peer.append(math_verify_says(row))
        except Exception:  # a crash of the peer counts as "not equal", as its own tests would fail
            peer.append(False)

    by_file: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    wrong = []
    for row, score, theirs in zip(rows, scores, peer, strict=True):
        expected = bool(row["expected"])
        ours = score.value == 1.0
        by_file[row["file"]].append((ours == expected, theirs == expected))
        if ours != expected:
            wrong.append((row, score))
    print(f"math-verify {version('math-verify')} (installed); rewardlab {rewardlab.__version__}\n")
    print("| test file | rows | rewardlab agrees | math-verify agrees |")
    print("|---|---|---|---|")
    for name, marks in sorted(by_file.items()):
        print(f"| {name} | {len(marks)} | {sum(m[0] for m in marks)} | {sum(m[1] for m in marks)} |")
    total = [m for marks in by_file.values() for m in marks]
    print(f"| **all** | {len(total)} | **{sum(m[0] for m in total)}** | **{sum(m[1] for m in total)}** |")
    print(f"\nrewardlab disagrees with the label on {len(wrong)} rows:")
    for row, score in wrong:
        print(
            f"- #{row['id']} {row['file']} {row['test']}: gold {row['gold'][:50]!r} pred {row['pred'][:60]!r} "
            f"expected {row['expected']}; rewardlab {score.status.value} {score.value} ({(score.reason or '')[:100]})"
        )


if __name__ == "__main__":
    main()
