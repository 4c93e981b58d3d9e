"""Benchmark reward models the official way, and use rewards for best-of-N selection.

``rewardlab bench`` scores every candidate of a benchmark through the runtime and
computes the benchmark's own metric (RewardBench v1 and 2, RM-Bench, RewardMATH,
JudgeBench, plain pairwise accuracy) with bootstrap intervals, a length baseline and a
random baseline beside it. ``rewardlab select`` picks among candidates by reward or by
vote. See ``docs/bench.md``.
"""

from rewardlab.bench._data import BenchDataError, BenchRecord, load_bench_data, load_score_items
from rewardlab.bench._metrics import METRICS, Item, bootstrap_ci, compute
from rewardlab.bench._run import BenchResult, bench_items, run_bench

__all__ = [
    "METRICS",
    "BenchDataError",
    "BenchRecord",
    "BenchResult",
    "Item",
    "bench_items",
    "bootstrap_ci",
    "compute",
    "load_bench_data",
    "load_score_items",
    "run_bench",
]
