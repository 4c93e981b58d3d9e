"""Composition overhead, against what a TRL user runs today.

``composition``: a ``weighted_sum`` of ``format`` and ``exact_match`` against scoring the two
rewards separately and summing by hand (what a TRL user does with two reward_funcs), side by
side in the same run. Group advantages against TRL's torch computation are measured by
``bench_advantages.py``.

    python benchmarks/bench_compose.py --samples 20000
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import time
from typing import Any

import rewardlab
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
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    comp = bench_composition(args.samples, args.repeats)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print("| measurement | rewardlab | peer | ratio (rewardlab / peer) |")
    print("|---|---|---|---|")
    ratio = comp["composite_s"] / comp["by_hand_s"]
    print(
        f"| weighted_sum(format, exact_match), {args.samples:,} samples | {comp['composite_s'] * 1e3:.0f} ms "
        f"| two rewards summed by hand {comp['by_hand_s'] * 1e3:.0f} ms | {ratio:.2f} |"
    )


if __name__ == "__main__":
    main()
