"""Group advantages and composition overhead, against what a TRL user runs today.

Two measurements, each side by side in the same run:

* ``advantages``: rewardlab's ``group_advantages(..., "grpo", eps=1e-4)`` (pure Python,
  with exclusion of unusable rewards) against TRL's own GRPO computation on a torch tensor
  (``torch.nanmean`` and ``trl.trainer.utils.nanstd`` over ``view(-1, G)``, then
  ``(r - mean) / (std + 1e-4)``), from a Python list of rewards as a reward function returns
  them, with 2% of the rewards missing (None in rewardlab, NaN for TRL). The two outputs are
  compared: they must agree to 1e-5 on every usable row.
* ``composition``: a ``weighted_sum`` of ``format`` and ``exact_match`` against scoring the
  two rewards separately and summing by hand (what a TRL user does with two reward_funcs).

    python benchmarks/bench_compose.py --rows 200000 --samples 20000
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import time
from typing import Any

import rewardlab
from rewardlab.advantages import group_advantages
from rewardlab.compose import Term, weighted_sum


def best_of_interleaved(repeats: int, a: Any, b: Any) -> tuple[float, Any, float, Any]:
    """Best time of each of two functions, alternating them so machine noise hits both alike."""
    best = [math.inf, math.inf]
    outs: list[Any] = [None, None]
    for _ in range(repeats):
        for i, fn in enumerate((a, b)):
            start = time.perf_counter()
            outs[i] = fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0], outs[0], best[1], outs[1]


def bench_advantages(rows: int, group: int, repeats: int) -> dict[str, Any]:
    import torch
    from trl.trainer.utils import nanstd

    rnd = random.Random(0)
    rewards: list[float | None] = [None if rnd.random() < 0.02 else float(rnd.random() < 0.4) for _ in range(rows)]
    keys = [i // group for i in range(rows)]

    def trl_way() -> list[float]:
        r = torch.tensor([math.nan if v is None else v for v in rewards], dtype=torch.float32)
        grouped = r.view(-1, group)
        mean = torch.nanmean(grouped, dim=1).repeat_interleave(group)
        std = nanstd(grouped, dim=1).repeat_interleave(group)
        return ((r - mean) / (std + 1e-4)).tolist()

    t_ours, ours, t_trl, theirs = best_of_interleaved(
        repeats, lambda: group_advantages(rewards, keys, "grpo", eps=1e-4), trl_way
    )
    worst = max(abs(a - b) for a, b in zip(ours, theirs, strict=True) if a is not None and not math.isnan(b))
    # rows TRL computes for a group whose usable rewards are all equal divide 0 by eps; both give 0 there
    return {"rewardlab_s": t_ours, "trl_s": t_trl, "max_abs_diff": worst}


def bench_composition(samples: int, repeats: int) -> dict[str, Any]:
    rnd = random.Random(1)
    rows = []
    for _ in range(samples):
        answer = str(rnd.randint(0, 20))
        guess = answer if rnd.random() < 0.5 else str(rnd.randint(0, 20))
        text = f"<think>reasoning</think><answer>{guess}</answer>" if rnd.random() < 0.7 else guess
        rows.append({"completion": text, "reference": answer})
    fmt, em = rewardlab.load("format"), rewardlab.load("exact_match")
    composite = weighted_sum(Term(fmt, 0.2), Term(em, 1.0))

    def by_hand() -> list[float]:
        a, b = fmt.score(rows), em.score(rows)
        return [0.2 * x.value + 1.0 * y.value for x, y in zip(a, b, strict=True)]  # type: ignore[operator]

    t_comp, comp, t_hand, hand = best_of_interleaved(repeats, lambda: composite.score(rows), by_hand)
    assert all(math.isclose(c.value, h) for c, h in zip(comp, hand, strict=True))
    return {"composite_s": t_comp, "by_hand_s": t_hand}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    adv = bench_advantages(args.rows, args.group, args.repeats)
    comp = bench_composition(args.samples, args.repeats)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print("| measurement | rewardlab | peer | ratio (rewardlab / peer) |")
    print("|---|---|---|---|")
    print(
        f"| grpo advantages, {args.rows:,} rows, groups of {args.group} | {adv['rewardlab_s'] * 1e3:.0f} ms "
        f"| TRL torch {adv['trl_s'] * 1e3:.0f} ms | {adv['rewardlab_s'] / adv['trl_s']:.2f} |"
    )
    ratio = comp["composite_s"] / comp["by_hand_s"]
    print(
        f"| weighted_sum(format, exact_match), {args.samples:,} samples | {comp['composite_s'] * 1e3:.0f} ms "
        f"| two rewards summed by hand {comp['by_hand_s'] * 1e3:.0f} ms | {ratio:.2f} |"
    )
    print(f"max |advantage difference| on usable rows: {adv['max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
