"""`rewardlab score -r exact_match` against `datasets.Dataset.map` on the same local JSONL.

Both run as fresh processes (start-up, reading, scoring and writing all counted) in the
same benchmark run; peak memory is each process's maximum resident set size.

    python benchmarks/bench_score.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PEER = textwrap.dedent(
    """
    import re, sys, unicodedata
    import datasets

    src, out, cache = sys.argv[1:4]
    spaces = re.compile(r"\\s+")

    def norm(text):
        return spaces.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()

    def score(row):
        return {"reward": float(norm(row["completion"]) == norm(row["reference"]))}

    ds = datasets.load_dataset("json", data_files=src, split="train", cache_dir=cache)
    ds = ds.map(score, desc="exact_match")
    ds.to_json(out, lines=True)
    """
)


def make_rows(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = ["Paris", "Rome", "Berlin", "Madrid", "Lisbon", "Vienna", "Prague", "Oslo"]
    with path.open("w") as f:
        for i in range(n):
            ref = rng.choice(words)
            completion = ref.lower() if rng.random() < 0.5 else f"I think it is {rng.choice(words)}"
            f.write(
                json.dumps({"id": i, "prompt": f"Capital #{i}?", "completion": completion, "reference": ref}) + "\n"
            )


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        peak = before  # ru_maxrss is the max over all children so far; the order of runs makes this exact
    return elapsed, peak / 1024


def timed_only(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="alternated runs of each side; medians reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        src = tmp / "rows.jsonl"
        make_rows(src, args.rows)
        peer_script = tmp / "peer.py"
        peer_script.write_text(PEER)
        env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
        # rewardlab first: ru_maxrss of children only grows, so the smaller process must run first
        ours_cmd = [sys.executable, "-m", "rewardlab", "score", str(src), "-r", "exact_match",
                    "-o", str(tmp / "ours.jsonl"), "--workers", str(args.workers)]  # fmt: skip
        ours_runs, peer_runs = [], []
        for i in range(args.repeat):  # alternated; the peak of each side is taken from its first run
            # a fresh datasets cache each time: a cached map would skip the work being measured
            peer_cmd = [sys.executable, str(peer_script), str(src), str(tmp / "peer.jsonl"), str(tmp / f"cache{i}")]
            ours_runs.append(timed(ours_cmd))
            peer_runs.append(timed(peer_cmd, env) if i == 0 else (timed_only(peer_cmd, env), 0.0))
        ours = (statistics.median(t for t, _ in ours_runs), ours_runs[0][1])
        peer = (statistics.median(t for t, _ in peer_runs), peer_runs[0][1])
        with (tmp / "ours.jsonl").open() as a, (tmp / "peer.jsonl").open() as b:
            for line_a, line_b in zip(a, b, strict=True):
                assert json.loads(line_a)["reward"] == json.loads(line_b)["reward"], "the two runs disagree"
    print(f"rows: {args.rows:,}  workers: {args.workers}")
    print(f"rewardlab score   {ours[0]:7.1f} s  {args.rows / ours[0]:10,.0f} rows/s  peak {ours[1]:7.0f} MiB")
    print(f"datasets.map      {peer[0]:7.1f} s  {args.rows / peer[0]:10,.0f} rows/s  peak {peer[1]:7.0f} MiB")
    print(f"throughput ratio (rewardlab / datasets, medians of {args.repeat}): {peer[0] / ours[0]:.2f}x")


if __name__ == "__main__":
    main()
