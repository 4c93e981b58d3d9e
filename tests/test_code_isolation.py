"""Isolation promises of the code sandbox, each checked from outside on a real sandbox.

- no sample can read anything of another sample (not even freed memory of the runner);
- everything a sample can pin (shared memory, memfds, tmpfs files) is bounded on the host;
- the working directory cannot be turned against the harness;
- no nested user namespaces, no site-packages;
- whatever a candidate writes on its result channel fails that sample alone, in bounded time.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

import rewardlab
from rewardlab.runtime import Sandbox, SandboxJob, SandboxLimits, available_backends

STRICT = os.environ.get("REWARDLAB_STRICT_TESTS") == "1"
BACKENDS = available_backends()
if STRICT and "bwrap" not in BACKENDS:
    raise RuntimeError("bubblewrap is required when REWARDLAB_STRICT_TESTS=1")
needs_sandbox = pytest.mark.skipif(not BACKENDS, reason="no sandbox backend works here (install bubblewrap)")

# Planted by an earlier sample; a later one must not find it anywhere in its memory.
# The scanning code never holds the whole marker: it looks for the head and compares the tail.
HEAD, TAIL = "QX7-leak-marker-", "5f0c9e21"
MARKER = HEAD + TAIL

MEMORY_SCAN = f'''
import ctypes
def scan():
    head, tail = {HEAD!r}.encode(), {TAIL!r}.encode()
    found, scanned = [], 0
    with open("/proc/self/maps") as fh:
        maps = fh.read().splitlines()
    for line in maps:
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        name = parts[5] if len(parts) > 5 else ""
        if not parts[1].startswith("r") or name in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
            continue
        for start in range(lo, hi, 1 << 20):
            size = min(1 << 20, hi - start)
            try:
                blob = ctypes.string_at(start, size + (len(head) + len(tail) if start + size < hi else 0))
            except Exception:
                continue
            scanned += size
            at = blob.find(head)
            while at >= 0:
                if blob[at + len(head): at + len(head) + len(tail)] == tail:
                    found.append(name or hex(start))
                at = blob.find(head, at + 1)
    return [scanned, found]
'''


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reuse", [True, False], ids=["reused", "fresh"])
def test_no_sample_can_read_another_samples_memory(backend: str, reuse: bool) -> None:
    planted = (
        f"SECRET = {MARKER!r} * 50\n"
        f"def f(x):\n    return {MARKER!r}\n"
    )
    with Sandbox(backend, SandboxLimits(wall_s=20.0), reuse=reuse) as box:
        for _ in range(3):
            first = box.run(
                SandboxJob("calls", planted, [{"expr": f"candidate({MARKER!r})"}], entry_point="f", setup="import os")
            )
            assert {"i": 0, "value": MARKER} in first.frames
        tested = box.run(SandboxJob("calls", MEMORY_SCAN, [{"expr": "candidate()"}], entry_point="scan"))
        values = [f["value"] for f in tested.frames if "value" in f]
        assert values, tested
        scanned, found = values[0]
        assert scanned > 5_000_000, "the scan must cover the process's memory"
        assert found == [], f"an earlier sample's marker is readable in {found}"
        if reuse:
            assert len(box._idle) == 1  # the same worker ran every job
