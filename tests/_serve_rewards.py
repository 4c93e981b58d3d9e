"""Rewards used by the server tests (a module of its own so worker processes can import it)."""

from __future__ import annotations

import asyncio
import os
import time

from rewardlab import Sample, reward

BATCHES: list[int] = []
"""Batch sizes seen by `serve_batches` (in the test process: the reward is resident)."""


@reward(name="serve_batches", placement="resident", batched=True)
async def serve_batches(samples: list[Sample], *, delay: float = 0.0) -> list[float]:
    """Echo each completion's length; records the size of every batch it gets."""
    BATCHES.append(len(samples))
    if delay:
        await asyncio.sleep(delay)
    return [float(len(s.completion_text)) for s in samples]


@reward(name="serve_faulty", placement="process", timeout=1.5)
def serve_faulty(sample: Sample) -> float:
    """``crash`` kills its worker, ``hang`` never returns, anything else scores 1."""
    text = sample.completion_text
    if text == "crash":
        os._exit(3)
    if text == "hang":
        while True:
            time.sleep(1)
    return 1.0


@reward(name="serve_pid", placement="resident")
def serve_pid(sample: Sample) -> float:
    """The id of the process that scored the sample (which server replica)."""
    return float(os.getpid())


@reward(name="serve_exit", placement="resident")
def serve_exit(sample: Sample) -> float:
    """``die`` ends the process scoring it (a server replica dying mid-request); anything else scores 1."""
    if sample.completion_text == "die":
        os._exit(9)
    return 1.0


SETUPS: list[str] = []
"""Setups of `serve_loaded` (in the test process: the reward is resident)."""


@reward(name="serve_loaded", placement="resident", factory=True)
def serve_loaded(*, load_s: float = 0.3, fail: bool = False):  # type: ignore[no-untyped-def]
    """A factory that takes ``load_s`` to set up (a model loading); scores 1 once loaded."""
    time.sleep(load_s)
    if fail:
        raise RuntimeError("the model file is corrupt")
    SETUPS.append("setup")

    def score(sample: Sample) -> float:
        return 1.0

    yield score
    SETUPS.append("close")
