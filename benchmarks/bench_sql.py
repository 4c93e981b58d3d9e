"""Execution-match throughput: rewardlab's guarded `sql` reward against plain sqlite3.

Builds a SQLite database (customers, orders, products), generates N (prediction,
reference) pairs from query templates (about half equivalent rewrites, half wrong),
and scores them, in the same run, with:

* ``naive``: plain ``sqlite3`` on one shared connection, ``fetchall`` both queries,
  compare ``set(pred) == set(ref)`` (what many training scripts do: no read-only
  mode, no deadline, no caps, no multiset or ORDER BY semantics);
* ``guarded-inline``: ``rewardlab.load("sql").run_inline`` (every guard: read-only URI,
  authorizer, progress-handler deadline, row/memory caps, exact comparison
  semantics; no process boundary);
* ``sql-pool``: ``rewardlab.load("sql").score(samples, pool=WorkerPool(2))``, what a
  trainer calls: each sample in a worker process with a hard deadline.

Two workloads: every pair with its own reference (``distinct``) and GRPO-style groups
of 8 completions sharing one reference (``grouped``), where rewardlab runs the
reference once per group. Prints BENCHMARKS.md's sql table, and asserts what it states:
the inline and pooled scorers give the same verdicts. Each prediction is an equivalent
rewrite or a wrong query by construction, so both scorers' agreement with that label is
printed too (the templates were written for this benchmark, not taken from the tests).

    python benchmarks/bench_sql.py --pairs 3000
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rewardlab
from rewardlab import Sample
from rewardlab.runtime import WorkerPool

CITIES = ["Oslo", "Rome", "Lima", "Pune", "Kyiv", "Doha", "Cork", "Bern"]
STATUSES = ["open", "paid", "shipped", "returned"]


def build_database(path: Path, rows: int, seed: int = 0) -> Path:
    rnd = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT, city TEXT, age INTEGER, score REAL);
        CREATE TABLE product (id INTEGER PRIMARY KEY, title TEXT, price REAL, stock INTEGER);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, product_id INTEGER,
                             quantity INTEGER, status TEXT);
        CREATE INDEX orders_customer ON orders(customer_id);
        """
    )
    conn.executemany(
        "INSERT INTO customer VALUES (?, ?, ?, ?, ?)",
        [(i, f"c{i}", rnd.choice(CITIES), rnd.randint(18, 80), round(rnd.random() * 100, 2)) for i in range(rows)],
    )
    conn.executemany(
        "INSERT INTO product VALUES (?, ?, ?, ?)",
        [(i, f"p{i}", round(rnd.random() * 50, 2), rnd.randint(0, 500)) for i in range(rows // 10)],
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
        [
            (i, rnd.randrange(rows), rnd.randrange(rows // 10), rnd.randint(1, 9), rnd.choice(STATUSES))
            for i in range(rows * 2)
        ],
    )
    conn.commit()
    conn.close()
    return path


def make_pair(rnd: random.Random) -> tuple[str, list[str]]:
    """A reference query and a pool of predictions for it (equivalent ones first, then wrong ones)."""
    city = rnd.choice(CITIES)
    age = rnd.randint(20, 70)
    status = rnd.choice(STATUSES)
    kind = rnd.randrange(5)
    if kind == 0:
        ref = f"SELECT name FROM customer WHERE city = '{city}' AND age > {age}"
        good = [f"SELECT c.name AS n FROM customer c WHERE c.age > {age} AND c.city = '{city}'"]
        bad = [
            f"SELECT name FROM customer WHERE city = '{city}' AND age >= {age}",
            f"SELECT name, age FROM customer WHERE city = '{city}' AND age > {age}",
        ]
    elif kind == 1:
        ref = f"SELECT city, count(*) FROM customer WHERE age < {age} GROUP BY city"
        good = [f"SELECT city, count(id) FROM customer WHERE NOT age >= {age} GROUP BY 1 ORDER BY 2"]
        bad = [
            f"SELECT count(*), city FROM customer WHERE age < {age} GROUP BY city",
            "SELECT city, count(*) FROM customer GROUP BY city",
        ]
    elif kind == 2:
        join = "FROM customer c JOIN orders o ON o.customer_id = c.id"
        ref = f"SELECT DISTINCT c.name {join} WHERE o.status = '{status}' AND c.city = '{city}'"
        good = [
            f"SELECT name FROM customer WHERE city = '{city}' AND id IN "
            f"(SELECT customer_id FROM orders WHERE status = '{status}')"
        ]
        bad = [f"SELECT c.name {join} WHERE o.status = '{status}' AND c.city = '{city}'"]
    elif kind == 3:
        ref = f"SELECT name, score FROM customer WHERE city = '{city}' ORDER BY score DESC, id LIMIT 10"
        good = [f"SELECT name, score FROM customer WHERE city = '{city}' ORDER BY score DESC, id LIMIT 10;"]
        bad = [f"SELECT name, score FROM customer WHERE city = '{city}' ORDER BY score ASC, id LIMIT 10"]
    else:
        ref = f"SELECT avg(quantity) FROM orders WHERE status = '{status}'"
        good = [f"SELECT sum(quantity) * 1.0 / count(*) FROM orders WHERE status = '{status}'"]
        bad = [f"SELECT avg(quantity) FROM orders WHERE status != '{status}'", "SELECT avg(quantity) FROM orders"]
    return ref, good + bad


def generate(n: int, group: int, tag: str, seed: int = 1) -> tuple[list[tuple[str, str]], list[bool]]:
    """``n`` pairs, ``group`` predictions per reference, and whether each prediction is an
    equivalent rewrite. Every group's reference text is unique (a trailing comment with
    ``tag``), so no scorer can reuse a result across groups or across repetitions; within
    a group the reference is shared."""
    rnd = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    labels: list[bool] = []
    while len(pairs) < n:
        ref, predictions = make_pair(rnd)
        ref = f"{ref} -- {tag} group {len(pairs)}"
        for _ in range(group):
            equivalent = rnd.random() < 0.5
            pred = predictions[0] if equivalent else rnd.choice(predictions[1:])
            pairs.append((pred, ref))
            labels.append(equivalent)
    return pairs[:n], labels[:n]


def naive(db: Path, pairs: list[tuple[str, str]]) -> list[float]:
    conn = sqlite3.connect(db)
    out = []
    for pred, ref in pairs:
        try:
            got = conn.execute(pred).fetchall()
        except sqlite3.Error:
            out.append(0.0)
            continue
        out.append(1.0 if set(got) == set(conn.execute(ref).fetchall()) else 0.0)
    conn.close()
    return out


def timed(fn: Callable[[], list[float]]) -> tuple[float, list[float]]:
    started = time.perf_counter()
    values = fn()
    return time.perf_counter() - started, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=2000, help="customers (orders: 2x, products: /10)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; the best time of each scorer counts")
    args = parser.parse_args()

    print(f"Load average (1, 5, 15 min) at the start: {_load()}.\n")
    with tempfile.TemporaryDirectory() as tmp:
        db = build_database(Path(tmp) / "bench.sqlite", args.rows)
        reward = rewardlab.load("sql")
        print(f"- machine: {platform.machine()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
        print(f"- {args.pairs:,} pairs, {args.rows:,} customers, best of {args.repeat} interleaved repetitions\n")
        print(
            "| workload | scorer | pairs/s | vs naive | per repetition | naive 1 where rewardlab 0 "
            "| naive 0 where rewardlab 1 | agrees with the construction label |"
        )
        print("|---|---|---|---|---|---|---|---|")
        with WorkerPool(workers=args.workers) as pool:
            pool.map(abs, [(-1,)] * args.workers, warm=("rewardlab.rewards.sql._sql",))  # start workers outside timing
            for workload, group in (("distinct", 1), ("grouped (8 per reference)", 8)):
                best = {"naive": math.inf, "inline": math.inf, "pool": math.inf}
                ratios: dict[str, list[float]] = {"naive": [], "inline": [], "pool": []}
                for rep in range(args.repeat):  # interleaved; best of the repetitions (the machine is shared)
                    pairs, labels = generate(args.pairs, group, tag=f"rep {rep}")
                    samples = [Sample(completion=p, reference=r, extras={"db": str(db)}) for p, r in pairs]
                    t_naive, v_naive = timed(lambda pairs=pairs: naive(db, pairs))  # type: ignore[misc]
                    t_inline, s_inline = timed(lambda samples=samples: values(reward.run_inline(samples)))  # type: ignore[misc]
                    t_pool, s_pool = timed(lambda samples=samples: values(reward.score(samples, pool=pool)))  # type: ignore[misc]
                    # what BENCHMARKS.md states: the pooled reward gives the inline verdicts
                    assert s_inline == s_pool, "inline and pooled scores differ"
                    for key, seconds in (("naive", t_naive), ("inline", t_inline), ("pool", t_pool)):
                        best[key] = min(best[key], seconds)
                        ratios[key].append(t_naive / seconds)
                both = list(zip(v_naive, s_inline, strict=True))
                lenient = sum(a == 1.0 and b == 0.0 for a, b in both) / len(pairs)
                strict = sum(a == 0.0 and b == 1.0 for a, b in both) / len(pairs)
                agrees = {
                    "naive": sum((v == 1.0) == ok for v, ok in zip(v_naive, labels, strict=True)) / len(pairs),
                    "inline": sum((v == 1.0) == ok for v, ok in zip(s_inline, labels, strict=True)) / len(pairs),
                }
                agrees["pool"] = agrees["inline"]
                rows = (
                    ("naive", "naive sqlite3"),
                    ("inline", "guarded inline"),
                    ("pool", f"`sql` pool ({args.workers} workers)"),
                )
                for key, name in rows:
                    rate, ratio = len(pairs) / best[key], best["naive"] / best[key]
                    spread = f"{min(ratios[key]):.2f}-{max(ratios[key]):.2f}x"
                    print(
                        f"| {workload} | {name} | {rate:,.0f} | {ratio:.2f}x | {spread} | {lenient:.1%} | {strict:.1%} "
                        f"| {agrees[key]:.1%} |"
                    )


def values(scores: list[Any]) -> list[float | None]:
    return [s.value for s in scores]


def _load() -> str:
    """The machine's load average: these numbers come from a shared machine."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
    print(f"\nLoad average (1, 5, 15 min) at the end: {_load()}.")
