"""Group advantages: rewardlab's numpy estimators against TRL's own torch computation.

Each estimator runs side by side with the formula TRL's trainer applies to the same rewards
(TRL 1.x, ``GRPOTrainer._generate_and_score_completions`` and ``RLOOTrainer``), in the same
run, on the same Python list of rewards a reward function returns (2% missing: ``None`` for
rewardlab, NaN for TRL, as TRL marks unscorable rows). Both sides start from that list and
end with a list, so both pay the conversions:

* ``grpo``: ``(r - nanmean) / (nanstd + 1e-4)`` over ``view(-1, G)`` (``scale_rewards="group"``);
* ``drgrpo``: ``r - nanmean`` (``scale_rewards="none"``);
* ``rloo``: ``r - (nansum - r) / (count - 1)`` (RLOOTrainer, ``normalize_advantages=False``);
* ``normalize_then_sum``: two rewards per row, each standardised per group, summed, then
  standardised over the batch (GRPOTrainer, ``multi_objective_aggregation="normalize_then_sum"``).

TRL is timed with torch's default thread count and with one thread; the ratio uses the faster.
rewardlab is timed twice: with one group key per row (any hashable, rows of a group anywhere)
and with ``groups=G`` (consecutive groups, TRL's layout). TRL runs in float32, as in training;
the values are compared on every row both define, against TRL's formula in float32 and in float64
(must agree to 1e-6; even in float64 TRL's ``nanstd`` computes its Bessel factor ``n / (n - 1)``
in float32, hence differences near 1e-7), and against a plain Python reference implementation of
each estimator (``math.fsum``, one group at a time; must agree to 1e-9). The script fails if they
do not.

    python benchmarks/bench_advantages.py --rows 200000 --group 8
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from rewardlab.advantages import group_advantages

TRL_EPS = 1e-4
"""TRL adds 1e-4 to the standard deviation; rewardlab is given the same eps."""


def alternated_medians(repeats: int, fns: list[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    """Median time of each function over ``repeats`` rounds, the functions alternated within each round."""
    times: list[list[float]] = [[] for _ in fns]
    outs: list[Any] = [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            outs[i] = fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times], outs


def reference(rewards: list[Any], keys: list[int], estimator: str, eps: float) -> list[float | None]:
    """The textbook loops, one group at a time (math.fsum; None for unusable rewards)."""
    out: list[float | None] = [None] * len(rewards)
    members: dict[int, list[int]] = {}
    for i, (r, key) in enumerate(zip(rewards, keys, strict=True)):
        if r is not None:
            members.setdefault(key, []).append(i)
    for rows in members.values():
        vals = [rewards[i] for i in rows]
        n = len(vals)
        total = math.fsum(vals)
        mean = total / n
        constant = n < 2 or max(vals) == min(vals)
        std = 0.0 if constant else math.sqrt(math.fsum((x - mean) ** 2 for x in vals) / (n - 1))
        for i, v in zip(rows, vals, strict=True):
            if estimator == "drgrpo":
                out[i] = v - mean
            elif estimator == "rloo":
                out[i] = None if n == 1 else v - (total - v) / (n - 1)
            else:
                out[i] = 0.0 if constant else (v - mean) / (std + eps)
    return out


def reference_normalize_then_sum(rows: list[list[Any]], keys: list[int], eps: float) -> list[float | None]:
    present = [all(v is not None for v in row) for row in rows]
    sums: list[float | None] = [0.0 if ok else None for ok in present]
    for k in range(len(rows[0])):
        column = reference([row[k] if ok else None for row, ok in zip(rows, present, strict=True)], keys, "grpo", eps)
        sums = [None if s is None else s + (c or 0.0) for s, c in zip(sums, column, strict=True)]
    return reference(sums, [0] * len(sums), "grpo", eps)


def trl_formula(estimator: str, group: int, dtype: Any) -> Callable[[list[Any]], list[float]]:
    import torch
    from trl.trainer.utils import nanstd

    def to_tensor(values: list[Any]) -> Any:
        if values and isinstance(values[0], list):
            return torch.tensor([[math.nan if v is None else v for v in row] for row in values], dtype=dtype)
        return torch.tensor([math.nan if v is None else v for v in values], dtype=dtype)

    def run(values: list[Any]) -> list[float]:
        rewards = to_tensor(values)
        if estimator == "normalize_then_sum":
            grouped = rewards.view(-1, group, rewards.shape[1])
            mean_k = torch.nanmean(grouped, dim=1, keepdim=True)
            std_k = nanstd(grouped, dim=1, keepdim=True)
            summed = ((grouped - mean_k) / (std_k + 1e-4)).view(-1, rewards.shape[1]).nansum(dim=1)
            summed[torch.isnan(rewards).any(dim=1)] = torch.nan
            return ((summed - torch.nanmean(summed)) / (nanstd(summed) + 1e-4)).tolist()
        grouped = rewards.view(-1, group)
        if estimator == "rloo":
            counts = (~torch.isnan(grouped)).sum(dim=1, keepdim=True)
            baselines = (torch.nansum(grouped, dim=1, keepdim=True) - grouped) / (counts - 1)
            return (rewards - baselines.view(-1)).tolist()
        mean = torch.nanmean(grouped, dim=1).repeat_interleave(group)
        if estimator == "drgrpo":
            return (rewards - mean).tolist()
        std = nanstd(grouped, dim=1).repeat_interleave(group)
        return ((rewards - mean) / (std + 1e-4)).tolist()

    return run


def max_diff(ours: list[float | None], theirs: list[float | None]) -> float:
    diffs = [
        abs(a - b) for a, b in zip(ours, theirs, strict=True) if a is not None and b is not None and not math.isnan(b)
    ]
    return max(diffs, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=15, help="alternated runs of each side; medians reported")
    args = parser.parse_args()
    import torch

    threads = torch.get_num_threads()
    rnd = random.Random(0)
    n, g = args.rows - args.rows % args.group, args.group
    keys = [i // g for i in range(n)]

    def reward() -> float | None:
        return None if rnd.random() < 0.02 else float(rnd.random() < 0.4)

    single = [reward() for _ in range(n)]
    pairs = [[reward(), rnd.random()] for _ in range(n)]
    for row in pairs:
        if row[0] is None:
            row[1] = None  # an unscorable row has no reward from either function
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, torch {torch.__version__} ({threads} threads by default); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"rows: {n:,} in groups of {g}, 2% unusable; medians of {args.repeat} alternated runs")
    print()
    print(
        f"| estimator | rewardlab, group keys | rewardlab, groups=G | TRL torch float32, {threads} / 1 threads "
        "| ratio TRL (faster setting) / rewardlab (keys, G) | max diff vs TRL float32 / float64 / reference |"
    )
    print("|---|---|---|---|---|---|")
    worst_ratio = math.inf
    for estimator in ("grpo", "drgrpo", "rloo", "normalize_then_sum"):
        data: list[Any] = pairs if estimator == "normalize_then_sum" else single
        trl32 = trl_formula(estimator, g, torch.float32)

        def trl_one_thread(data: Any = data, f: Any = trl32) -> Any:
            torch.set_num_threads(1)
            try:
                return f(data)
            finally:
                torch.set_num_threads(threads)

        (t_keys, t_g, t_trl_threads, t_trl_one), (ours, ours_g, theirs, _) = alternated_medians(
            args.repeat,
            [
                lambda data=data, est=estimator: group_advantages(data, keys, est, eps=TRL_EPS),
                lambda data=data, est=estimator: group_advantages(data, g, est, eps=TRL_EPS),
                lambda data=data, f=trl32: f(data),
                trl_one_thread,
            ],
        )
        t_trl = min(t_trl_threads, t_trl_one)  # TRL at its better setting, on this machine, in this run
        exact = trl_formula(estimator, g, torch.float64)(data)
        ref = (
            reference_normalize_then_sum(data, keys, TRL_EPS)
            if estimator == "normalize_then_sum"
            else reference(data, keys, estimator, TRL_EPS)
        )
        d32, d64, dref = max_diff(ours, theirs), max_diff(ours, exact), max_diff(ours, ref)
        assert ours == ours_g, f"{estimator}: group keys and groups=G disagree"
        assert [a is None for a in ours] == [r is None for r in ref], f"{estimator}: rows without an advantage differ"
        assert d32 <= 1e-6 and d64 <= 1e-6 and dref <= 1e-9, f"{estimator}: values disagree ({d32}, {d64}, {dref})"
        worst_ratio = min(worst_ratio, t_trl / t_keys)
        print(
            f"| {estimator} | {t_keys * 1e3:.1f} ms | {t_g * 1e3:.1f} ms "
            f"| {t_trl_threads * 1e3:.1f} / {t_trl_one * 1e3:.1f} ms "
            f"| {t_trl / t_keys:.2f}x, {t_trl / t_g:.2f}x | {d32:.1e} / {d64:.1e} / {dref:.1e} |"
        )
    print()
    print(f"slowest estimator with group keys: {worst_ratio:.2f}x TRL's speed (above 1: faster than TRL)")


if __name__ == "__main__":
    main()
