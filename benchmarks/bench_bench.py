"""`rewardlab bench` and `rewardlab select`: metric parity, benchmark numbers, throughput.

Four parts, each printing the table that BENCHMARKS.md records:

1. Parity with the official evaluation code on published result files. The official
   functions are read from local clones of the upstream repositories (``--rewardmath``,
   ``--judgebench``; nothing of theirs is in this project) and run side by side with
   rewardlab's metrics on every published file; the script asserts agreement to 0.01
   points and prints the largest difference.
2. ``rewardlab bench`` with the ``length`` reward on LLMBar (shared data) and, given
   ``--rmbench DIR`` (a local copy of RM-Bench's ``data/``), on RM-Bench.
3. ``rewardlab select --eval`` on the GSM8K labelled solutions: majority and weighted
   vote against N.
4. Throughput: the ``math`` reward benchmarked on GSM8K best-of-N items built from the
   labelled solutions (a correct solution against the incorrect ones of the same
   question), through rewardlab's batched runtime vs the per-item loop the official
   scripts run (score one item's candidates, then the next).

    python benchmarks/bench_bench.py [--rewardmath GITDIR] [--judgebench GITDIR] [--rmbench DIR] [--items 300]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

import rewardlab
from rewardlab.bench import compute, load_bench_data, load_score_items, run_bench
from rewardlab.bench._data import BenchRecord
from rewardlab.bench._metrics import Item

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _git_show(gitdir: Path, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(gitdir), "show", f"HEAD:{path}"], capture_output=True, text=True, check=True
    ).stdout


def _git_ls(gitdir: Path, folder: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(gitdir), "ls-tree", "--name-only", f"HEAD:{folder}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [f"{folder}/{name}" for name in out.split()]


def _upstream_function(source: str, name: str, namespace: dict[str, Any]) -> Any:
    """Compile one top-level function or class of an upstream file into ``namespace``."""
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            exec(compile(ast.Module([node], []), name, "exec"), namespace)
            return namespace[name]
    raise LookupError(name)


def parity_rewardmath(gitdir: Path) -> None:
    class BaseEvaluation:
        def __init__(self, dataset: list[dict[str, Any]]) -> None:
            self.dataset = dataset

    evaluation = _upstream_function(
        _git_show(gitdir, "src/evaluation/eval.py"),
        "RewardMATHEvaluation",
        {"np": np, "BaseEvaluation": BaseEvaluation},
    )
    worst = 0.0
    files = 0
    print("| results file | official acc / acc w/ ties / MRR | rewardlab | max diff (points) |")
    print("|---|---|---|---|")
    tmp = Path("/tmp/rewardlab-bench-rewardmath.json")
    for path in _git_ls(gitdir, "results/RewardMATH"):
        if "pairwise" in path:
            continue  # pairwise files hold A/B verdicts, scored by the official "pairwise" mode only
        data = json.loads(_git_show(gitdir, path))
        steps = "min" if isinstance(data[0]["score"][0], list) else None
        with contextlib.redirect_stdout(io.StringIO()):
            official = evaluation(data, [steps or "normal"]).get_results()[steps or "normal"]
        off = [100 * sum(official[k]) / len(official[k]) for k in ("reward Acc", "reward Acc (w/ tie)", "reward MRR")]
        tmp.write_text(json.dumps(data))
        _, items = load_score_items(tmp, steps=steps)
        values = compute("rewardmath", items)
        ours = [100 * values[k] for k in ("score", "accuracy_with_ties", "mrr")]
        diff = max(abs(a - b) for a, b in zip(off, ours, strict=True))
        worst = max(worst, diff)
        files += 1
        name = Path(path).name + (" (steps: min)" if steps else "")
        print(
            f"| {name} | {' / '.join(f'{v:.2f}' for v in off)} | {' / '.join(f'{v:.2f}' for v in ours)} | {diff:.2e} |"
        )
    assert worst < 0.01, f"RewardMATH parity broken: {worst}"
    print(f"\nRewardMATH: {files} published result files, largest difference {worst:.2e} points (asserted < 0.01)\n")


def parity_judgebench(gitdir: Path) -> None:
    source = _git_show(gitdir, "utils/metrics.py")
    namespace: dict[str, Any] = {}
    _upstream_function(source, "flip_judgment", namespace)
    official = _upstream_function(source, "compute_final_metrics", namespace)
    worst = 0.0
    files = 0
    tmp = Path("/tmp/rewardlab-bench-judgebench.jsonl")
    missing = 0
    for path in _git_ls(gitdir, "outputs"):
        try:
            text = _git_show(gitdir, path)
        except subprocess.CalledProcessError:
            missing += 1  # listed in the tree but not present in this clone
            continue
        pairs = [json.loads(line) for line in text.splitlines() if line.strip()]
        tmp.write_text(text)
        _, items = load_score_items(tmp)
        for double, metric in ((True, "judgebench"), (False, "judgebench-single")):
            if not double and any(p["judgments"][0] is None for p in pairs):
                continue  # the official single-game path cannot read a missing first judgment
            for source_name in ("mmlu-pro", "livebench-reasoning", "livebench-math", "livecodebench", ""):
                chosen = [p for p in pairs if p["source"].startswith(source_name)]
                if not chosen:
                    continue
                off = official(chosen, double)
                ours_items = [i for i in items if i.subset.startswith(source_name)]
                ours = 100 * compute(metric, ours_items)["score"]
                worst = max(worst, abs(off - ours))
        files += 1
    assert worst < 0.01, f"JudgeBench parity broken: {worst}"
    print(
        f"JudgeBench: {files} published judge-output files x 5 sources x double/single game, largest difference "
        f"{worst:.2e} points (asserted < 0.01); {missing} listed files absent from the clone\n"
    )


def bench_table(title: str, result: Any) -> None:
    key = "total_avg_acc" if result.metric == "rmbench" else "score"
    print(f"### {title}: {result.metric}, {result.items} items, reward `{result.reward}`")
    print("| value | reward | length baseline | random baseline |")
    print("|---|---|---|---|")
    for name, value in result.values.items():
        length = result.baselines["length"].get(name)
        rand = result.baselines["random"].get(name)
        print(
            f"| {name}{' (headline)' if name == key else ''} | {100 * value:.1f} | {100 * length:.1f} | "
            f"{100 * rand:.1f} |"
        )
    ci = result.interval
    print(f"\n95% bootstrap interval of the headline: {100 * ci[0]:.1f}-{100 * ci[1]:.1f}\n")


def gsm8k_bon(limit: int) -> list[BenchRecord]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with open(SHARED / "gsm8k" / "model_solutions_labeled.jsonl") as handle:
        for line in handle:
            row = json.loads(line)
            groups[row["question"]].append(row)
    records = []
    for question, rows in groups.items():
        good = [r["completion"] for r in rows if r["is_correct"]]
        bad = [r["completion"] for r in rows if not r["is_correct"]]
        if good and bad:
            records.append(BenchRecord(str(len(records)), "gsm8k", question, good[:1], bad, rows[0]["reference"]))
        if len(records) == limit:
            break
    return records


def throughput(items: int, repeat: int = 3) -> None:
    from rewardlab.bench._run import candidate_samples, items_from_values
    from rewardlab.runtime import Runner

    records = gsm8k_bon(items)
    reward = rewardlab.load("math")
    samples = sum(len(r.chosen) + len(r.rejected) for r in records)

    def per_item_loop() -> float:
        # the official scripts' shape: one item's candidates scored, then the next item's
        loop_items = []
        for record in records:
            scores = reward.score(
                [
                    {"completion": c, "prompt": record.prompt, "reference": record.reference}
                    for c in (*record.chosen, *record.rejected)
                ]
            )
            values = [s.value for s in scores]
            loop_items.append(Item(record.id, record.subset, tuple(values[:1]), tuple(values[1:])))
        return compute("bon", loop_items)["score"]

    def batched_scoring() -> float:
        # the reward's own pool, warm from the per-item loop, as that loop and run_bench use it
        with Runner(reward, open_pools=False, close_reward=False) as runner:
            scores = runner.score(candidate_samples(records))
        values = [s.value for s in scores]
        return compute("bon", items_from_values(records, values))["score"]

    def whole_bench() -> float:
        return run_bench(records, reward, data_format="bon", metric="bon", resamples=0).values["score"]

    paths = {
        "per-item loop (official scripts' shape)": per_item_loop,
        "rewardlab batched scoring + metric": batched_scoring,
        "rewardlab run_bench (adds length/random baselines, mistakes list)": whole_bench,
    }
    per_item_loop()  # warm the worker pool (sympy imported in the workers) outside the timing
    times: dict[str, list[float]] = {name: [] for name in paths}
    values: dict[str, float] = {}
    for _ in range(repeat):
        for name, fn in paths.items():
            start = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - start)
    assert len(set(values.values())) == 1, values
    print("| path | items | candidates | median seconds | candidates/s | best-of-N accuracy |")
    print("|---|---|---|---|---|---|")
    base = statistics.median(times["per-item loop (official scripts' shape)"])
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"| {name} | {len(records)} | {samples} | {t:.2f} | {samples / t:.0f} | {100 * values[name]:.1f} |")
    for name, ts in times.items():
        print(f"ratio per-item loop / {name.split(' (')[0]}: {base / statistics.median(ts):.2f}x")
    print(f"(medians of {repeat} alternated runs after a warm-up; same values, asserted)\n")


def select_eval() -> None:
    cmd = [
        sys.executable,
        "-m",
        "rewardlab",
        "select",
        str(SHARED / "gsm8k" / "model_solutions_labeled.jsonl"),
        "--group-by",
        "question",
        "-r",
        "repetition",
        "--weight",
        "exp",
        "--method",
        "majority",
        "--reference-field",
        "reference",
        "--eval",
        "--report",
        "/tmp/rewardlab-select-eval.html",
        "--no-progress",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    document = json.loads(Path("/tmp/rewardlab-select-eval.json").read_text())
    ns = [p["n"] for p in document["curves"]["majority"]]
    print("| method | " + " | ".join(f"N={n:g}" for n in ns) + " |")
    print("|---|" + "---|" * len(ns))
    for method, points in document["curves"].items():
        print(f"| {method} | " + " | ".join(f"{100 * p['accuracy']:.1f}" for p in points) + " |")
    print(
        f"\n({document['groups']} questions, {document['subsets']} random subsets per N, seed {document['seed']}; "
        "weighted vote and best use the `repetition` reward with exp weights)\n"
    )
    if proc.returncode:
        raise SystemExit(proc.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rewardmath", type=Path, help="git dir of a RewardMATH_official clone")
    parser.add_argument("--judgebench", type=Path, help="git dir of a JudgeBench clone")
    parser.add_argument("--rmbench", type=Path, help="folder with RM-Bench's *_filtered.json files")
    parser.add_argument("--items", type=int, default=300, help="GSM8K best-of-N items for the throughput part")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.python_version()}, rewardlab {rewardlab.__version__}\n")
    if args.rewardmath:
        parity_rewardmath(args.rewardmath)
    if args.judgebench:
        parity_judgebench(args.judgebench)
    used, records = load_bench_data(SHARED / "llmbar")
    bench_table(
        "LLMBar (RewardBench Chat Hard's LLMBar subsets)",
        run_bench(records, rewardlab.load("length"), data_format=used, metric="accuracy"),
    )
    if args.rmbench:
        used, records = load_bench_data(args.rmbench)
        bench_table(
            "RM-Bench (chat, code, safety)",
            run_bench(records, rewardlab.load("length"), data_format=used, metric="rmbench"),
        )
    select_eval()
    throughput(args.items)


if __name__ == "__main__":
    main()
