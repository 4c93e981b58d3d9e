"""`rewardlab score -r exact_match` against `datasets.Dataset.map` and against a bare loop.

Three programs score the same local JSONL with the same normalised comparison (NFKC, case
fold, whitespace runs collapsed), each as a fresh process timed end to end (start-up,
reading, scoring, writing), in the same benchmark run, alternated, medians reported:

* ``rewardlab score`` with each ``--workers`` value asked for;
* the peer a user would write: ``datasets.load_dataset("json")`` + ``Dataset.map`` +
  ``to_json`` (a fresh cache directory each run: a cached map skips the work);
* the physical limit of one core: a bare loop (orjson parse, the comparison, orjson write,
  one line at a time, no framework at all).

Every output is checked to agree row by row (and rewardlab's outputs byte for byte across
worker counts). Peak memory is the largest total resident set of each program's process
tree (all its processes together), sampled every 0.1 s.

``--phases N`` then times, in this process, where rewardlab's time per row goes on the first
N rows (one core, no workers): each part of the job run alone on the same rows.

    python benchmarks/bench_score.py --rows 1000000 --workers 1,2
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
from typing import Any

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

BARE = textwrap.dedent(
    """
    import re, sys, unicodedata
    import orjson

    src, out = sys.argv[1:3]
    spaces = re.compile(r"\\s+")

    def norm(text):
        return spaces.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()

    with open(src, "rb") as rows, open(out, "wb") as sink:
        for line in rows:
            row = orjson.loads(line)
            row["reward"] = float(norm(row["completion"]) == norm(row["reference"]))
            sink.write(orjson.dumps(row))
            sink.write(b"\\n")
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


def _tree_rss_kib(root: int) -> int:
    """Total resident set of ``root`` and all its descendants, in KiB (0 once it is gone)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(pid, 0) for pid in tree)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak total RSS (MiB) of one program's process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kib(proc.pid))
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return elapsed, peak / 1024


def rewards_of(path: Path) -> list[float]:
    with path.open("rb") as f:
        return [json.loads(line)["reward"] for line in f]


def phases(src: Path, rows: int) -> list[tuple[str, float]]:
    """CPU seconds per row of the whole job and of each of its parts, in this process, one core.

    The job runs on the first ``rows`` rows with ``score_file`` (no workers); then each part
    runs alone on the same rows, and the bare loop too, for scale.
    """
    import gc
    import re
    import unicodedata

    import orjson

    import rewardlab
    from rewardlab._io import dumps_row, iter_raw_blocks
    from rewardlab._job import process_chunk, score_file
    from rewardlab._types import sample_maker
    from rewardlab.runtime._runner import INLINE_BATCH as INLINE_CHUNK_ROWS

    reward = rewardlab.load("exact_match")
    fields = rewardlab.FieldMap()
    with src.open("rb") as f:
        head = b"".join(f.readline() for _ in range(rows))
    sample_path = src.with_name("phases.jsonl")
    sample_path.write_bytes(head)
    n = head.count(b"\n")
    out = sample_path.with_name("phases.out.jsonl")

    def clock(fn: Any, collector: bool = False) -> float:
        """CPU seconds per row of ``fn()``; the parts run with the cyclic collector off (its
        cost inside the job is measured on its own)."""
        gc.collect()
        if not collector:
            gc.disable()
        try:
            start = time.process_time()
            fn()
            return (time.process_time() - start) / n
        finally:
            gc.enable()

    collecting = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[1] = time.process_time()
        else:
            collecting[0] += time.process_time() - collecting[1]

    gc.callbacks.append(on_gc)
    job = clock(lambda: score_file(sample_path, out, reward, progress=False), collector=True)
    gc.callbacks.remove(on_gc)
    collector = collecting[0] / n

    blocks = list(iter_raw_blocks(sample_path, INLINE_CHUNK_ROWS))
    lines = [line for block in blocks for line in block.data.split(b"\n") if line]
    parsed = [orjson.loads(line) for line in lines]
    make_sample = sample_maker(fields)  # what Sample.from_mapping calls; the job takes it once per batch
    samples = [make_sample(row) for row in parsed]
    batches = [samples[i : i + INLINE_CHUNK_ROWS] for i in range(0, n, INLINE_CHUNK_ROWS)]
    encoded = [process_chunk(reward, b, "x", fields, "reward", True, False).lines for b in blocks]

    def encode() -> None:
        buffer = bytearray()
        for row in parsed:
            buffer += dumps_row(row)
            buffer += b"\n"

    def write() -> None:
        with out.open("wb") as sink:
            for data in encoded:
                sink.write(data)
                sink.flush()

    spaces = re.compile(r"\s+")

    def norm(text: str) -> str:
        return spaces.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()

    def bare() -> None:
        with sample_path.open("rb") as source, out.open("wb") as sink:
            for line in source:
                row = orjson.loads(line)
                row["reward"] = float(norm(row["completion"]) == norm(row["reference"]))
                sink.write(orjson.dumps(row))
                sink.write(b"\n")

    parts = [
        ("read the file in blocks of lines", clock(lambda: list(iter_raw_blocks(sample_path, INLINE_CHUNK_ROWS)))),
        ("JSON parse (orjson.loads)", clock(lambda: [orjson.loads(line) for line in lines])),
        ("build Samples (as Sample.from_mapping)", clock(lambda: [make_sample(row) for row in parsed])),
        ("score: exact_match through Reward.score", clock(lambda: [reward.score(b) for b in batches])),
        ("encode the input rows (orjson.dumps)", clock(encode)),
        ("write and flush the output", clock(write)),
    ]
    parts.append(("cyclic garbage collector", collector))
    parts.append(("rest: batch loop, added columns, bookkeeping", max(0.0, job - sum(t for _, t in parts))))
    return [
        ("rewardlab score job, in process (score_file, 1 core)", job),
        *parts,
        ("bare loop, same rows, in process", clock(bare, collector=True)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts for rewardlab")
    parser.add_argument("--repeat", type=int, default=3, help="alternated runs of each side; medians reported")
    parser.add_argument("--phases", type=int, default=200_000, help="rows for the per-part breakdown (0: none)")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        src = tmp / "rows.jsonl"
        make_rows(src, args.rows)
        (tmp / "peer.py").write_text(PEER)
        (tmp / "bare.py").write_text(BARE)
        env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
        sides: dict[str, list[tuple[float, float]]] = {}

        def ours_cmd(w: int, source: Path = src) -> list[str]:
            return [sys.executable, "-m", "rewardlab", "score", str(source), "-r", "exact_match",
                    "-o", str(tmp / f"ours{w}.jsonl"), "--workers", str(w), "--no-progress"]  # fmt: skip

        # fixed costs: interpreter start, imports, worker start-up, on a one-row file
        one = tmp / "one.jsonl"
        one.write_bytes(src.open("rb").readline())
        fixed: dict[str, list[float]] = {}
        for _ in range(3):
            for w in workers:
                fixed.setdefault(f"rewardlab --workers {w}", []).append(timed(ours_cmd(w, one))[0])
            fixed.setdefault("bare loop", []).append(
                timed([sys.executable, str(tmp / "bare.py"), str(one), "/dev/null"])[0]
            )
        startup = {name: statistics.median(times) for name, times in fixed.items()}

        for i in range(args.repeat):
            runs = [("bare loop, 1 core", [sys.executable, str(tmp / "bare.py"), str(src), str(tmp / "bare.jsonl")])]
            runs += [(f"rewardlab --workers {w}", ours_cmd(w)) for w in workers]
            # a fresh datasets cache each time: a cached map would skip the work being measured
            peer = [sys.executable, str(tmp / "peer.py"), str(src), str(tmp / "peer.jsonl"), str(tmp / f"cache{i}")]
            runs.append(("datasets.map", peer))
            for name, cmd in runs:
                sides.setdefault(name, []).append(timed(cmd, env))
        expected = rewards_of(tmp / "peer.jsonl")
        assert rewards_of(tmp / "bare.jsonl") == expected, "the bare loop and datasets disagree"
        first = (tmp / f"ours{workers[0]}.jsonl").read_bytes()
        for w in workers:
            assert (tmp / f"ours{w}.jsonl").read_bytes() == first, f"--workers {w} wrote different bytes"
        assert rewards_of(tmp / f"ours{workers[0]}.jsonl") == expected, "rewardlab and datasets disagree"
        breakdown = phases(src, min(args.phases, args.rows)) if args.phases else []

    median = {name: statistics.median(t for t, _ in runs) for name, runs in sides.items()}
    peak = {name: max(m for _, m in runs) for name, runs in sides.items()}
    rate = {name: args.rows / t for name, t in median.items()}
    bare, peer = rate["bare loop, 1 core"], rate["datasets.map"]
    python = f"{platform.python_implementation()} {platform.python_version()}"
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}; {load}")
    print(f"rows: {args.rows:,}; medians of {args.repeat} alternated runs; all outputs agree row by row")
    print()
    print("| program | seconds | rows/s | vs datasets.map | per core vs bare loop | peak memory |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in sides:
        n_cores = int(name.rsplit(" ", 1)[1]) if name.startswith("rewardlab") else 1
        print(
            f"| {name} | {median[name]:.1f} | {rate[name]:,.0f} | {rate[name] / peer:.2f}x "
            f"| {rate[name] / n_cores / bare:.2f} | {peak[name]:.0f} MiB |"
        )
    if len(workers) > 1:
        print()
        base = rate[f"rewardlab --workers {workers[0]}"]
        for w in workers[1:]:
            print(f"--workers {w} / --workers {workers[0]} throughput: {rate[f'rewardlab --workers {w}'] / base:.2f}x")
    if breakdown:
        print()
        rows_profiled = min(args.phases, args.rows)
        print(f"where the time goes: CPU time per row on the first {rows_profiled:,} rows, in this process, one core")
        print()
        print("| part | microseconds per row | share of the job |")
        print("|---|---:|---:|")
        job = breakdown[0][1]
        for name, t in breakdown:
            print(f"| {name} | {t * 1e6:.2f} | {t / job:.0%} |")
        print()
        print(f"bare loop / job, CPU per row: {breakdown[-1][1] / job:.2f}")
    print()
    print("start-up (one-row file, medians):", ", ".join(f"{k} {v:.2f} s" for k, v in startup.items()))


if __name__ == "__main__":
    main()
