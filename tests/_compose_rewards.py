"""Rewards used by the compose tests (importable by worker processes)."""

from __future__ import annotations

import os

from rewardlab import Sample, Score, reward


@reward(name="test_compose_pid", isolated=True, timeout=10.0, range=(0.0, 1.0))
def worker_pid(sample: Sample) -> Score:
    """1.0, with the id of the process that computed it as a component."""
    return Score.ok(1.0, components={"pid": os.getpid()})


@reward(name="test_compose_value", range=(-1e9, 1e9))
def value_field(sample: Sample, *, field: str = "value") -> Score:
    """The number in a sample field; abstain when absent, error when it is the string 'boom'."""
    value = sample.get(field)
    if value is None:
        return Score.abstain(f"no {field}")
    if value == "boom":
        raise RuntimeError("verifier exploded")
    if value == "timeout":
        return Score.timeout("took too long")
    return Score.ok(float(value))


def longer(a: Sample, b: Sample) -> float:
    """Prefers the longer completion; ties are 0.5; 'x' refuses to compare."""
    if "x" in (a.completion_text, b.completion_text):
        return None  # type: ignore[return-value]
    la, lb = len(a.completion_text), len(b.completion_text)
    return 0.5 if la == lb else float(la > lb)
