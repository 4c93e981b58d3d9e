"""The runtime seam: async-first rewards, factories with setup and close, placement, one runner."""

from __future__ import annotations

import asyncio
import json
import pickle
import socketserver
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import _seam_rewards as seam
import rewardlab
from rewardlab import Sample, Signature, Status
from rewardlab._job import score_file
from rewardlab.audit import audit
from rewardlab.compose import Term, gate, weighted_sum
from rewardlab.runtime import Runner, WorkerPool

ROWS = [{"completion": str(i % 7), "reference": str(i % 5), "id": i} for i in range(40)]


def _write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _expected(rows: list[dict]) -> list[float]:
    return [1.0 if r["completion"] == r["reference"] else 0.0 for r in rows]


def _values(path: Path) -> list[float | None]:
    return [json.loads(line)["reward"] for line in path.read_text().splitlines()]


def _count(log: Path) -> Counter[str]:
    return Counter(event for event, _ in seam.events(str(log)))


# -- setup once, close at the end of each job ---------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_resident_reward_is_set_up_once_per_job_and_closed_at_its_end(tmp_path: Path, workers: int) -> None:
    log = tmp_path / "events.log"
    data = _write_rows(tmp_path / "in.jsonl", ROWS)
    reward = rewardlab.load("seam_counted", log=str(log))
    assert reward.placement == "resident"
    for run in (1, 2):
        out = tmp_path / f"out{run}.jsonl"
        summary = score_file(data, out, reward, workers=workers, chunk_rows=8)  # five batches
        assert summary.rows == len(ROWS)
        assert _values(out) == _expected(ROWS)
        assert _count(log) == {"setup": run, "close": run}  # once per job, closed at its end
    assert {pid for _, pid in seam.events(str(log))} == {__import__("os").getpid()}  # never in a worker


def test_score_command_with_workers_sets_a_resident_reward_up_once(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    data = _write_rows(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    plugin = Path(seam.__file__)
    done = subprocess.run(
        [sys.executable, "-m", "rewardlab", "--import", str(plugin), "score", str(data), "-r", "seam_counted",
         "-p", f"log={log}", "-o", str(out), "--workers", "2", "--batch-size", "8"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _values(out) == _expected(ROWS)
    assert _count(log) == {"setup": 1, "close": 1}
    assert len({pid for _, pid in seam.events(str(log))}) == 1


def test_resident_reward_inside_a_composite_stays_in_this_process(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    data = _write_rows(tmp_path / "in.jsonl", ROWS)
    composite = weighted_sum(
        Term(rewardlab.load("seam_counted", log=str(log)), 0.5, name="counted"),
        Term(gate("exact_match", rewardlab.load("seam_counted", log=str(log), bonus=2.0)), 0.5, name="gated"),
        Term("length", 0.0),
    )
    assert composite.placement == "resident"
    with pytest.raises(TypeError, match="resident"):
        pickle.dumps(composite)
    out = tmp_path / "out.jsonl"
    score_file(data, out, composite, workers=2, chunk_rows=8)
    expected = [0.5 * e + 0.5 * (2.0 * e if e else 0.0) for e in _expected(ROWS)]
    assert _values(out) == pytest.approx(expected)
    # two instances (different parameters), each set up once and closed once
    assert _count(log) == {"setup": 2, "close": 2}


def test_resident_reward_under_audit_is_set_up_once(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    rows = [{"prompt": f"q{i}", "reference": str(i), "completion": str(i)} for i in range(30)]
    report = audit(rewardlab.load("seam_counted", log=str(log)), rows, probes=["empty", "whitespace"], workers=2)
    assert report.document["timing"]["samples_scored"] > 30
    assert _count(log) == {"setup": 1, "close": 1}


def test_process_reward_is_set_up_once_per_worker_and_closed_when_the_pool_stops(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    data = _write_rows(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    score_file(data, out, rewardlab.load("seam_counted_process", log=str(log)), workers=2)
    assert _values(out) == _expected(ROWS)
    by_pid: dict[int, Counter[str]] = {}
    for event, pid in seam.events(str(log)):
        by_pid.setdefault(pid, Counter())[event] += 1
    assert 1 <= len(by_pid) <= 2
    assert all(c == {"setup": 1, "close": 1} for c in by_pid.values()), by_pid


def test_shipped_inline_factory_is_set_up_once_per_worker(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    data = _write_rows(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    score_file(data, out, rewardlab.load("seam_counted_inline", log=str(log)), workers=2, chunk_rows=4)
    assert _values(out) == _expected(ROWS)
    setups = Counter(pid for event, pid in seam.events(str(log)) if event == "setup")
    assert 1 <= len(setups) <= 2 and set(setups.values()) == {1}  # ten batches, one setup per worker


def test_close_and_context_manager_release_and_setup_happens_again_on_use(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    with rewardlab.load("seam_counted", log=str(log)) as reward:
        assert reward.score([{"completion": "a", "reference": "a"}])[0].value == 1.0
        assert reward.score([{"completion": "a", "reference": "b"}])[0].value == 0.0
        assert _count(log) == {"setup": 1}
    assert _count(log) == {"setup": 1, "close": 1}
    assert reward.score([{"completion": "a", "reference": "a"}])[0].value == 1.0
    reward.close()
    assert _count(log) == {"setup": 2, "close": 2}


def test_a_failing_setup_is_an_error_score_and_is_retried(tmp_path: Path) -> None:
    calls = []

    @rewardlab.reward(name="seam_flaky_setup", factory=True, register=False)
    def flaky() -> object:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("server not up yet")
        return lambda sample: 1.0

    first = flaky.score([{"completion": "x"}])[0]
    assert first.status is Status.ERROR and "setup failed: ConnectionError" in first.reason
    assert flaky.score([{"completion": "x"}])[0].value == 1.0


# -- async rewards: one loop, one client, concurrent children -------------------------------------------------


class _LineServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Judge)
        self.connections = 0


class _Judge(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        for line in self.rfile:
            completion, _, reference = line.decode().rstrip("\n").partition("\t")
            self.wfile.write(b"yes\n" if completion.strip() == reference.strip() else b"no\n")


@pytest.fixture
def judge_server() -> Iterator[_LineServer]:
    server = _LineServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_async_judge_in_a_composite_shares_one_client_from_sync_thread_and_running_loop(
    judge_server: _LineServer, tmp_path: Path
) -> None:
    log = tmp_path / "events.log"
    judge = rewardlab.load("seam_judge", port=judge_server.server_address[1], log=str(log))
    composite = weighted_sum(Term(judge, 0.5, name="judge"), Term("exact_match", 0.5))
    samples = [Sample(completion=r["completion"], reference=r["reference"]) for r in ROWS[:12]]
    expected = _expected(ROWS[:12])
    seam.CLIENTS.clear()

    def check(scores: list) -> None:
        assert [s.value for s in scores] == expected
        assert all(s.components["judge"] == e for s, e in zip(scores, expected, strict=True))

    check(composite.score(samples))  # sync code
    box: list = []
    worker = threading.Thread(target=lambda: box.append(composite.score(samples)))
    worker.start()
    worker.join()
    check(box[0])  # another thread

    async def in_loop() -> tuple[list, list]:
        awaited = await composite.ascore(samples)
        blocking = composite.score(samples)  # sync call made inside a running loop
        return awaited, blocking

    awaited, blocking = asyncio.run(in_loop())
    check(awaited)
    check(blocking)
    assert len(seam.CLIENTS) == 1 and judge_server.connections == 1  # one client served every batch
    assert seam.CLIENTS[0].requests == 4 * len(samples)
    composite.close()
    assert _count(log) == {"setup": 1, "close": 1}


def test_children_of_a_composite_run_concurrently() -> None:
    slow = rewardlab.load("seam_sleepy_async", seconds=0.4)
    composite = weighted_sum(Term(slow, name="a"), Term(slow, name="b"), Term(slow, name="c"))
    started = time.monotonic()
    scores = composite.score([{"completion": "x"}] * 5)
    assert time.monotonic() - started < 1.0  # 3 children x 5 samples of 0.4 s each, all at once
    assert [s.value for s in scores] == [3.0] * 5


def test_a_sync_reward_may_score_with_another_reward_inside() -> None:
    composite = weighted_sum(Term("seam_nested"), Term("exact_match"))
    assert composite.score([{"completion": "a", "reference": "a"}])[0].value == 2.0


def test_sync_functions_and_old_style_subclasses_keep_working() -> None:
    class Legacy(rewardlab.Reward):
        def _score(self, samples, pool):
            return [rewardlab.Score.ok(float(len(s.completion_text))) for s in samples]

    legacy = Legacy("legacy", range=(0.0, 100.0))
    assert [s.value for s in legacy.score([{"completion": "ab"}, {"completion": "abc"}])] == [2.0, 3.0]
    composite = weighted_sum(Term(legacy, 0.5), Term("exact_match", 1.0))
    assert composite.score([{"completion": "ab", "reference": "ab"}])[0].value == 2.0


# -- placement and the executor protocol -----------------------------------------------------------------------


class _InlineExecutor:
    """An executor that runs calls in this process: the protocol is all a reward needs."""

    size = 1

    def __init__(self) -> None:
        self.calls = 0

    def map(self, fn, items, *, timeout=None):
        from rewardlab import CallResult

        out = []
        for item in items:
            self.calls += 1
            out.append(CallResult(Status.OK, fn(*item)))
        return out


def test_process_rewards_run_on_any_executor() -> None:
    executor = _InlineExecutor()
    assert isinstance(executor, rewardlab.Executor)
    reward = rewardlab.load("seam_counted_process")
    samples = [{"completion": "1", "reference": "1"}, {"completion": "1", "reference": "2"}]
    scores = reward.score(samples, executor=executor)
    assert [s.value for s in scores] == [1.0, 0.0] and executor.calls == 2


def test_runner_scores_in_order_and_owns_only_the_pools_it_opened(tmp_path: Path) -> None:
    samples = [Sample(completion=r["completion"], reference=r["reference"]) for r in ROWS]
    with WorkerPool(2) as pool:
        with Runner(rewardlab.load("seam_counted_process"), executor=pool, batch_size=7) as runner:
            assert [s.value for s in runner.score(samples)] == _expected(ROWS)
        assert pool.map(pow, [(2, 3)])[0].value == 8  # the caller's pool is still open
    with Runner(rewardlab.load("exact_match"), workers=2, ship=True, batch_size=9) as runner:
        assert runner.shipped
        assert [s.value for s in runner.score(samples)] == _expected(ROWS)


def test_declared_placement_is_checked() -> None:
    with pytest.raises(ValueError, match="placement"):
        rewardlab.reward(name="bad", placement="gpu", register=False)(lambda s: 1.0)  # type: ignore[call-overload]
    assert rewardlab.load("math").placement == "process"
    assert rewardlab.load("exact_match").placement == "inline"


# -- signatures ---------------------------------------------------------------------------------------------


def test_signature_formats_and_parses_with_run_fields() -> None:
    sig = Signature("judge", {"temperature": 0.0, "rubric": "a|b"}, backend="vllm", model="org/model@abc")
    text = sig.format()
    assert text.startswith("judge|temperature:0.0|rubric:")
    assert text.endswith(f"|backend:vllm|model:org/model@abc|version:{rewardlab.__version__}")
    back = Signature.parse(text)
    assert (back.name, back.backend, back.model) == ("judge", "vllm", "org/model@abc")
    assert back.params == {"temperature": "0.0", "rubric": "a|b"}
    assert Signature.parse(back.format()) == back
    with pytest.raises(ValueError, match="key:value"):
        Signature.parse("judge|oops")
    with pytest.raises(ValueError, match="repeats"):
        Signature.parse("judge|a:1|a:2")


def test_every_reward_signature_is_a_signature_value() -> None:
    for reward in [rewardlab.load("exact_match", ignore_case=True), weighted_sum(Term("format"), Term("length"))]:
        sig = reward.get_signature()
        assert str(sig) == reward.signature
        assert rewardlab.load(reward.signature).signature == reward.signature


# -- the generic registry -----------------------------------------------------------------------------------


def test_registry_keeps_order_refuses_a_different_entry_and_hints_close_names() -> None:
    from rewardlab._registry import NotRegistered, Registry

    registry: Registry[str] = Registry("widget", "rewardlab.tests-none", accepts=lambda obj: isinstance(obj, str))
    registry.register("beta", "b")
    registry.register("alpha", "a")
    assert registry.items() == ["b", "a"] and registry.names() == ["alpha", "beta"]
    with pytest.raises(ValueError, match="different widget"):
        registry.register("alpha", "other")
    registry.register("alpha", "other", replace=True)
    assert registry.get("alpha") == "other"
    with pytest.raises(NotRegistered, match="did you mean alpha"):
        registry.get("alpah")


def test_builtin_rewards_are_entry_points_of_the_package_itself() -> None:
    from importlib.metadata import distribution

    declared = {ep.name for ep in distribution("rewardlab").entry_points if ep.group == "rewardlab.rewards"}
    assert {"exact_match", "math", "code", "sql", "format", "overlong"} <= declared
    assert set(rewardlab._registry.REWARDS.names()) >= declared
