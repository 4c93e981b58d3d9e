"""What counts as returned data, and setup code: a regression table on a real sandbox, plus MBPP.

Policy (docs/code.md): the standard library's containers are the plain data they
hold (a ``Counter`` is its dict, a named tuple its tuple, a ``deque`` a deque that
never equals a list, as in Python); any other object, including a subclass that
defines its own comparison, is refused. MBPP's ``test_setup_code`` and
``test_imports`` run, every statement, before the tests; what cannot run abstains.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import rewardlab
from rewardlab._types import Sample
from rewardlab.rewards.code import _code_tests
from rewardlab.rewards.code._code_tests import suite_for
from rewardlab.runtime import available_backends

STRICT = os.environ.get("REWARDLAB_STRICT_TESTS") == "1"
BACKENDS = available_backends()
if STRICT and "bwrap" not in BACKENDS:
    raise RuntimeError("bubblewrap is required when REWARDLAB_STRICT_TESTS=1")
needs_sandbox = pytest.mark.skipif(not BACKENDS, reason="no sandbox backend works here (install bubblewrap)")

TREE = "class Node:\n    def __init__(self, v):\n        self.v = v\n        self.left = self.right = None\n"
HEIGHT = TREE + ("def height(n):\n    return 0 if n is None else 1 + max(height(n.left), height(n.right))\n")
TREE_SETUP = "root = Node(1)\nroot.left = Node(2)\nroot.left.left = Node(3)\n"


@dataclass(frozen=True)
class Row:
    id: str
    code: str
    tests: tuple[str, ...]
    expected: float | None  # None: the sample abstains
    note: str
    extras: dict = field(default_factory=dict)


ROWS = [
    # -- standard-library containers are the data they hold (MBPP 40, 88, 653, 902 return these)
    Row(
        "counter-equals-its-dict",
        "from collections import Counter\ndef f(xs):\n    return Counter(xs)",
        ("assert f('abca') == {'a': 2, 'b': 1, 'c': 1}",),
        1.0,
        "MBPP 40/88/902: Python says Counter('abca') == {'a': 2, 'b': 1, 'c': 1}",
    ),
    Row(
        "counter-with-wrong-counts",
        "from collections import Counter\ndef f(xs):\n    return Counter(xs + 'a')",
        ("assert f('abca') == {'a': 2, 'b': 1, 'c': 1}",),
        0.0,
        "the data is compared, so a wrong Counter still fails",
    ),
    Row(
        "defaultdict-equals-its-dict",
        "from collections import defaultdict\ndef f(pairs):\n    d = defaultdict(list)\n"
        "    for k, v in pairs:\n        d[k].append(v)\n    return d",
        ("assert f([('a', 1), ('b', 2), ('a', 3)]) == {'a': [1, 3], 'b': [2]}",),
        1.0,
        "MBPP 653",
    ),
    Row(
        "ordered-dict-equals-dict-in-any-order",
        "from collections import OrderedDict\ndef f():\n    return OrderedDict([('b', 2), ('a', 1)])",
        ("assert f() == {'a': 1, 'b': 2}",),
        1.0,
        "OrderedDict == dict ignores order in Python",
    ),
    Row(
        "named-tuple-equals-its-tuple",
        "from collections import namedtuple\nP = namedtuple('P', 'x y')\ndef f():\n    return P(1, 2)",
        ("assert f() == (1, 2)",),
        1.0,
        "a named tuple is a tuple",
    ),
    Row(
        "typing-named-tuple-in-a-list",
        "from typing import NamedTuple\nclass P(NamedTuple):\n    x: int\n    y: int\n"
        "def f():\n    return [P(1, 2), P(3, 4)]",
        ("assert f() == [(1, 2), (3, 4)]",),
        1.0,
        "nested containers are encoded by the same rules",
    ),
    Row(
        "deque-is-not-a-list",
        "from collections import deque\ndef f():\n    return deque([1, 2])",
        ("assert f() == [1, 2]",),
        0.0,
        "Python: deque([1, 2]) == [1, 2] is False; the reward agrees",
    ),
    Row(
        "deque-converted-by-the-test",
        "from collections import deque\ndef f():\n    return deque([1, 2])",
        ("assert list(f()) == [1, 2]",),
        1.0,
        "a deque decodes as a deque, so list() on the sandbox side still works",
    ),
    Row(
        "user-dict-equals-its-data",
        "from collections import UserDict\ndef f():\n    return UserDict({'a': 1})",
        ("assert f() == {'a': 1}",),
        1.0,
        "UserDict compares by its .data",
    ),
    Row(
        "counter-keys-that-are-not-data",
        "from collections import Counter\nclass K:\n    def __eq__(self, o): return True\n"
        "    __hash__ = object.__hash__\n"
        "def f():\n    return Counter({K(): 1})",
        ("assert f() == {'a': 1}",),
        0.0,
        "what a container holds is encoded by the same rules: a foreign key is refused",
    ),
    # -- user-defined classes stay refused, whatever they claim
    Row(
        "counter-subclass-always-equal",
        "from collections import Counter\nclass C(Counter):\n    def __eq__(self, o): return True\n"
        "def f(xs):\n    return C()",
        ("assert f('abca') == {'a': 2, 'b': 1, 'c': 1}",),
        0.0,
        "a subclass of a standard container is not standard data",
    ),
    Row(
        "named-tuple-subclass-always-equal",
        "from collections import namedtuple\nclass P(namedtuple('P', 'x y')):\n"
        "    def __eq__(self, o): return True\ndef f():\n    return P(0, 0)",
        ("assert f() == (1, 2)",),
        0.0,
        "a named tuple whose class overrides comparison is refused",
    ),
    Row(
        "named-tuple-lookalike-with-eq",
        "class P(tuple):\n    _fields = ('x', 'y')\n    def __eq__(self, o): return True\n"
        "    __hash__ = tuple.__hash__\n"
        "def f():\n    return P((0, 0))",
        ("assert f() == (1, 2)",),
        0.0,
        "structural check: a tuple class with _fields and its own __eq__ is not a named tuple",
    ),
    Row(
        "named-tuple-lookalike-lying-iterator",
        "class P(tuple):\n    _fields = ('x', 'y')\n    def __iter__(self): return iter((1, 2))\n"
        "def f():\n    return P((0, 0))",
        ("assert f() == (1, 2)",),
        0.0,
        "the tuple's own storage is read (tuple.__iter__), not the class's __iter__",
    ),
    Row(
        "counter-with-forged-items",
        "from collections import Counter\ndef f(xs):\n    c = Counter()\n"
        "    c.items = lambda: [('a', 2), ('b', 1), ('c', 1)]\n    return c",
        ("assert f('abca') == {'a': 2, 'b': 1, 'c': 1}",),
        0.0,
        "dict.items(value) reads the storage; an instance attribute named items is never called",
    ),
    Row(
        "class-equal-to-counter-by-metaclass",
        "class Meta(type):\n    def __eq__(cls, other): return True\n    __hash__ = type.__hash__\n"
        "class Fake(metaclass=Meta):\n    data = {'a': 2, 'b': 1, 'c': 1}\n"
        "def f(xs):\n    return Fake()",
        ("assert f('abca') == {'a': 2, 'b': 1, 'c': 1}",),
        0.0,
        "the container classes are recognised by identity, not by == on the class",
    ),
    # -- setup code runs, every statement (MBPP 367 and 927 build trees in test_setup_code)
    Row(
        "mbpp-setup-builds-objects",
        HEIGHT,
        ("assert height(root) == 3", "assert height(root.left) == 2"),
        1.0,
        "MBPP 367/927: test_setup_code builds a tree of the candidate's Node",
        {"test_setup_code": TREE_SETUP},
    ),
    Row(
        "mbpp-setup-wrong-solution",
        TREE + "def height(n):\n    return 1",
        ("assert height(root) == 3",),
        0.0,
        "setup runs for wrong solutions too; the verdict stays outside",
        {"test_setup_code": TREE_SETUP},
    ),
    Row(
        "test-imports-keep-every-statement",
        "def f(x):\n    return x * 2",
        ("assert f(LIMIT) == 20",),
        1.0,
        "statements in test_imports that are not imports used to be dropped silently",
        {"test_imports": ["import math", "LIMIT = 10"]},
    ),
    Row(
        "setup-with-calls-tests",
        "def f(x):\n    return x + OFFSET",
        (),
        1.0,
        "call tests run after the setup, which runs in the program's own module (as code + setup + tests in one file)",
        {"calls": [{"args": [1], "expected": 11}], "entry_point": "f", "test_setup_code": "OFFSET = 10"},
    ),
    Row(
        "invalid-escape-is-a-warning-not-an-error",
        "import re\ndef f(s):\n    return re.findall('\\w+', s)",
        ("assert f('a b') == ['a', 'b']",),
        1.0,
        "MBPP 44/73/254: '\\w' in a plain string; this test runs with warnings as errors, the sandbox does not",
    ),
    Row(
        "setup-cannot-run-with-io-tests",
        "print(input())",
        (),
        None,
        "a stdin/stdout program has nowhere to run setup: abstain, never score without it",
        {"io": [{"stdin": "1", "stdout": "1"}], "test_setup_code": "x = 1"},
    ),
]


@needs_sandbox
def test_regression_table() -> None:
    samples = []
    for row in ROWS:
        sample = {"completion": row.code, **row.extras}
        if row.tests:
            sample["tests"] = list(row.tests)
        samples.append(sample)
    scores = rewardlab.load("code", workers=2, timeout=5.0).score(samples)
    wrong = []
    for row, score in zip(ROWS, scores, strict=True):
        got = None if score.status.value == "abstain" else score.value
        if got != row.expected:
            wrong.append((row.id, row.expected, score.status.value, score.value, score.reason))
    assert not wrong, wrong


def test_setup_fields_are_checked_and_named() -> None:
    with pytest.raises(_code_tests.TestFormatError, match="test_setup_code"):
        suite_for(Sample(completion="", extras={"tests": ["assert f(1) == 1"], "test_setup_code": "x = ("}))
    with pytest.raises(_code_tests.TestFormatError, match="test_setup_code"):
        suite_for(Sample(completion="", extras={"tests": ["assert f(1) == 1"], "test_setup_code": 3}))
    with pytest.raises(_code_tests.TestsNotRunnable, match="io"):
        suite_for(Sample(completion="", extras={"io": [{"stdin": "", "stdout": ""}], "test_imports": ["import os"]}))


def test_setup_names_do_not_force_trusted_mode_and_expected_values_stay_outside() -> None:
    suite = suite_for(
        Sample(completion="", extras={"tests": ["assert height(root) == 3817"], "test_setup_code": TREE_SETUP})
    )
    assert suite is not None and suite.trusted == 0
    assert "root = Node(1)" in suite.setup
    assert "3817" not in json.dumps([getattr(c, "call", None) for c in suite.cases]) + suite.setup


KNOWN_BAD_ROWS = {
    341: "the expected tuple depends on set iteration order (the reference harness fails it too)",
    596: "the expected sys.getsizeof values are those of an older Python (the reference harness fails it too)",
    642: "the expected set of tuples depends on the order of a sorted-by-set step (the reference harness fails it too)",
}


@needs_sandbox
@pytest.mark.slow
def test_mbpp_canonical_solutions_score_one(shared_data: Path) -> None:
    path = shared_data / "mbpp" / "mbpp.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) == 974
    samples = [
        {"completion": r["code"], "tests": r["test_list"], "test_setup_code": r["test_setup_code"]} for r in rows
    ]
    # 123 (amicable numbers up to 9999) needs seconds of CPU; a busy machine gets room for it
    scores = rewardlab.load("code", workers=2, timeout=30.0).score(samples)
    failed = {r["task_id"]: s.reason for r, s in zip(rows, scores, strict=True) if s.value != 1.0}
    assert set(failed) == set(KNOWN_BAD_ROWS), failed
