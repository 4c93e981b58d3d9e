"""Verifier functions that misbehave on purpose, for runtime tests (importable by worker processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from rewardlab import Sample, reward


def spin_forever() -> None:
    while True:
        pass


def hog_memory() -> int:
    blocks = []
    while True:
        blocks.append(bytearray(1024 * 1024 * 1024))


def crash_hard() -> None:
    os._exit(7)


def segfault() -> None:
    import ctypes

    ctypes.string_at(0)


def add(a: int, b: int) -> int:
    return a + b


def sleep_then(value: int, seconds: float) -> int:
    time.sleep(seconds)
    return value


def spawn_sleeper(marker: str) -> None:
    """Start a grandchild that would outlive its parent, then hang."""
    subprocess.Popen([sys.executable, "-c", f"import time; open({marker!r}, 'w').write('x'); time.sleep(60)"])
    while True:
        time.sleep(0.1)


def my_pid() -> int:
    return os.getpid()


def set_global(value: int) -> int:
    global LEAKED
    LEAKED = value
    return value


@reward(name="test_misbehave", isolated=True, timeout=1.0)
def misbehave(sample: Sample) -> float:
    kind = sample.completion_text
    if kind == "loop":
        spin_forever()
    if kind == "hog":
        hog_memory()
    if kind == "crash":
        crash_hard()
    if kind == "raise":
        raise ValueError("verifier bug")
    return 1.0
