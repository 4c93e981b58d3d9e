"""The score job on Ray Data (1 and 2 actors) against the local job (--workers 1 and 2), same run.

Two rewards: `math` (a `process` reward: sympy in worker processes) and `rm`, a model reward
(the packaged all-MiniLM-L6-v2 with a fresh 1-logit head, built here with a fixed seed; a
`resident` reward: one model per process that scores). Rows come from the GSM8K labelled
solutions, repeated to ``--rows`` (``--model-rows`` for `rm`). Every configuration runs the
whole job (``score_file`` / ``score_file_on_ray``) inside one process: Ray is started once,
outside the timings, but each Ray job's actor start-up (a fresh pool per job: imports, the
model loaded) is inside them, since a user pays it on every job. Configurations alternate
their order between repeats; medians are reported. The outputs of all four configurations
are asserted byte-identical for `math`; for `rm`, byte-identical among the local runs and
among the Ray runs, and equal between the two but for float rounding (< 1e-6), since torch
sums in an order that depends on its thread count.

    python benchmarks/bench_ray.py [--rows 10000] [--model-rows 1500] [--repeat 2] [--rewards math,rm]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ray

import rewardlab
from rewardlab._job import score_file
from rewardlab.ray import score_file_on_ray

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def build_rm(where: Path) -> Path:
    """The packaged MiniLM with a 1-logit head (seeded), saved as a reward-model folder."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardlab.models import packaged_minilm_path

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(packaged_minilm_path(), num_labels=1)
    model.save_pretrained(where)
    AutoTokenizer.from_pretrained(packaged_minilm_path()).save_pretrained(where)
    return where


def write_rows(path: Path, count: int) -> Path:
    with open(SHARED / "gsm8k" / "model_solutions_labeled.jsonl") as handle:
        solutions = [json.loads(line) for line in handle]
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps(dict(solutions[i % len(solutions)], id=i)) + "\n")
    return path


def agreement(label: str, outputs: dict[str, bytes], exact: bool) -> str:
    """Check (assert) and describe how the four outputs agree."""
    if len(set(outputs.values())) == 1:
        return "outputs of all four configurations byte-identical (asserted)"
    assert not exact, f"{label}: outputs differ between configurations"
    # a model reward: torch sums in an order that depends on its thread count (the local job's
    # process uses every core, a Ray actor with 0.5 CPU one thread), so the last bits may differ
    parsed = {name: [json.loads(line) for line in out.splitlines()] for name, out in outputs.items()}
    base = parsed["local --workers 1"]
    worst = 0.0
    floats = ("reward", "reward_components")
    for rows in parsed.values():
        for a, b in zip(base, rows, strict=True):
            assert {k: v for k, v in a.items() if k not in floats} == {k: v for k, v in b.items() if k not in floats}
            assert a["reward_components"].keys() == b["reward_components"].keys()
            pairs = [(a["reward"], b["reward"])] + [
                (v, b["reward_components"][k]) for k, v in a["reward_components"].items()
            ]
            worst = max([worst] + [abs(x - y) for x, y in pairs])
    assert worst < 1e-6, f"{label}: rewards differ by {worst:g}"
    assert outputs["local --workers 1"] == outputs["local --workers 2"], f"{label}: local outputs differ"
    assert outputs["ray --actors 1"] == outputs["ray --actors 2"], f"{label}: Ray outputs differ"
    return (
        "outputs byte-identical among the local runs and among the Ray runs (asserted); Ray against local: "
        f"same rows, statuses and order, rewards and components within {worst:.1e} (asserted < 1e-6: torch threads)"
    )


def measure(
    label: str, data: Path, reward: rewardlab.Reward, rows: int, batch: int, repeat: int, tmp: Path, exact: bool
) -> dict[str, float]:
    def local(workers: int) -> Callable[[Path], object]:
        return lambda out: score_file(data, out, reward, workers=workers, chunk_rows=batch, progress=False)

    def on_ray(actors: int) -> Callable[[Path], object]:
        return lambda out: score_file_on_ray(data, out, reward, actors=actors, chunk_rows=batch, progress=False)

    runs = {
        "local --workers 1": local(1),
        "local --workers 2": local(2),
        "ray --actors 1": on_ray(1),
        "ray --actors 2": on_ray(2),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, bytes] = {}
    for r in range(repeat):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            out = tmp / f"{label}-{name.replace(' ', '_')}.jsonl"
            out.unlink(missing_ok=True)
            started = time.perf_counter()
            runs[name](out)
            times[name].append(time.perf_counter() - started)
            outputs[name] = out.read_bytes()
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"\n`{label}`: {rows} GSM8K rows, batches of {batch}; medians of {repeat} alternated runs")
    print(agreement(label, outputs, exact))
    print("| configuration | seconds | rows/s | vs local --workers 1 |")
    print("|---|---|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.2f} | {rows / seconds:,.0f} | {medians['local --workers 1'] / seconds:.2f}x |")
    ray1, ray2 = medians["ray --actors 1"], medians["ray --actors 2"]
    local1, local2 = medians["local --workers 1"], medians["local --workers 2"]
    print(
        f"Ray overhead on one machine: 1 actor takes {ray1 / local1:.2f}x the time of 1 local worker, "
        f"2 actors {ray2 / local2:.2f}x that of 2 local workers; "
        f"scaling 1 -> 2 actors: {ray1 / ray2:.2f}x, 1 -> 2 local workers: {local1 / local2:.2f}x"
    )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows for math")
    parser.add_argument("--model-rows", type=int, default=1_500, help="rows for the model reward")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rewards", default="math,rm", help="which of math, rm to measure")
    args = parser.parse_args()
    wanted = set(args.rewards.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="rewardlab-bench-ray-"))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"machine: {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}, ray {ray.__version__}")
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        if "math" in wanted:
            math_rows = write_rows(tmp / "math.jsonl", args.rows)
            measure("math", math_rows, rewardlab.load("math"), args.rows, 500, args.repeat, tmp, exact=True)
        if "rm" in wanted:
            model_dir = build_rm(tmp / "rm-minilm")
            model_rows = write_rows(tmp / "rm.jsonl", args.model_rows)
            model = rewardlab.load("rm", model=str(model_dir))
            measure("rm", model_rows, model, args.model_rows, args.model_rows // 4, args.repeat, tmp, exact=False)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
