"""Test suites for code rewards: one schema for HumanEval, MBPP, call and stdin/stdout tests.

Every shape becomes a list of `TestCase`. Wherever a test has the shape
``<expression calling the function> <compare> <constant>``, it is decomposed:
only the expression goes into the sandbox, the constant stays here and the
comparison runs here on plain data (`CallCheck`). Tests without that shape run
inside the sandbox next to the candidate (`TrustedTest`): a weaker mode that the
score's reason marks, because there the candidate could read or forge them.
"""

from __future__ import annotations

import ast
import builtins
import collections
import math
import re
import reprlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from rewardlab._types import Sample

MAX_CODE_CHARS = 200_000
"""Longest candidate program accepted; longer ones score 0 without running.
Compiling is linear, but nothing a policy writes for a unit test needs more."""

MAX_TESTS = 1_000
"""Most test cases of one row; more is bad task data."""

MAX_EXPECTED_CHARS = 2_000_000
"""Longest source of a single expected value that is parsed on the trusted side."""

Compare = Literal["eq", "ne", "is", "is_not", "truthy", "falsy", "close"]


@dataclass(frozen=True, slots=True)
class CallCheck:
    """A decomposed test: the sandbox evaluates ``call``; ``expected`` never leaves this side.

    Attributes:
        call: What the sandbox runs: ``{"expr": source}`` or ``{"args": [...], "kwargs": {...}}``.
        expected: The value to compare with (unused for ``truthy``/``falsy``).
        compare: ``eq``, ``ne``, ``is``, ``is_not``, ``truthy``, ``falsy`` or ``close``.
        abs_tol: Absolute tolerance for ``close``.
        rel_tol: Relative tolerance for ``close``.
        json_like: Compare tuples as lists (call cases from JSON, which has no tuples).
        inclusive: ``close`` without ``rel_tol`` accepts a distance equal to ``abs_tol`` (``<=``).
        label: Short text naming the test in reasons.
    """

    call: Mapping[str, Any]
    expected: Any = None
    compare: Compare = "eq"
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    json_like: bool = False
    inclusive: bool = False
    label: str = ""


@dataclass(frozen=True, slots=True)
class TrustedTest:
    """A test that could not be decomposed; it runs inside the sandbox (weaker)."""

    source: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class StdinCase:
    """Run the program on ``stdin`` and compare its stdout with ``stdout`` (see `outputs_match`)."""

    stdin: str
    stdout: str
    label: str = ""


TestCase = Union[CallCheck, TrustedTest, StdinCase]  # noqa: UP007 (a runtime alias on Python 3.10)


@dataclass(frozen=True, slots=True)
class TestSuite:
    """The tests of one row, ready to run.

    Attributes:
        cases: The tests, in order.
        entry_point: Name of the function under test (bound to ``candidate`` in the sandbox).
        setup: Statements the tests need (imports, ``test_setup_code``), run in the
            sandbox after the candidate's module and before the tests.
        key: Identity of the suite, so a batch can group samples of the same task.
    """

    cases: list[TestCase]
    entry_point: str | None = None
    setup: str = ""
    key: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def trusted(self) -> int:
        """Number of tests that run in the weaker trusted-test mode."""
        return sum(isinstance(c, TrustedTest) for c in self.cases)


class TestFormatError(ValueError):
    """A row's tests are malformed; the message names the field and position."""


class TestsNotRunnable(ValueError):
    """Part of a row's tests cannot run as given; the sample abstains with this reason.

    Nothing in a row is dropped silently: a statement that would not run makes
    the whole row unscorable instead of scoring it on the rest.
    """


# -- code extraction -------------------------------------------------------------
_FENCE = re.compile(r"^```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def extract_code(completion: str) -> str:
    """The code of a completion: the last ```python fenced block, else the last unlabelled block, else the text.

    Example:
        >>> extract_code("Here:\\n```python\\nx = 1\\n```\\n")
        'x = 1\\n'
    """
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(completion)]
    for wanted in (("python", "py", "python3"), ("",)):
        chosen = [body for lang, body in blocks if lang in wanted]
        if chosen:
            return chosen[-1]
    return completion


# -- trusted-side constants --------------------------------------------------------
class _NotConstant(Exception):
    pass


_CONSTRUCTORS = {"set": set, "frozenset": frozenset, "tuple": tuple, "list": list, "dict": dict, "float": float}


def constant_value(node: ast.expr) -> Any:
    """Evaluate an expected value on the trusted side: literals plus ``set()``, ``float('inf')`` and the like.

    Raises:
        _NotConstant: the expression is not such a constant (the test then runs in trusted-test mode).
    """
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = constant_value(node.operand)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONSTRUCTORS:
        if node.keywords or len(node.args) > 1:
            raise _NotConstant
        maker = _CONSTRUCTORS[node.func.id]
        args = [constant_value(a) for a in node.args]
        if maker is float and not (args and isinstance(args[0], (str, int, float))):
            raise _NotConstant
        try:
            return maker(*args)
        except (TypeError, ValueError) as exc:
            raise _NotConstant from exc
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [constant_value(e) for e in node.elts]
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {constant_value(k): constant_value(v) for k, v in zip(node.keys, node.values, strict=False)}  # type: ignore[arg-type]
    raise _NotConstant


# -- decomposition of assert statements ----------------------------------------------
_BUILTIN_NAMES = frozenset(dir(builtins))


def _free_names(node: ast.AST) -> set[str]:
    bound: set[str] = set()
    used: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (bound if isinstance(sub.ctx, ast.Store) else used).add(sub.id)
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
    return used - bound


def _calls_function(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(s, ast.Call) and isinstance(s.func, ast.Name) and s.func.id in names for s in ast.walk(node))


def _is_vacuous(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return True  # a docstring or a bare string
    return isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Constant) and bool(stmt.test.value)


# Nodes that compute a verdict (or hide one) wherever they sit in the sandbox-side expression.
_VERDICT_NODES = (
    ast.Compare, ast.BoolOp, ast.IfExp, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom,
)  # fmt: skip


def holds_no_expected_value(node: ast.expr, functions: set[str]) -> bool:
    """Whether ``node`` may be evaluated inside the sandbox in decomposed mode.

    It may not compute a verdict (no comparison, ``not``, ``and``/``or``,
    conditional, comprehension or lambda anywhere), and every constant in it
    must be an argument of a call to the function under test (an input, which
    the candidate sees anyway). ``f(3)``, ``sorted(f([1, 2]))`` and
    ``f(3).lower()`` qualify; ``(f(3) == 42)``, ``f(3) - 42``, ``f(3)[0]`` and
    ``all(f(x) == y for ...)`` do not: there an expected value (or a
    comparison a candidate's object could answer) would run next to the code,
    readable in ``co_consts``.
    """
    inputs: set[int] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in functions:
            for arg in [*sub.args, *(k.value for k in sub.keywords)]:
                inputs.update(id(n) for n in ast.walk(arg))
    for sub in ast.walk(node):
        if isinstance(sub, _VERDICT_NODES) or (isinstance(sub, ast.UnaryOp) and isinstance(sub.op, ast.Not)):
            return False
        if id(sub) not in inputs and isinstance(sub, (ast.Constant, ast.JoinedStr)):
            return False
    return True


def _single_compare(node: ast.expr, ops: tuple[type, ...]) -> bool:
    return isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ops)


def _simplify(test: ast.expr) -> ast.expr:
    """Rewrite verdicts wrapped in verdicts into the plain comparison, so that it can be decomposed.

    ``(X == c) == True``, ``(X == c) is True``, ``True == (X == c)`` become
    ``X == c``; the ``False`` forms and ``not (X == c)`` become ``X != c``, and
    ``not (X != c)`` becomes ``X == c``. On plain data ``X == c`` is a bool, so
    the meaning is the same; the comparison then runs outside the sandbox.
    """
    flip = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
    while True:
        if (
            isinstance(test, ast.UnaryOp)
            and isinstance(test.op, ast.Not)
            and _single_compare(test.operand, (ast.Eq, ast.NotEq))
        ):
            inner = test.operand
            assert isinstance(inner, ast.Compare)
            test = ast.Compare(inner.left, [flip[type(inner.ops[0])]()], inner.comparators)
            continue
        if _single_compare(test, (ast.Eq, ast.Is, ast.NotEq, ast.IsNot)):
            assert isinstance(test, ast.Compare)
            left, right = test.left, test.comparators[0]
            for verdict, flag in ((left, right), (right, left)):
                if (
                    _single_compare(verdict, (ast.Eq, ast.NotEq))
                    and isinstance(flag, ast.Constant)
                    and type(flag.value) is bool
                ):
                    assert isinstance(verdict, ast.Compare)
                    keep = flag.value == isinstance(test.ops[0], (ast.Eq, ast.Is))
                    op = verdict.ops[0] if keep else flip[type(verdict.ops[0])]()
                    test = ast.Compare(verdict.left, [op], verdict.comparators)
                    break
            else:
                return test
            continue
        return test


def decompose_assert(stmt: ast.stmt, functions: set[str], allowed: set[str]) -> CallCheck | None:
    """Turn ``assert <call-expr> <op> <constant>`` into a `CallCheck`, or ``None`` when it has another shape.

    ``functions`` are the names of the function under test; ``allowed`` are the
    other free names the sandbox side may use (imported modules). Shapes:
    ``X == c``, ``c == X``, ``X != c``, ``X is c``/``is not c`` (``None``,
    ``True``, ``False``), ``X``, ``not X``, ``abs(X - c) < t`` (or ``<=``, either
    order inside ``abs``), and ``math.isclose(X, c, rel_tol=..., abs_tol=...)``.
    """
    if not isinstance(stmt, ast.Assert):
        return None
    test = _simplify(stmt.test)
    names_ok = functions | allowed | _BUILTIN_NAMES

    def side(node: ast.expr) -> dict[str, str] | None:
        if not _calls_function(node, functions) or not _free_names(node) <= names_ok:
            return None
        if not holds_no_expected_value(node, functions):
            return None
        return {"expr": ast.unparse(node)}

    def const(node: ast.expr) -> tuple[bool, Any]:
        if _calls_function(node, functions):
            return False, None
        if len(ast.unparse(node)) > MAX_EXPECTED_CHARS:
            return False, None
        try:
            return True, constant_value(node)
        except _NotConstant:
            return False, None

    label = ast.unparse(stmt.test)[:120]
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right, op = test.left, test.comparators[0], test.ops[0]
        if isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)):
            for call_side, const_side in ((left, right), (right, left)):
                call = side(call_side)
                ok, value = const(const_side)
                if call is None or not ok:
                    continue
                if isinstance(op, (ast.Is, ast.IsNot)) and value not in (None, True, False):
                    return None
                kind: Compare = {ast.Eq: "eq", ast.NotEq: "ne", ast.Is: "is", ast.IsNot: "is_not"}[type(op)]  # type: ignore[assignment]
                return CallCheck(call, value, kind, label=label)
            return None
        if isinstance(op, (ast.Lt, ast.LtE)):
            return _decompose_abs_close(left, right, side, const, label, isinstance(op, ast.LtE))
        return None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        call = side(test.operand)
        return None if call is None else CallCheck(call, None, "falsy", label=label)
    if isinstance(test, ast.Call) and _is_isclose(test.func):
        return _decompose_isclose(test, side, const, label)
    call = side(test)
    if call is not None and not isinstance(test, (ast.Compare, ast.BoolOp)):
        return CallCheck(call, None, "truthy", label=label)
    return None


def _is_isclose(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id == "isclose"
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "isclose"
        and isinstance(func.value, ast.Name)
        and func.value.id == "math"
    )


def _decompose_abs_close(
    left: ast.expr, right: ast.expr, side: Any, const: Any, label: str, inclusive: bool
) -> CallCheck | None:
    if not (isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id in ("abs",)):
        if not (isinstance(left, ast.Call) and _is_fabs(left.func)):
            return None
    if len(left.args) != 1 or left.keywords:
        return None
    inner = left.args[0]
    ok_tol, tol = const(right)
    if not ok_tol or not isinstance(tol, (int, float)) or isinstance(tol, bool):
        return None
    if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub):
        for call_side, const_side in ((inner.left, inner.right), (inner.right, inner.left)):
            call = side(call_side)
            ok, value = const(const_side)
            if call is not None and ok and isinstance(value, (int, float)) and not isinstance(value, bool):
                return CallCheck(call, value, "close", abs_tol=float(tol), inclusive=inclusive, label=label)
    return None


def _is_fabs(func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "fabs"
        and isinstance(func.value, ast.Name)
        and func.value.id == "math"
    )


def _decompose_isclose(test: ast.Call, side: Any, const: Any, label: str) -> CallCheck | None:
    if len(test.args) != 2:
        return None
    tolerances = {"rel_tol": 1e-9, "abs_tol": 0.0}
    for kw in test.keywords:
        if kw.arg not in tolerances:
            return None
        ok, value = const(kw.value)
        if not ok or not isinstance(value, (int, float)):
            return None
        tolerances[kw.arg] = float(value)
    for call_side, const_side in ((test.args[0], test.args[1]), (test.args[1], test.args[0])):
        call = side(call_side)
        ok, value = const(const_side)
        if call is not None and ok and isinstance(value, (int, float)) and not isinstance(value, bool):
            return CallCheck(
                call, value, "close", abs_tol=tolerances["abs_tol"], rel_tol=tolerances["rel_tol"], label=label
            )
    return None


def _imports_of(statements: Sequence[ast.stmt]) -> tuple[list[str], set[str]]:
    sources, names = [], set()
    for stmt in statements:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            sources.append(ast.unparse(stmt))
            for alias in stmt.names:
                names.add((alias.asname or alias.name).split(".")[0])
    return sources, names


_PARSE_LOCK = threading.RLock()
"""CPython 3.11 keeps the counter with which `ast.parse` checks its own recursion in one place per
interpreter, not per thread. When the collector runs a finalizer (Python code) while one thread
builds the AST objects, another thread's `ast.parse` can start and reset that counter, and the
first fails with ``SystemError: AST constructor recursion depth mismatch``. The reward parses
tests on a thread per sample, so parsing is serialised (re-entrant: a finalizer may parse)."""


def _parse(source: str, where: str) -> ast.Module:
    attempts = 3
    while True:
        attempts -= 1
        try:
            with _PARSE_LOCK:
                return ast.parse(source)
        except SyntaxError as exc:
            raise TestFormatError(f"field {where}: not valid Python ({exc.msg}, line {exc.lineno})") from exc
        except SystemError as exc:
            # The same race with a thread outside this module (another reward, an importer that
            # rewrites modules): parsing is a pure function of the source, so parse again.
            if attempts == 0 or "AST constructor recursion depth mismatch" not in str(exc):
                raise


def _bound_names(module: ast.Module) -> set[str]:
    """Every name a setup module binds (assignments, definitions, imports), at any depth."""
    names: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def row_setup(imports: Sequence[str] = (), setup: str = "") -> tuple[list[str], set[str]]:
    """The row's setup statements, all of them and in order, and the names they bind.

    ``imports`` are ``test_imports`` (a list of statements), ``setup`` is MBPP's
    ``test_setup_code``. Both are dataset code (like HumanEval's ``check``): they
    run in the sandbox, in the candidate's module after its code and before the
    tests, as a reference harness runs code, setup and tests as one program.
    Nothing is filtered out; a statement that cannot run fails the row's tests.
    """
    sources: list[str] = []
    names: set[str] = set()
    for where, text in (("test_imports", "\n".join(imports)), ("test_setup_code", setup)):
        if text.strip():
            names |= _bound_names(_parse(text, where))
            sources.append(text.strip("\r\n"))
    return sources, names


def suite_from_asserts(
    tests: Sequence[str], entry_point: str | None, imports: Sequence[str] = (), setup: str = ""
) -> TestSuite:
    """MBPP shape: a list of ``assert`` strings, each one test, after the row's setup (see `row_setup`)."""
    setup_sources, setup_names = row_setup(imports, setup)
    cases: list[TestCase] = []
    for index, text in enumerate(tests):
        if not isinstance(text, str):
            raise TestFormatError(f"field tests[{index}]: expected a string, got {type(text).__name__}")
        module = _parse(text, f"tests[{index}]")
        imports_here, names_here = _imports_of(module.body)
        setup_sources += [s for s in imports_here if s not in setup_sources]
        body = [s for s in module.body if not isinstance(s, (ast.Import, ast.ImportFrom)) and not _is_vacuous(s)]
        functions = {entry_point} if entry_point else _called_names(body)
        checks = [decompose_assert(s, functions, setup_names | names_here) for s in body]
        if body and all(c is not None for c in checks):
            cases.extend(c for c in checks if c is not None)
        elif body:
            cases.append(TrustedTest(text, label=text.strip()[:120]))
    return TestSuite(cases, entry_point, "\n".join(setup_sources))


def _called_names(body: Sequence[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        if isinstance(stmt, ast.Assert):
            for sub in ast.walk(stmt.test):
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id not in _BUILTIN_NAMES:
                    names.add(sub.func.id)
    return names


def suite_from_check(
    test: str, entry_point: str, setup: Sequence[str] = (), setup_names: Iterable[str] = ()
) -> TestSuite:
    """HumanEval shape: ``test`` defines ``check(candidate)``; ``entry_point`` names the function.

    Decomposed when the module holds only imports, unused constant assignments
    (``METADATA``) and ``check``, and ``check``'s body only imports, vacuous
    statements and decomposable asserts. Otherwise the whole ``check`` runs as
    one trusted test. ``setup`` (statements from `row_setup`) runs first either way.
    """
    module = _parse(test, "test")
    checks = [s for s in module.body if isinstance(s, ast.FunctionDef) and s.name == "check"]
    if len(checks) != 1:
        raise TestFormatError("field test: defines no check(candidate) function")
    check = checks[0]
    param = check.args.args[0].arg if check.args.args else "candidate"
    top_imports, top_names = _imports_of(module.body)
    inner_imports, inner_names = _imports_of(check.body)
    others = [s for s in module.body if s is not check and not isinstance(s, (ast.Import, ast.ImportFrom))]
    used_in_check = _free_names(check)
    decomposable = all(
        isinstance(s, ast.Assign)
        and not (_free_names(s) | {t.id for t in s.targets if isinstance(t, ast.Name)}) & used_in_check
        for s in others
    )
    cases: list[TestCase] = []
    if decomposable:
        body = [s for s in check.body if not isinstance(s, (ast.Import, ast.ImportFrom)) and not _is_vacuous(s)]
        allowed = top_names | inner_names | set(setup_names)
        decomposed = [decompose_assert(s, {param, entry_point}, allowed) for s in body]
        if all(c is not None for c in decomposed):
            cases = [c for c in decomposed if c is not None]
            source = "\n".join([*setup, *top_imports, *inner_imports])
            if param != "candidate":
                source += f"\n{param} = candidate"
            return TestSuite(cases, entry_point, source.strip())
    source = f"{test}\n\ncheck({entry_point})\n"
    return TestSuite([TrustedTest(source, label="check(candidate)")], entry_point, "\n".join(setup))


def suite_from_calls(calls: Sequence[Mapping[str, Any]], entry_point: str, setup: Sequence[str] = ()) -> TestSuite:
    """Call cases: ``[{"args": [...], "kwargs": {...}, "expected": ...}, ...]`` on ``entry_point``."""
    cases: list[TestCase] = []
    for index, case in enumerate(calls):
        if not isinstance(case, Mapping):
            raise TestFormatError(f"field calls[{index}]: expected an object, got {type(case).__name__}")
        if "expected" not in case:
            raise TestFormatError(f"field calls[{index}]: missing 'expected'")
        args, kwargs = case.get("args", []), case.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, Mapping):
            raise TestFormatError(f"field calls[{index}]: 'args' must be a list and 'kwargs' an object")
        label = f"{entry_point}({', '.join(map(repr, args))}{', ' if args and kwargs else ''}"
        label += ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"
        cases.append(
            CallCheck({"args": args, "kwargs": dict(kwargs)}, case["expected"], "eq", json_like=True, label=label[:120])
        )
    return TestSuite(cases, entry_point, "\n".join(setup))


def suite_from_io(io: Sequence[Mapping[str, Any]]) -> TestSuite:
    """Stdin/stdout cases: ``[{"stdin": "...", "stdout": "..."}, ...]`` (APPS/CodeContests shape)."""
    cases: list[TestCase] = []
    for index, case in enumerate(io):
        if not isinstance(case, Mapping) or not isinstance(case.get("stdout"), str):
            raise TestFormatError(f"field io[{index}]: expected an object with string 'stdin' and 'stdout'")
        stdin = case.get("stdin", "")
        if not isinstance(stdin, str):
            raise TestFormatError(f"field io[{index}].stdin: expected a string")
        cases.append(StdinCase(stdin, case["stdout"], label=f"io[{index}]"))
    return TestSuite(cases, None, "")


def suite_for(sample: Sample, entry_point: str | None = None) -> TestSuite | None:
    """The tests of a sample, from whichever field it has: ``test``, ``tests``, ``calls`` or ``io``.

    Returns ``None`` when the row has none of them.

    Raises:
        TestFormatError: the field is there but malformed (the message names it).
    """
    entry = sample.get("entry_point") or entry_point
    if entry is not None and not (isinstance(entry, str) and entry.isidentifier()):
        raise TestFormatError(f"field entry_point: {entry!r} is not a Python identifier")
    imports, setup_code = _setup_fields(sample)
    if sample.get("test") is not None:
        if not isinstance(sample.get("test"), str) or not entry:
            raise TestFormatError("field test: a HumanEval-style test needs a string 'test' and an 'entry_point'")
        setup, names = row_setup(imports, setup_code)
        suite = suite_from_check(sample.get("test"), entry, setup, names)
    elif sample.get("tests") is not None:
        tests = sample.get("tests")
        tests = [tests] if isinstance(tests, str) else tests
        if not isinstance(tests, list):
            raise TestFormatError("field tests: expected a list of assert strings")
        suite = suite_from_asserts(tests, entry, imports, setup_code)
    elif sample.get("calls") is not None:
        calls = sample.get("calls")
        if not isinstance(calls, list) or not entry:
            raise TestFormatError("field calls: expected a list of {args, kwargs, expected} and an 'entry_point'")
        suite = suite_from_calls(calls, entry, row_setup(imports, setup_code)[0])
    elif sample.get("io") is not None:
        if not isinstance(sample.get("io"), list):
            raise TestFormatError("field io: expected a list of {stdin, stdout}")
        if imports or setup_code.strip():
            # a stdin/stdout program runs alone; setup statements would have nowhere to run
            raise TestsNotRunnable("test_imports/test_setup_code cannot run with stdin/stdout (io) tests")
        suite = suite_from_io(sample.get("io"))
    else:
        return None
    if len(suite.cases) > MAX_TESTS:
        raise TestFormatError(f"{len(suite.cases)} tests in one row; at most {MAX_TESTS}")
    if not suite.cases:
        raise TestFormatError("the row's tests are empty (nothing to check)")
    return suite


def _setup_fields(sample: Sample) -> tuple[list[str], str]:
    """``test_imports`` (a statement or a list of them) and ``test_setup_code`` (MBPP's field), checked."""
    imports = sample.get("test_imports")
    imports = [] if imports is None else [imports] if isinstance(imports, str) else imports
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise TestFormatError("field test_imports: expected a list of statement strings")
    setup = sample.get("test_setup_code")
    if setup is None:
        setup = ""
    if not isinstance(setup, str):
        raise TestFormatError(f"field test_setup_code: expected a string, got {type(setup).__name__}")
    return imports, setup


# -- comparisons on the trusted side ----------------------------------------------
class _Undecodable(Exception):
    pass


DECODE_DEPTH = 128
"""Deepest nesting accepted from the result channel (the sandbox encodes at most 100 levels,
each tagged container adds one); deeper values fail the test as undecodable."""

DECODE_ITEMS = 1_000_000
"""Most elements of one decoded value (the sandbox's own encoding cap)."""

DECODE_INT_DIGITS = 4_300
"""Longest big integer accepted (Python's own default cap on str-int conversion)."""

HASH_COLLISIONS = 64
"""Most set items or dict keys of one value that may share a hash. Values a
candidate crafts to collide would make building the set quadratic on this side;
plain results never come close."""


def _check_hashes(items: list[Any]) -> None:
    counts: dict[int, int] = {}
    for item in items:
        key = hash(item)  # TypeError for unhashable items
        counts[key] = counts.get(key, 0) + 1
        if counts[key] > HASH_COLLISIONS:
            raise _Undecodable(f"more than {HASH_COLLISIONS} items share one hash (built to collide)")


def decode_value(data: Any) -> Any:
    """Rebuild a plain-data value from the sandbox's tagged JSON (tuples, sets, non-str keys, big ints...).

    Whatever arrives on the result channel may have been written by the
    candidate, so decoding is bounded: depth (`DECODE_DEPTH`), element count
    (`DECODE_ITEMS`), integer size (`DECODE_INT_DIGITS`) and hash collisions
    (`HASH_COLLISIONS`) are capped, and every failure is `_Undecodable`.
    """
    budget = [DECODE_ITEMS]
    try:
        return _decode(data, 0, budget)
    except _Undecodable:
        raise
    except (TypeError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
        raise _Undecodable(f"{type(exc).__name__}: {str(exc)[:100]}") from None


def _decode(data: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _Undecodable(f"value holds more than {DECODE_ITEMS} elements")
    if depth > DECODE_DEPTH:
        raise _Undecodable(f"value nested deeper than {DECODE_DEPTH}")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [_decode(v, depth + 1, budget) for v in data]
    if isinstance(data, dict) and len(data) == 1:
        ((tag, inner),) = data.items()
        if tag == "$int" and isinstance(inner, str) and len(inner) <= DECODE_INT_DIGITS + 1:
            return int(inner)
        if tag == "$float" and inner in ("nan", "inf", "-inf"):
            return float(inner)
        if tag == "$bytes" and isinstance(inner, str):
            return bytes.fromhex(inner)
        if isinstance(inner, list):
            items = [_decode(v, depth + 1, budget) for v in inner]
            if tag == "$tuple":
                return tuple(items)
            if tag == "$deque":
                return collections.deque(items)  # equal to a deque of the same items, never to a list
            if tag in ("$set", "$frozenset"):
                _check_hashes(items)
                return (set if tag == "$set" else frozenset)(items)
            if tag == "$complex" and len(items) == 2 and all(type(v) in (int, float) for v in items):
                return complex(items[0], items[1])
            if tag == "$dict" and all(type(p) is list and len(p) == 2 for p in items):
                _check_hashes([p[0] for p in items])
                return {k: v for k, v in items}
    raise _Undecodable(f"unexpected value encoding {str(data)[:60]}")


def short_repr(value: Any, limit: int = 60) -> str:
    """A bounded ``repr`` for reasons: never builds a huge string or recurses deep."""
    shown = reprlib.Repr()
    shown.maxlevel, shown.maxstring, shown.maxother, shown.maxlong = 4, limit, limit, limit
    try:
        return shown.repr(value)[:limit]
    except Exception as exc:  # e.g. an int too long to print
        return f"<{type(value).__name__}: {type(exc).__name__}>"


def _json_like(value: Any) -> Any:
    if isinstance(value, (list, tuple, collections.deque)):
        return [_json_like(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_like(v) for k, v in value.items()}
    return value


def check_value(case: CallCheck, actual: Any) -> bool:
    """The verdict of one decomposed test, computed here on plain data."""
    try:
        if case.compare == "eq":
            if case.json_like:
                return bool(_json_like(actual) == _json_like(case.expected))
            return bool(actual == case.expected)
        if case.compare == "ne":
            return bool(actual != case.expected)
        if case.compare == "is":
            return actual is case.expected
        if case.compare == "is_not":
            return actual is not case.expected
        if case.compare == "truthy":
            return bool(actual)
        if case.compare == "falsy":
            return not actual
        if case.compare == "close":
            if isinstance(actual, bool) or not isinstance(actual, (int, float)):
                return False
            if case.rel_tol == 0.0:
                distance = abs(actual - case.expected)
                return distance <= case.abs_tol if case.inclusive else distance < case.abs_tol
            return math.isclose(actual, case.expected, rel_tol=case.rel_tol, abs_tol=case.abs_tol)
    except Exception:  # a comparison that cannot be made is a failed test
        return False
    return False


def outputs_match(actual: str, expected: str, rule: Literal["lines", "tokens"] = "lines") -> bool:
    """Compare a program's stdout with the expected output.

    ``lines`` (default): ``\\r\\n`` counts as ``\\n``, trailing whitespace on each
    line and trailing blank lines are ignored; everything else (leading spaces,
    inner spacing, case) must match. ``tokens``: the outputs must be equal as
    sequences of whitespace-separated tokens.
    """
    if rule == "tokens":
        return actual.split() == expected.split()

    def norm(text: str) -> list[str]:
        lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    return norm(actual) == norm(expected)
