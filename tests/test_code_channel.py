"""One hostile sample fails one row: whatever a candidate writes on its result channel.

A candidate can find the pipe to the runner among its descriptors and write any
frame there. Each row below forges one; the sample must score 0 with a reason,
the other samples of the same batch must score normally, and the host must be
done within the sample's deadline plus a small margin.
"""

from __future__ import annotations

import os
import time

import pytest

import rewardlab
from rewardlab.rewards.code._code_tests import _Undecodable, decode_value
from rewardlab.runtime import available_backends

STRICT = os.environ.get("REWARDLAB_STRICT_TESTS") == "1"
BACKENDS = available_backends()
if STRICT and "bwrap" not in BACKENDS:
    raise RuntimeError("bubblewrap is required when REWARDLAB_STRICT_TESTS=1")
needs_sandbox = pytest.mark.skipif(not BACKENDS, reason="no sandbox backend works here (install bubblewrap)")

FORGE = """
import os, stat
def f(x):
    payload = PAYLOAD
    frames = b""
    for i in range(FRAMES):
        frames += b'{"i":' + str(i).encode() + b',"value":' + payload + b'}\\n'
    frames += b'{"end":true}\\n'
    for fd in range(3, 1024):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, frames)
        except OSError:
            pass
    os._exit(0)
"""

BIG = "(2**61 - 1)"  # ints that are multiples of it all hash to 0
FORGERIES = {
    "complex-overflow": ('b\'{"$complex":[{"$int":"1\' + b"0" * 400 + b\'"},0]}\'', 1),
    "nesting-3000-deep": ('b"[" * 3000 + b"]" * 3000', 1),
    "nesting-900-deep": ('b"[" * 900 + b"]" * 900', 1),
    "set-50k-colliding-ints": (
        f'b\'{{"$set":[\' + b",".join(b\'{{"$int":"\' + str(k * {BIG}).encode() + b\'"}}\' '
        "for k in range(1, 50001)) + b']}'",
        1,
    ),
    "dict-50k-colliding-keys": (
        f'b\'{{"$dict":[\' + b",".join(b\'[{{"$int":"\' + str(k * {BIG}).encode() + b\'"}},0]\' '
        "for k in range(1, 50001)) + b']}'",
        1,
    ),
    "frozenset-of-colliding-tuples": (
        f'b\'{{"$frozenset":[\' + b",".join(b\'{{"$tuple":[{{"$int":"\' + str(k * {BIG}).encode() + b\'"}}]}}\' '
        "for k in range(1, 30001)) + b']}'",
        1,
    ),
    "int-with-100k-digits": ('b\'{"$int":"\' + b"9" * 100_000 + b\'"}\'', 1),
    "unhashable-set-item": ("b'{\"$set\":[[1,2]]}'", 1),
    "unknown-tag": ('b\'{"$object":"os.system"}\'', 1),
    "frame-over-4mb": ("b'\"' + b\"x\" * 4_500_000 + b'\"'", 1),
    "frames-over-32mb-in-all": ("b'\"' + b\"x\" * 3_900_000 + b'\"'", 10),
    "million-element-list": ('b"[" + b",".join([b"0"] * 1_100_000) + b"]"', 1),
}


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_forged_result_frame_fails_its_own_row_only(name: str, backend: str) -> None:
    payload, frames = FORGERIES[name]
    code = FORGE.replace("PAYLOAD", payload).replace("FRAMES", str(frames))
    tests = [f"assert f({i}) == {i}" for i in range(frames)]
    timeout = 5.0
    reward = rewardlab.load("code", backend=backend, timeout=timeout, workers=2)
    started = time.monotonic()
    bad, good = reward.score(
        [
            {"completion": code, "tests": tests},
            {"completion": "def f(x):\n    return x", "tests": tests},
        ]
    )
    elapsed = time.monotonic() - started
    assert bad.status.value == "ok" and bad.value == 0.0, bad
    assert bad.reason, bad
    assert good.status.value == "ok" and good.value == 1.0, good
    assert elapsed < timeout + 5.0, f"the host took {elapsed:.1f}s"


@pytest.mark.parametrize(
    "data",
    [
        {"$complex": [{"$int": "1" + "0" * 400}, 0]},
        {"$set": [{"$int": str(k * (2**61 - 1))} for k in range(1, 5001)]},
        {"$dict": [[{"$int": str(k * (2**61 - 1))}, 0] for k in range(1, 5001)]},
        {"$int": "9" * 5000},
        {"$set": [[1]]},
        {"$dict": [[[1], 2]]},
        {"$complex": ["a", 1]},
        {"$bytes": "zz"},
        {"$tuple": "abc"},
    ],
    ids=["complex-overflow", "colliding-set", "colliding-dict", "huge-int", "unhashable-set", "unhashable-key",
         "complex-of-str", "bad-hex", "tuple-of-str"],
)  # fmt: skip
def test_decoder_refuses_hostile_encodings_with_one_exception_type(data: object) -> None:
    # CPU time of this thread, not wall time: what a quadratic decoder would spend, whatever else
    # the machine runs (on a loaded machine a wall-clock bound fails at random).
    started = time.thread_time()
    with pytest.raises(_Undecodable):
        decode_value(data)
    assert time.thread_time() - started < 1.0


def test_decoder_caps_depth_and_size() -> None:
    deep: object = 0
    for _ in range(200):
        deep = [deep]
    with pytest.raises(_Undecodable, match="deeper"):
        decode_value(deep)
    with pytest.raises(_Undecodable, match="elements"):
        decode_value([0] * 1_000_001)
    assert decode_value({"$set": [-1, -2]}) == {-1, -2}  # a genuine hash collision is fine
