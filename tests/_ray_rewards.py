"""Rewards for the Ray tests (a module of its own so Ray's worker processes can import it)."""

from __future__ import annotations

import os
import time

from rewardlab import Sample, reward


@reward(name="ray_faulty")
def ray_faulty(sample: Sample) -> float:
    """``die`` ends the process scoring it (a Ray actor dying mid-job), ``hang`` never returns."""
    text = sample.completion_text
    if text == "die":
        os._exit(7)
    if text == "hang":
        while True:
            time.sleep(1)
    return float(len(text))


@reward(name="ray_counted", placement="resident", factory=True)
def ray_counted(*, log: str = ""):
    """Length of the completion; appends ``setup <pid>`` to ``log`` each time it is set up."""
    with open(log, "a") as handle:
        handle.write(f"setup {os.getpid()}\n")

    def score(sample: Sample) -> float:
        return float(len(sample.completion_text))

    return score


@reward(name="ray_dies_once")
def ray_dies_once(sample: Sample) -> float:
    """Ends the process scoring it the first time it sees ``die:<marker path>`` (a transient loss)."""
    text = sample.completion_text
    if text.startswith("die:"):
        marker = text[4:]
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(7)
    return float(len(text))
