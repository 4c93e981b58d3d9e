"""A deliberately slow reward for crash/resume tests of the score job.

The delay comes from the environment so that a fast run and a slow run have the
same reward signature (the resume check compares signatures).
"""

import os
import time

from rewardlab import Sample, reward


@reward(name="test_slow_len")
def slow_len(sample: Sample) -> float:
    time.sleep(float(os.environ.get("SLOW_PLUGIN_DELAY", "0")))
    return float(len(sample.completion_text))


@reward(name="test_group_size", batched=True, range=(0.0, 1e9))
def group_size(samples: list[Sample]) -> list[float]:
    """How many rows of the same group this batch holds (a group reward's view)."""
    counts: dict[object, int] = {}
    for s in samples:
        counts[s.get("group")] = counts.get(s.get("group"), 0) + 1
    return [float(counts[s.get("group")]) for s in samples]
