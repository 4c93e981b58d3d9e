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
