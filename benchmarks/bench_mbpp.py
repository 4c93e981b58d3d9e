"""MBPP: rewardlab's `code` reward against a plain reference harness, on correct and on wrong programs.

The reference harness is the simplest faithful one: a fresh ``python3 -I``
interpreter per program runs the canonical code, then the row's
``test_setup_code``, then its three asserts; the program passes when the
interpreter exits 0 within the timeout. rewardlab scores the same rows
(``tests`` + ``test_setup_code``) with ``credit=all`` in its sandbox.

Two sets of programs, both scored by both sides in the same run:

- the 974 canonical solutions (both sides should pass them);
- one mutant per problem, made here from the canonical solution by a single
  seeded AST mutation (a comparison flipped, ``+``/``-`` swapped, an integer
  constant moved by one, ``and``/``or`` swapped, a ``return`` value replaced by
  ``None``); most are wrong, a few are equivalent, so "fail rate" is compared
  between the two sides, not against 100%.

Every disagreement is printed with both sides' reasons.

    python benchmarks/bench_mbpp.py [--data ../shared/data/mbpp/mbpp.jsonl] [--timeout 10] [--limit N]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import rewardlab

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mbpp" / "mbpp.jsonl"
MEMORY_MB = 1024  # the same address-space cap as the reward's default memory_mb


# -- mutants -------------------------------------------------------------------------
_COMPARE_SWAP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
_BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult}


def _sites(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    sites: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _COMPARE_SWAP:
            sites.append(("compare", node))
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAP:
            sites.append(("binop", node))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            sites.append(("int", node))
        elif isinstance(node, ast.BoolOp):
            sites.append(("boolop", node))
        elif isinstance(node, ast.Return) and node.value is not None:
            sites.append(("return", node))
    return sites


def mutate(code: str, seed: int) -> str | None:
    """One seeded single-site mutation of ``code``, or ``None`` when it has no site."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    sites = _sites(tree)
    if not sites:
        return None
    kind, node = random.Random(seed).choice(sites)
    if kind == "compare":
        node.ops[0] = _COMPARE_SWAP[type(node.ops[0])]()  # type: ignore[attr-defined]
    elif kind == "binop":
        node.op = _BINOP_SWAP[type(node.op)]()  # type: ignore[attr-defined]
    elif kind == "int":
        node.value += 1  # type: ignore[attr-defined]
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()  # type: ignore[attr-defined]
    else:
        node.value = ast.Constant(None)  # type: ignore[attr-defined]
    return ast.unparse(tree)


# -- the reference harness ------------------------------------------------------------
def _limit_memory() -> None:
    cap = MEMORY_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def reference_run(code: str, row: dict, timeout: float) -> tuple[bool, str]:
    """Exec the code, then the setup, then the asserts, in a fresh interpreter."""
    program = "\n".join([code, row["test_setup_code"], *row["test_list"]]) + "\n"
    with tempfile.TemporaryDirectory() as cwd:
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", program],
                cwd=cwd,
                capture_output=True,
                timeout=timeout,
                preexec_fn=_limit_memory,
            )
        except subprocess.TimeoutExpired:
            return False, f"timeout ({timeout:g}s)"
    if done.returncode == 0:
        return True, ""
    tail = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return False, (tail[-1] if tail else f"exit code {done.returncode}")[:160]


def run_reference(programs: list[str], rows: list[dict], timeout: float) -> tuple[float, list[tuple[bool, str]]]:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        pairs = list(zip(programs, rows, strict=True))
        results = list(pool.map(lambda pair: reference_run(pair[0], pair[1], timeout), pairs))
    return time.perf_counter() - start, results


def run_rewardlab(programs: list[str], rows: list[dict], timeout: float) -> tuple[float, list]:
    samples = [
        {"completion": code, "tests": row["test_list"], "test_setup_code": row["test_setup_code"]}
        for code, row in zip(programs, rows, strict=True)
    ]
    reward = rewardlab.load("code", workers=2, timeout=timeout)
    start = time.perf_counter()
    scores = reward.score(samples)
    return time.perf_counter() - start, scores


def compare(title: str, rows: list[dict], programs: list[str], timeout: float) -> None:
    t_ref, ref = run_reference(programs, rows, timeout)
    t_ours, ours = run_rewardlab(programs, rows, timeout)
    n = len(rows)
    ref_pass = sum(ok for ok, _ in ref)
    ours_pass = sum(s.value == 1.0 for s in ours)
    not_ok = [s for s in ours if s.status.value != "ok"]
    agree = sum((s.value == 1.0) == ok for s, (ok, _) in zip(ours, ref, strict=True))
    print(f"\n## {title}: {n} programs")
    print("| | reference harness | rewardlab |")
    print("|---|---|---|")
    print(f"| pass | {ref_pass} ({ref_pass / n:.1%}) | {ours_pass} ({ours_pass / n:.1%}) |")
    print(f"| fail | {n - ref_pass} ({(n - ref_pass) / n:.1%}) | {n - ours_pass} ({(n - ours_pass) / n:.1%}) |")
    print(f"| time | {t_ref:.1f} s | {t_ours:.1f} s |")
    print(f"agreement: {agree}/{n} ({agree / n:.2%}); rewardlab non-ok statuses: {len(not_ok)}")
    for row, score, (ok, why) in zip(rows, ours, ref, strict=True):
        if (score.value == 1.0) != ok:
            print(
                f"- task {row['task_id']}: reference {'pass' if ok else 'fail'} ({why or '-'}); "
                f"rewardlab {score.status.value} {score.value} ({(score.reason or '')[:160]})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--limit", type=int, default=None, help="first N problems only")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()][: args.limit]
    run_rewardlab([rows[0]["code"]], rows[:1], args.timeout)  # start the sandboxes outside the timing

    compare("canonical solutions", rows, [r["code"] for r in rows], args.timeout)
    mutated = [(row, mutate(row["code"], row["task_id"])) for row in rows]
    kept = [(row, code) for row, code in mutated if code is not None]
    print(f"\n{len(rows) - len(kept)} problems have no mutation site; {len(kept)} mutants")
    compare("mutants (one per problem)", [r for r, _ in kept], [c for _, c in kept], args.timeout)

    cores = len(os.sched_getaffinity(0))
    print(f"\nmachine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
