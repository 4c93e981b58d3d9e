"""Rewards that hold resources (SQL connections, an encoder model, a judge's HTTP client) own them.

Each is set up once by its owner (a score job, an audit, a composite, each worker
process) and released by ``close()``: counted through ``$REWARDLAB_SETUP_LOG``
(every factory setup and close, with its process id), and checked on the process
itself (open file descriptors, memory-mapped model files, threads).
"""

from __future__ import annotations

import gc
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import rewardlab
from rewardlab import Status
from rewardlab._job import score_file
from rewardlab._reward import SETUP_LOG_ENV
from rewardlab.audit import audit
from rewardlab.compose import Term, weighted_sum

pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from _judge_fixtures import scripted_server  # noqa: E402


def _events(log: Path) -> list[tuple[str, str, int]]:
    if not log.exists():
        return []
    return [(e, name, int(pid)) for e, name, pid in (line.split() for line in log.read_text().splitlines())]


def _count(log: Path, name: str) -> Counter[str]:
    return Counter(event for event, reward, _ in _events(log) if reward == name)


def _by_pid(log: Path, name: str) -> dict[int, Counter[str]]:
    out: dict[int, Counter[str]] = {}
    for event, reward, pid in _events(log):
        if reward == name:
            out.setdefault(pid, Counter())[event] += 1
    return out


def _fds() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the directory's own descriptor, closed meanwhile
            continue
    return sorted(out)


def _opened_since(before: list[str]) -> list[str]:
    """Files open now that were not before (one closed meanwhile, e.g. an earlier test's
    garbage collected during this one, is not this reward's business). Sockets are left out:
    in a full run other parts of the process open their own meanwhile; a reward's sockets
    are counted by their peer instead (`_sockets_to`)."""
    gc.collect()
    return sorted(fd for fd in (Counter(_fds()) - Counter(before)).elements() if not fd.startswith("socket:"))


def _sockets_to(port: int) -> int:
    """This process's open TCP sockets connected to ``port`` on loopback (by socket inode, from
    /proc/self/net/tcp*): the judge's own connections, whatever else the process has open."""
    ours = {fd[len("socket:[") : -1] for fd in _fds() if fd.startswith("socket:[")}
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                cols = row.split()
                if int(cols[2].rsplit(":", 1)[1], 16) == port and cols[9] in ours:
                    count += 1
    return count


PROCESS_WIDE_THREADS = re.compile(r"rewardlab-loop-\d+|rewardlab-sync_\d+|asyncio_\d+|tqdm_monitor")
"""Threads of pools that belong to the process, not to a reward: the reward loops, their thread
pools (which grow on demand up to a cap and stay) and tqdm's monitor thread."""


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def _left_behind(before: set[str]) -> set[str]:
    """Threads started since ``before`` that no process-wide pool accounts for."""
    return {name for name in _threads() - before if not PROCESS_WIDE_THREADS.fullmatch(name)}


def _mapped(fragment: str) -> int:
    with open("/proc/self/maps") as handle:
        return sum(fragment in line for line in handle)


@pytest.fixture
def setup_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "setups.log"
    monkeypatch.setenv(SETUP_LOG_ENV, str(log))
    return log


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with scripted_server() as url:
        yield url


def _database(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE singer (id INTEGER, name TEXT, age INTEGER);"
            "INSERT INTO singer VALUES (1, 'Ann', 31), (2, 'Bo', 45), (3, 'Cy', 27);"
        )
    db.close()
    return path


def _sql_rows(db: Path, n: int = 12) -> list[dict[str, Any]]:
    right, wrong = "SELECT count(*) FROM singer", "SELECT count(*) FROM singer WHERE age > 30"
    return [
        {"completion": right if i % 2 == 0 else wrong, "reference": right, "db": str(db), "prompt": f"q{i}", "id": i}
        for i in range(n)
    ]


# -- SQL ------------------------------------------------------------------------------------------------------


def test_sql_reward_closes_every_threads_connection_and_sets_up_again(tmp_path: Path, setup_log: Path) -> None:
    db = _database(tmp_path / "singers.sqlite")
    rows = _sql_rows(db)
    expected = [1.0 if i % 2 == 0 else 0.0 for i in range(len(rows))]

    def on_db() -> int:
        return sum(path == str(db.resolve()) for path in _fds())

    def cycle() -> None:
        with rewardlab.load("sql") as reward, ThreadPoolExecutor(3) as threads:
            results = list(threads.map(lambda _: reward.run_inline(rows), range(6)))
            assert all([s.value for s in scores] == expected for scores in results)
            assert on_db() >= 1  # connections are kept between queries while the reward is open
        assert on_db() == 0  # every thread's connection closed, from this thread

    cycle()  # the reward loop and its thread pool start here, once per process
    gc.collect()
    fds, threads = _fds(), _threads()
    cycle()
    assert _opened_since(fds) == [] and not _left_behind(threads)
    assert _count(setup_log, "sql") == {"setup": 2, "close": 2}


def test_sql_schema_link_keeps_schemas_only_while_open(tmp_path: Path, setup_log: Path) -> None:
    db = _database(tmp_path / "singers.sqlite")
    reward = rewardlab.load("sql_schema_link")
    rows = [
        {"completion": "SELECT name FROM singer", "reference": "SELECT name FROM singer WHERE age > 3", "db": str(db)}
    ]
    first = reward.score(rows)[0]
    assert first.status is Status.OK and first.components["tables"] == 1.0
    reward.close()
    assert reward.score(rows)[0] == first  # set up again on use, same verdict
    reward.close()
    assert _count(setup_log, "sql_schema_link") == {"setup": 2, "close": 2}


def _cli(args: list[str], log: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, SETUP_LOG_ENV: str(log)}
    done = subprocess.run(
        [sys.executable, "-m", "rewardlab", *args], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_sql_with_two_workers_is_set_up_once_per_worker_and_closed_by_each(tmp_path: Path) -> None:
    db = _database(tmp_path / "singers.sqlite")
    rows = _sql_rows(db, 40)
    data, out, log = _write(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl", tmp_path / "setups.log"
    _cli(["score", str(data), "-r", "sql", "-o", str(out), "--workers", "2"], log, tmp_path)
    assert [json.loads(line)["reward"] for line in out.read_text().splitlines()] == [
        1.0 if i % 2 == 0 else 0.0 for i in range(40)
    ]
    by_pid = _by_pid(log, "sql")
    # the job's process (which dispatches) and each worker that scored: one setup each, each closed
    assert 2 <= len(by_pid) <= 3, by_pid
    assert all(c == {"setup": 1, "close": 1} for c in by_pid.values()), by_pid


# -- a composite of all three, under score --workers 2 and under audit ----------------------------------------


def _composite_spec(server: str) -> dict[str, Any]:
    judge = {"reward": "judge_verify", "params": {"base_url": server, "model": "oracle", "cache": "off"}}
    return {
        "combine": "sum",
        "terms": [
            {"reward": "sql", "name": "sql", "weight": 0.5},
            {"reward": "embedding_similarity", "name": "embed", "weight": 0.25},
            {**judge, "name": "judge", "weight": 0.25},
        ],
    }


def test_a_composite_of_sql_embedding_and_judge_under_score_with_two_workers(tmp_path: Path, server: str) -> None:
    db = _database(tmp_path / "singers.sqlite")
    rows = _sql_rows(db, 16)
    data, out, log = _write(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl", tmp_path / "setups.log"
    (tmp_path / "spec.json").write_text(json.dumps(_composite_spec(server)))
    done = _cli(
        ["score", str(data), "-r", "spec.json", "-o", str(out), "--workers", "2", "--batch-size", "4"], log, tmp_path
    )
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["reward_status"] == "ok" for r in scored), [r["reward_reason"] for r in scored][:3]
    assert [r["reward_components"]["sql"] for r in scored] == [1.0 if i % 2 == 0 else 0.0 for i in range(16)]
    # resident children: one instance in the job's process, set up once for four batches, closed at the end
    for name in ("embedding_similarity", "judge_verify"):
        by_pid = _by_pid(log, name)
        assert list(by_pid.values()) == [Counter({"setup": 1, "close": 1})], (name, by_pid)
    job_pid = next(iter(_by_pid(log, "judge_verify")))
    sql = _by_pid(log, "sql")
    assert sql[job_pid] == {"setup": 1, "close": 1} and len(sql) >= 2, sql  # plus the workers it used
    assert all(c == {"setup": 1, "close": 1} for c in sql.values()), sql
    assert "judge: 16 requests" in " ".join(done.stderr.split())


def test_judge_and_embedding_under_audit_and_in_a_composite_are_set_up_once(
    tmp_path: Path, server: str, setup_log: Path
) -> None:
    judge = rewardlab.load("judge_verify", base_url=server, model="oracle", cache="off")
    embed = rewardlab.load("embedding_similarity")
    rows = [{"prompt": f"what is {i} + {i}?", "reference": str(2 * i), "completion": str(2 * i)} for i in range(6)]
    for reward in (judge, embed):
        report = audit(reward, rows, probes=["empty", "master_key"], workers=2)
        assert report.document["timing"]["samples_scored"] > len(rows)
    assert _count(setup_log, "judge_verify") == {"setup": 1, "close": 1}
    assert _count(setup_log, "embedding_similarity") == {"setup": 1, "close": 1}
    # in a composite, under a score job: each child's own instance, set up once, closed with the job
    data, out = _write(tmp_path / "in.jsonl", rows * 4), tmp_path / "out.jsonl"
    both = weighted_sum(Term(judge, 0.5, name="judge"), Term(embed, 0.5, name="embed"))
    score_file(data, out, both, workers=2, chunk_rows=5)
    assert len(out.read_text().splitlines()) == 24
    assert _count(setup_log, "judge_verify") == {"setup": 2, "close": 2}
    assert _count(setup_log, "embedding_similarity") == {"setup": 2, "close": 2}
    assert {pid for _, _, pid in _events(setup_log)} == {os.getpid()}  # residents never reach a worker


# -- what stays behind after close() ----------------------------------------------------------------------------


def test_judge_close_releases_its_connections_cache_file_and_starts_no_thread(
    tmp_path: Path, server: str, setup_log: Path
) -> None:
    qa = {"prompt": "what is 2 + 2?", "reference": "4"}
    runs = iter(range(2))

    port = int(server.rsplit(":", 1)[1].split("/", 1)[0])

    def cycle() -> None:
        cache = tmp_path / f"judge{next(runs)}.sqlite"  # a fresh cache: every request reaches the server
        judge = rewardlab.load("judge_verify", base_url=server, model="oracle", cache_path=str(cache))
        with judge:
            first = judge.score([{"completion": f"{i}", **qa} for i in range(8)])
            second = judge.score([{"completion": "4", **qa}])  # a later batch: same client, same pool
            assert [s.value for s in first][4] == 1.0 and second[0].value == 1.0
            assert judge.client.stats.calls == 9
            assert _sockets_to(port) >= 1  # kept-alive connections
            assert str(cache) in _fds()
        assert not judge.has_resources
        assert _sockets_to(port) == 0  # every connection to the judge server closed by close()

    cycle()  # the reward loop starts here, once per process
    gc.collect()
    fds_before, threads = _fds(), _threads()
    cycle()
    # no file left open (sockets are counted by their peer above: other parts of the process,
    # e.g. an earlier test's background threads, may open and close their own meanwhile)
    assert _opened_since(fds_before) == []
    assert not _left_behind(threads) and not any("judge" in name for name in _threads())
    assert _count(setup_log, "judge_verify") == {"setup": 2, "close": 2}


def test_embedding_close_releases_the_model(setup_log: Path) -> None:
    rows = [{"completion": "a cat sat on the mat", "reference": "the cat sat on a mat"}] * 3

    def cycle() -> None:
        with rewardlab.load("embedding_similarity") as reward:
            reward.score(rows[:1])
            assert reward.score(rows)[0].value > 0.8  # a second batch on the same model
            assert _mapped("model.safetensors") >= 1
        gc.collect()
        assert _mapped("model.safetensors") == 0  # the weights are unmapped: nothing holds the model

    cycle()  # libraries start their own process-wide helpers (tqdm's monitor) on the first load
    gc.collect()
    fds, threads = _fds(), _threads()
    cycle()
    assert _opened_since(fds) == [] and not _left_behind(threads)
    assert _count(setup_log, "embedding_similarity") == {"setup": 2, "close": 2}


def test_an_abstaining_batch_never_loads_the_model(setup_log: Path) -> None:
    with rewardlab.load("embedding_similarity") as reward:
        scores = reward.score([{"completion": "no reference here"}])
        assert scores[0].status is Status.ABSTAIN
        assert _mapped("model.safetensors") == 0


def test_an_adapter_closes_the_reward_it_loaded_and_not_one_it_was_given(tmp_path: Path, setup_log: Path) -> None:
    from rewardlab.integrations import to_trl
    from rewardlab.integrations.verl import make_compute_score

    db = _database(tmp_path / "singers.sqlite")
    args = {
        "prompts": ["q", "q"],
        "completions": ["SELECT count(*) FROM singer", "SELECT 1"],
        "reference": ["SELECT count(*) FROM singer"] * 2,
        "db": [str(db)] * 2,
    }
    with to_trl("sql_schema_link") as trl:
        assert trl(**args)[0] == 1.0
    assert _count(setup_log, "sql_schema_link") == {"setup": 1, "close": 1}
    given = rewardlab.load("sql_schema_link")
    f = make_compute_score(given)
    assert f(None, "SELECT count(*) FROM singer", "SELECT count(*) FROM singer", {"db": str(db)}) == 1.0
    f.close()  # type: ignore[attr-defined]
    assert given.has_resources  # a reward passed in is its caller's to close
    given.close()
    assert _count(setup_log, "sql_schema_link") == {"setup": 2, "close": 2}
    # the by-path entry point keeps one reward per spec for the process, until it is released
    from rewardlab.integrations import close_loaded_rewards
    from rewardlab.integrations.verl import compute_score

    for _ in range(3):
        assert (
            compute_score(None, args["completions"][0], args["reference"][0], {"db": str(db)}, reward="sql_schema_link")
            == 1.0
        )
    assert _count(setup_log, "sql_schema_link") == {"setup": 3, "close": 2}
    close_loaded_rewards()
    assert _count(setup_log, "sql_schema_link") == {"setup": 3, "close": 3}
