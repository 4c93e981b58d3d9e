"""The score job on Ray (1 and 2 actors) against the local job (--workers 1 and 2), same run.

Rows come from the GSM8K labelled solutions (repeated to ``--rows``). Each configuration
is timed end to end inside one process (Ray started once, outside the timings; each pool's
actor start-up inside them, since a user pays it), alternating the order between repeats.
The outputs of every configuration are checked to be byte-identical.

    python benchmarks/bench_ray.py [--rows 20000] [--reward math] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import ray

import rewardlab
from rewardlab._job import score_file
from rewardlab.ray import RewardActorPool

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--reward", default="math")
    parser.add_argument("--param", "-p", action="append", default=[], help="reward parameter key=value")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    with open(SHARED / "gsm8k" / "model_solutions_labeled.jsonl") as handle:
        solutions = [json.loads(line) for line in handle]
    tmp = Path(tempfile.mkdtemp(prefix="rewardlab-bench-ray-"))
    data = tmp / "in.jsonl"
    with data.open("w") as out:
        for i in range(args.rows):
            out.write(json.dumps(dict(solutions[i % len(solutions)], id=i)) + "\n")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    reward = rewardlab.load(args.reward, **params)

    def local(workers: int) -> Path:
        out = tmp / f"local{workers}.jsonl"
        out.unlink(missing_ok=True)
        score_file(data, out, reward, workers=workers)
        return out

    def on_ray(actors: int) -> Path:
        out = tmp / f"ray{actors}.jsonl"
        out.unlink(missing_ok=True)
        with RewardActorPool(reward, num_actors=actors) as pool:
            score_file(data, out, reward, batch_executor=pool)
        return out

    runs = {
        "local --workers 1": lambda: local(1),
        "local --workers 2": lambda: local(2),
        "ray --actors 1": lambda: on_ray(1),
        "ray --actors 2": lambda: on_ray(2),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, bytes] = {}
    for r in range(args.repeat):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            started = time.perf_counter()
            path = runs[name]()
            times[name].append(time.perf_counter() - started)
            outputs[name] = path.read_bytes()
    assert len(set(outputs.values())) == 1, "outputs differ between configurations"
    ray.shutdown()
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"machine: {machine}, ray {ray.__version__}")
    print(
        f"\n{args.rows} GSM8K rows, reward `{reward.signature}`; medians of {args.repeat} alternated runs; "
        "outputs byte-identical (asserted)\n"
    )
    print("| configuration | seconds | rows/s |")
    print("|---|---|---|")
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.2f} | {args.rows / seconds:,.0f} |")
    overhead = medians["ray --actors 1"] / medians["local --workers 1"]
    print(f"\nRay overhead on one machine (1 actor vs 1 local worker): {overhead:.2f}x the time")
    print(
        f"scaling 1 -> 2 actors: {medians['ray --actors 1'] / medians['ray --actors 2']:.2f}x; "
        f"1 -> 2 local workers: {medians['local --workers 1'] / medians['local --workers 2']:.2f}x"
    )


if __name__ == "__main__":
    main()
