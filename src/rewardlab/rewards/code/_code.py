"""The ``code`` reward: run a completion's program against its tests in the sandbox.

Expected outputs never enter the sandbox. The sandbox returns what the calls
returned (or what the program printed) as plain data, and the verdicts are
computed here (see `rewardlab.rewards.code._code_tests`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional

from annotated_types import Ge, Gt

from rewardlab._params import ParamGroup, with_params
from rewardlab._reward import reward
from rewardlab._signature import Signature
from rewardlab._types import Sample, Score
from rewardlab.rewards.code._code_tests import (
    MAX_CODE_CHARS,
    CallCheck,
    StdinCase,
    TestFormatError,
    TestsNotRunnable,
    TestSuite,
    TrustedTest,
    _Undecodable,
    check_value,
    decode_value,
    extract_code,
    outputs_match,
    short_repr,
    suite_for,
)
from rewardlab.runtime._sandbox import (
    Sandbox,
    SandboxError,
    SandboxJob,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailable,
)

Credit = Literal["all", "fraction", "difficulty"]

TRUSTED_NOTE = "trusted-test mode"
"""Marker in a score's reason when some tests could not be decomposed and ran
inside the sandbox next to the candidate (weaker: it could read or forge them)."""

WEAKER_NOTE = "weaker sandbox"
"""Marker in a score's reason when ``backend="auto"`` fell back from bubblewrap to a weaker backend."""

_REASON_CHARS = 300


@dataclass
class CodeRun:
    """The outcome of one program against its suite, before credit is assigned.

    ``passed`` has one flag per test; ``failure`` is set when the harness itself
    failed (then there are no flags to trust).
    """

    passed: list[bool] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failure: Score | None = None
    backend: str = ""
    trusted: int = 0


def program_for(sample: Sample) -> str:
    """The program to run: the completion's code, with the prompt in front for HumanEval-style rows.

    A HumanEval prompt holds the signature and docstring and the completion
    the body; when the code does not define ``entry_point`` itself, the prompt
    is prepended, as HumanEval's own harness does.
    """
    code = extract_code(sample.completion_text)
    entry = sample.get("entry_point")
    if sample.get("test") is not None and isinstance(entry, str) and f"def {entry}" not in code:
        return sample.prompt_text + code
    return code


def _limits(timeout: float, memory_mb: int, output_bytes: int) -> SandboxLimits:
    return SandboxLimits(wall_s=timeout, cpu_s=timeout, memory_mb=memory_mb, output_bytes=output_bytes)


def _frames_by_index(result: SandboxResult) -> tuple[dict[int, dict[str, Any]], list[str]]:
    by_index: dict[int, dict[str, Any]] = {}
    notes: list[str] = []
    for frame in result.frames:
        if "i" in frame and isinstance(frame["i"], int):
            by_index.setdefault(frame["i"], frame)
        elif "compile_error" in frame:
            notes.append(f"syntax error: {frame['compile_error']}")
        elif "load_error" in frame:
            notes.append(f"the program raised while loading: {frame['load_error']}")
        elif "violation" in frame:
            notes.append(f"result protocol violated: {frame['violation']}")
    return by_index, notes


def _why_missing(result: SandboxResult) -> str:
    if result.timed_out:
        return f"time limit exceeded ({result.elapsed_s:.1f}s)"
    if result.output_limit:
        return "output limit exceeded"
    status = result.child_status
    if status and status not in ("finished", "exit code 0"):
        return f"the program's process {status}"
    if not result.finished:
        return f"the sandbox ended early (exit code {result.exit_code})"
    return "no result"


def _harness_failed(result: SandboxResult) -> str | None:
    for frame in result.frames:
        if "runner_error" in frame:
            return f"sandbox runner failed ({result.backend}): {str(frame['runner_error'])[:200]}"
    if any("started" in f or "compile_error" in f for f in result.frames) or result.timed_out:
        return None
    tail = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
    return f"sandbox runner failed before running the code ({result.backend}): {tail[:200]}"


def _run_job(box: Sandbox, job: SandboxJob, run: CodeRun) -> tuple[Any, dict[int, Any], list[str]] | None:
    """Run one sandbox job; ``None`` (and ``run.failure`` set) when the harness itself failed."""
    result = box.run(job)
    broken = _harness_failed(result)
    if broken:
        run.failure = Score.error(broken)
        return None
    by_index, notes = _frames_by_index(result)
    run.notes += notes
    return result, by_index, notes


def _run_calls(code: str, suite: TestSuite, cases: list[CallCheck], box: Sandbox, run: CodeRun) -> list[bool]:
    job = SandboxJob("calls", code, [c.call for c in cases], entry_point=suite.entry_point, setup=suite.setup)
    ran = _run_job(box, job, run)
    if ran is None:
        return []
    result, by_index, notes = ran
    flags = []
    for index, case in enumerate(cases):
        frame = by_index.get(index)
        if frame is None:
            flags.append(False)
            if not notes:
                run.notes.append(f"{case.label}: {_why_missing(result)}")
                notes = ["reported"]
            continue
        if "error" in frame:
            flags.append(False)
            run.notes.append(f"{case.label}: {str(frame['error'])[:150]}")
            continue
        try:
            actual = decode_value(frame.get("value"))
        except _Undecodable as exc:
            flags.append(False)
            run.notes.append(f"{case.label}: undecodable result ({exc})")
            continue
        ok = check_value(case, actual)
        flags.append(ok)
        if not ok:
            shown = (
                "truthy" if case.compare == "truthy" else "falsy" if case.compare == "falsy" else repr(case.expected)
            )
            run.notes.append(f"{case.label}: expected {shown[:60]}, got {short_repr(actual)}")
    return flags


def _run_trusted(code: str, suite: TestSuite, cases: list[TrustedTest], box: Sandbox, run: CodeRun) -> list[bool]:
    job = SandboxJob(
        "tests", code, [{"source": c.source} for c in cases], entry_point=suite.entry_point, setup=suite.setup
    )
    ran = _run_job(box, job, run)
    if ran is None:
        return []
    result, by_index, notes = ran
    flags = []
    for index, case in enumerate(cases):
        frame = by_index.get(index)
        ok = frame is not None and frame.get("passed") is True
        flags.append(ok)
        if not ok:
            why = str(frame.get("error", ""))[:150] if frame else (notes[0] if notes else _why_missing(result))
            run.notes.append(f"{case.label}: {why}")
            notes = notes or ["reported"]
    return flags


def _run_io(
    code: str, cases: list[StdinCase], box: Sandbox, run: CodeRun, rule: Literal["lines", "tokens"]
) -> list[bool]:
    job = SandboxJob("stdin", code, [{"stdin": c.stdin} for c in cases], case_timeout_s=box.limits.wall_s)
    ran = _run_job(box, job, run)
    if ran is None:
        return []
    result, by_index, notes = ran
    flags = []
    for index, case in enumerate(cases):
        frame = by_index.get(index)
        if frame is None:
            flags.append(False)
            run.notes.append(f"{case.label}: {_why_missing(result)}")
            continue
        problems = []
        if frame.get("timeout"):
            problems.append("time limit exceeded")
        if frame.get("output_limit"):
            problems.append("output limit exceeded")
        if frame.get("exit") != 0 and not problems:
            err = str(frame.get("stderr", "")).strip().splitlines()[-1:] or [""]
            problems.append(f"exit code {frame.get('exit')} {err[0][:100]}".strip())
        ok = not problems and outputs_match(str(frame.get("stdout", "")), case.stdout, rule)
        flags.append(ok)
        if problems:
            run.notes.append(f"{case.label}: {'; '.join(problems)}")
        elif not ok:
            run.notes.append(f"{case.label}: expected {case.stdout[:40]!r}, got {str(frame.get('stdout'))[:40]!r}")
    return flags


_WARNINGS_LOCK = threading.Lock()


def _compile_quietly(code: str) -> None:
    """Compile as the sandbox does: warnings are not errors, whatever this process's filters say.

    Under ``-W error`` (pytest's ``filterwarnings = error`` included) ``"\\w"`` in a
    regex string raises at compile time here while the program runs fine in the
    sandbox; that would score correct code 0. The retry is rare, and serialised
    because the warning filters are process-wide.
    """
    try:
        compile(code, "<candidate>", "exec")
    except SyntaxError:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, "<candidate>", "exec")


def run_suite(
    code: str,
    suite: TestSuite,
    box: Sandbox,
    *,
    io_compare: Literal["lines", "tokens"] = "lines",
) -> CodeRun:
    """Run ``code`` against ``suite`` in ``box``; one pass/fail flag per test, in the suite's order."""
    run = CodeRun(backend=box.backend_name, trusted=suite.trusted)
    if len(code) > MAX_CODE_CHARS:
        run.passed = [False] * len(suite.cases)
        run.notes.append(f"program longer than {MAX_CODE_CHARS} characters; not run")
        return run
    try:
        _compile_quietly(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        run.passed = [False] * len(suite.cases)
        run.notes.append(f"syntax error: {type(exc).__name__}: {getattr(exc, 'msg', exc)}{where}; nothing ran")
        return run
    flags: dict[int, bool] = {}
    groups: dict[type, list[int]] = defaultdict(list)
    for index, case in enumerate(suite.cases):
        groups[type(case)].append(index)
    try:
        for kind, indices in groups.items():
            cases = [suite.cases[i] for i in indices]
            if kind is CallCheck:
                got = _run_calls(code, suite, cases, box, run)  # type: ignore[arg-type]
            elif kind is TrustedTest:
                got = _run_trusted(code, suite, cases, box, run)  # type: ignore[arg-type]
            else:
                got = _run_io(code, cases, box, run, io_compare)  # type: ignore[arg-type]
            if run.failure is not None:
                return run
            flags.update(zip(indices, got, strict=False))
    except SandboxError as exc:
        run.failure = Score.error(f"sandbox failed: {exc}")
        return run
    run.passed = [flags[i] for i in range(len(suite.cases))]
    return run


class Sandboxes:
    """The sandboxes one `code` reward opened: one per (backend, limits, reuse), closed with the reward.

    Reused sandbox workers outlive a batch, so a reward keeps them between
    batches; ``close()`` (the reward's teardown) stops them.
    """

    def __init__(self) -> None:
        self._boxes: dict[tuple[str, SandboxLimits, bool], Sandbox] = {}
        self._lock = threading.Lock()

    def get(self, backend: str, limits: SandboxLimits, *, reuse: bool) -> Sandbox:
        key = (backend, limits, reuse)
        with self._lock:
            box = self._boxes.get(key)
            if box is None:
                box = self._boxes[key] = Sandbox(backend, limits, reuse=reuse)
            return box

    def close(self) -> None:
        with self._lock:
            boxes = list(self._boxes.values())
            self._boxes.clear()
        for box in boxes:
            box.close()


def _suite_key(sample: Sample) -> str:
    fields = {
        k: sample.get(k) for k in ("test", "tests", "calls", "io", "entry_point", "test_imports", "test_setup_code")
    }
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def difficulty_weights(pass_table: Sequence[Sequence[bool]]) -> list[float]:
    """VeRPO-style test weights from the pass table of one group (samples x tests).

    With ``G`` samples and ``p_t`` the share of them passing test ``t``,
    ``w_t = 1 - p_t + 1/G``: a test few samples pass weighs most, and a test
    every sample passes still weighs ``1/G`` so that weights are positive and
    passing every test always earns 1.
    """
    if not pass_table:
        return []
    size = len(pass_table)
    tests = len(pass_table[0])
    return [1.0 - sum(row[t] for row in pass_table) / size + 1.0 / size for t in range(tests)]


def _signature(params: dict[str, Any], backend: str) -> str:
    return Signature("code", params, backend=backend or params["backend"]).format()


def _reason(run: CodeRun, passed: int, total: int, fallback: str | None = None) -> str:
    head = f"all {total} tests passed" if passed == total else f"{passed}/{total} tests passed"
    tail = ""
    if run.trusted:
        tail += f" [{TRUSTED_NOTE}: {run.trusted} test(s) ran inside the sandbox with the code]"
    if fallback:
        tail += f" [{WEAKER_NOTE} {run.backend}: {fallback}]"
    if run.notes:
        head += "; " + "; ".join(run.notes[:2])
    # The marks at the end are never cut off by long notes.
    return head[: max(40, _REASON_CHARS - len(tail))] + tail[:_REASON_CHARS]


@dataclass(frozen=True)
class CodeOptions(ParamGroup):
    """The parameters of ``code`` (see `code`), checked when the reward is loaded."""

    credit: Credit = "all"
    backend: str = "auto"
    timeout: Annotated[float, Gt(0)] = 10.0
    memory_mb: Annotated[int, Ge(1)] = 1024
    output_bytes: Annotated[int, Ge(1)] = 1_000_000
    io_compare: Literal["lines", "tokens"] = "lines"
    entry_point: Optional[str] = None  # noqa: UP045 - read at run time on Python 3.10
    workers: Optional[Annotated[int, Ge(1)]] = None  # noqa: UP045
    reuse: bool = True


@reward(name="code", range=(0.0, 1.0), batched=True, factory=True)
@with_params(options=CodeOptions)
def code(*, options: CodeOptions) -> Iterator[Callable[[list[Sample]], list[Score]]]:
    """Run the completion's code against the row's tests in a sandbox.

    Tests come from the row: ``test`` + ``entry_point`` (HumanEval ``check``),
    ``tests`` (MBPP ``assert`` strings), ``calls`` (``{args, kwargs, expected}``
    on ``entry_point``) or ``io`` (``{stdin, stdout}``). ``test_imports`` and
    MBPP's ``test_setup_code`` run in the sandbox before the tests, every
    statement of them; a row whose setup cannot run (with ``io`` tests) abstains. The code is the last
    fenced ```python block of the completion, else the whole completion.

    Value by ``credit``: ``all`` is 1 when every test passes, else 0;
    ``fraction`` is the share of tests passed; ``difficulty`` weights each test
    by how rarely the batch's samples of the same task pass it
    (`difficulty_weights`), ``sum(w_t * pass_t) / sum(w_t)``. A program that
    does not compile scores 0 without running. Crashes, time and memory limits,
    exits and protocol forgeries score 0 for the tests they affect; only a
    failure of the sandbox itself is an ``error``. The signature of each score
    names the backend that ran it. ``reuse`` keeps sandboxes alive between
    samples (each sample still runs in a fresh fork, after a full reset; see
    `rewardlab.runtime.SandboxWorker`); ``workers`` is how many run at once.
    """
    sandboxes = Sandboxes()
    try:
        yield lambda samples: score_code(samples, sandboxes, options)
    finally:
        sandboxes.close()


def score_code(samples: list[Sample], sandboxes: Sandboxes, options: CodeOptions) -> list[Score]:
    """Score a batch with the sandboxes of one `code` reward (see `code`)."""
    params = options.kwargs()
    credit, backend, entry_point, io_compare = options.credit, options.backend, options.entry_point, options.io_compare
    limits = _limits(options.timeout, options.memory_mb, options.output_bytes)
    try:
        box = sandboxes.get(backend, limits, reuse=options.reuse)
    except SandboxUnavailable as exc:
        return [Score.error(str(exc)).with_signature(_signature(params, backend))] * len(samples)
    signature = _signature(params, box.backend_name)

    def one(sample: Sample) -> CodeRun | Score:
        try:
            suite = suite_for(sample, entry_point)
        except TestFormatError as exc:
            return Score.error(f"bad tests: {exc}")
        except TestsNotRunnable as exc:
            return Score.abstain(f"tests not run: {exc}")
        if suite is None:
            return Score.abstain("the row has no tests (fields test, tests, calls or io)")
        try:
            return run_suite(program_for(sample), suite, box, io_compare=io_compare)
        except Exception as exc:  # the harness's own fault: this row is an error, the batch goes on
            return Score.error(f"code harness failed: {type(exc).__name__}: {str(exc)[:200]}")

    from rewardlab.runtime._pool import default_workers

    size = max(1, min(options.workers or default_workers(), len(samples)))
    if size == 1:
        runs = [one(s) for s in samples]
    else:
        with ThreadPoolExecutor(max_workers=size, thread_name_prefix="rewardlab-code") as pool:
            runs = list(pool.map(one, samples))

    weights: dict[int, list[float]] = {}
    if credit == "difficulty":
        groups: dict[str, list[int]] = defaultdict(list)
        for index, (sample, run) in enumerate(zip(samples, runs, strict=False)):
            if isinstance(run, CodeRun) and run.failure is None:
                groups[_suite_key(sample)].append(index)
        for members in groups.values():
            table = [runs[i].passed for i in members]  # type: ignore[union-attr]
            group_weights = difficulty_weights(table)
            for i in members:
                weights[i] = group_weights

    scores: list[Score] = []
    for index, run in enumerate(runs):
        if isinstance(run, Score):
            scores.append(run.with_signature(signature))
            continue
        if run.failure is not None:
            scores.append(run.failure.with_signature(signature))
            continue
        total, passed = len(run.passed), sum(run.passed)
        if credit == "all":
            value = 1.0 if passed == total else 0.0
        elif credit == "fraction":
            value = passed / total
        else:
            w = weights[index]
            value = sum(wt for wt, ok in zip(w, run.passed, strict=False) if ok) / sum(w)
        components = {"passed": float(passed), "tests": float(total), "trusted_tests": float(run.trusted)}
        reason = _reason(run, passed, total, box.backend.fallback_reason)
        score = Score.ok(value, components=components, reason=reason)
        scores.append(score.with_signature(signature))
    return scores
