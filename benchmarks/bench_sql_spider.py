"""rewardlab's `sql` reward next to Spider's official test-suite evaluator, on the Spider-compatibility rows.

The rows (tests/data/sql_spider_cases.jsonl) are one example per quirk of the official
evaluator that rewardlab does not reproduce, plus the column-order cases that
``column_order="ignore"`` does reproduce. They run on the small database in
tests/data/sql_spider_mini.sql. With ``--official`` pointing at a checkout of
taoyds/test-suite-sql-eval (Apache-2.0; needs ``pip install sqlparse tqdm``), its
``eval_exec_match`` (default flags: no --keep_distinct, no --plug_value) judges the same
pairs in the same run, and the table shows where the verdicts differ and why.

    python benchmarks/bench_sql_spider.py [--official /path/to/test-suite-sql-eval]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

import rewardlab

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def official_verdicts(checkout: Path, db: Path, rows: list[dict]) -> list[int]:
    sys.path.insert(0, str(checkout))
    from exec_eval import eval_exec_match  # the official evaluator's own function

    return [
        eval_exec_match(
            str(db),
            r["prediction"],
            r["reference"],
            plug_value=False,
            keep_distinct=False,
            progress_bar_for_each_datapoint=False,
        )
        for r in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=None, help="checkout of taoyds/test-suite-sql-eval")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (DATA / "sql_spider_cases.jsonl").read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "concert_singer.sqlite"
        conn = sqlite3.connect(db)
        conn.executescript((DATA / "sql_spider_mini.sql").read_text())
        conn.close()
        samples = [{"completion": r["prediction"], "reference": r["reference"], "db": str(db)} for r in rows]
        position = rewardlab.load("sql").score(samples)
        ignore = rewardlab.load("sql", column_order="ignore").score(samples)
        official = official_verdicts(args.official, db, rows) if args.official else [None] * len(rows)
    print("| row | rewardlab (position) | rewardlab (column_order=ignore) | test-suite-sql-eval | recorded |")
    print("|---|---|---|---|---|")
    mismatched = 0
    for row, a, b, c in zip(rows, position, ignore, official, strict=True):
        shown = "-" if c is None else str(c)
        ok = c is None or c == row["test_suite_eval"]
        mismatched += not ok
        recorded = f"{row['test_suite_eval']}{'' if ok else ' (differs)'}"
        print(f"| {row['id']} | {a.value:g} | {b.value:g} | {shown} | {recorded} |")
    if args.official:
        print(f"\nofficial verdicts that differ from the recorded ones: {mismatched}")
    else:
        print("\n(no --official checkout given: the last column shows the recorded official verdicts only)")


if __name__ == "__main__":
    main()
