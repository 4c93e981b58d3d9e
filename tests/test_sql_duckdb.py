"""The same execution reward on DuckDB files: equivalences, refusals, deadline, bytes unchanged."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

import rewardlab
from rewardlab import Sample, Status
from rewardlab.rewards.sql._sql_engine import QueryLimits, run_query

duckdb = pytest.importorskip("duckdb", reason="the duckdb extra is not installed")


@pytest.fixture
def ddb(tmp_path: Path) -> Path:
    path = tmp_path / "music.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE singer (id INTEGER, name VARCHAR, country VARCHAR, age INTEGER, worth DECIMAL(8, 2))")
    conn.execute(
        "INSERT INTO singer VALUES (1, 'Ana', 'France', 29, 10.50), (2, 'Ben', 'France', 41, NULL), "
        "(3, 'Cleo', 'Spain', 30, 3.25)"
    )
    conn.execute("CREATE TABLE big AS SELECT range AS x FROM range(30)")
    conn.close()
    return path


def score(db: Path, completion: str, reference: str, **params: object) -> object:
    sample = Sample(completion=completion, reference=reference, extras={"db": str(db)})
    return rewardlab.load("sql", engine="duckdb", **params).run_inline([sample])[0]


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        (
            "SELECT name FROM singer WHERE country = 'France' ORDER BY name DESC",
            "SELECT name FROM singer WHERE country = 'France'",
        ),
        ("SELECT 1.5", "SELECT 1.5::DOUBLE"),  # DECIMAL against DOUBLE
        ("SELECT sum(worth) FROM singer", "SELECT 13.75"),
        ("FROM singer SELECT count(*)", "SELECT count(*) FROM singer"),  # DuckDB's FROM-first syntax
        ("SELECT true", "SELECT 1"),
        ("SELECT 'nan'::DOUBLE", "SELECT 'nan'::DOUBLE"),
    ],
    ids=["order-free", "decimal-vs-double", "decimal-sum", "from-first", "bool-as-int", "nan-equals-nan"],
)
def test_equivalent(ddb: Path, prediction: str, reference: str) -> None:
    result = score(ddb, prediction, reference)
    assert result.status is Status.OK and result.value == 1.0, result.reason


@pytest.mark.parametrize(
    "statement",
    [
        "COPY singer TO '{dir}/leak.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('{dir}/music.duckdb')",
        "SELECT * FROM glob('/etc/*')",
        "SET threads = 8",
        "SET enable_external_access = true",
        "CREATE TEMP TABLE t AS SELECT 1",
        "ATTACH '{dir}/other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "DELETE FROM singer",
        "SELECT 1; DROP TABLE singer",
        "EXPORT DATABASE '{dir}/dump'",
        "CHECKPOINT",
        "PRAGMA enable_profiling",
    ],
)
def test_refused_and_bytes_unchanged(ddb: Path, statement: str) -> None:
    before = hashlib.sha256(ddb.read_bytes()).hexdigest()
    listing = sorted(os.listdir(ddb.parent))
    result = score(ddb, statement.replace("{dir}", str(ddb.parent)), "SELECT count(*) FROM singer")
    assert result.status is Status.OK and result.value == 0.0, result.reason
    assert hashlib.sha256(ddb.read_bytes()).hexdigest() == before
    assert sorted(os.listdir(ddb.parent)) == listing


def test_cross_join_is_interrupted_at_the_deadline(ddb: Path) -> None:
    query = "SELECT count(*) FROM big a, big b, big c, big d, big e, big f, big g, big h, big i, big j, big k, big l"
    started = time.monotonic()
    result = run_query("duckdb", ddb, query, QueryLimits(timeout_s=0.5))
    assert result.outcome == "timeout"
    assert time.monotonic() - started < 3.0


def test_order_matters_under_reference_order_by(ddb: Path) -> None:
    result = score(ddb, "SELECT name FROM singer ORDER BY age", "SELECT name FROM singer ORDER BY age DESC")
    assert result.value == 0.0 and "order matters" in result.reason


def test_database_by_id_finds_duckdb_files(ddb: Path) -> None:
    sample = Sample(completion="SELECT count(*) FROM singer", reference="SELECT 3", extras={"db_id": "music"})
    result = rewardlab.load("sql", engine="duckdb", db_root=str(ddb.parent)).run_inline([sample])[0]
    assert result.value == 1.0


def test_through_the_worker_pool(ddb: Path) -> None:
    from rewardlab.runtime import WorkerPool

    samples = [
        Sample(completion="SELECT count(*) FROM singer", reference="SELECT 3", extras={"db": str(ddb)}),
        Sample(completion="SELECT name FROM singer", reference="SELECT nope FROM singer", extras={"db": str(ddb)}),
    ]
    with WorkerPool(workers=1, timeout=20) as pool:
        scores = rewardlab.load("sql", engine="duckdb").score(samples, pool=pool)
    assert scores[0].value == 1.0
    assert scores[1].status is Status.ABSTAIN
