"""Execution-accuracy reward on real SQLite databases built here: regression table,
destructive and escaping statements, deadlines and caps, statuses, the CLI example."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import rewardlab
from rewardlab import Sample, Status
from rewardlab.rewards.sql._sql_engine import QueryLimits, run_query
from rewardlab.runtime import WorkerPool

ROOT = Path(__file__).resolve().parents[1]

SCHEMA = """
CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT, age INTEGER, net_worth REAL);
CREATE TABLE concert (id INTEGER PRIMARY KEY, title TEXT, singer_id INTEGER REFERENCES singer(id), year INTEGER);
CREATE TABLE measure (id INTEGER PRIMARY KEY, height_int INTEGER, height_text TEXT);
CREATE TABLE big (x INTEGER);
CREATE INDEX singer_age ON singer(age);
"""
SINGERS = [
    (1, "Ana", "France", 29, 10.5),
    (2, "Ben", "France", 41, None),
    (3, "Cleo", "Spain", 30, 3.25),
    (4, "Dev", "India", 52, 7.0),
    (5, "Eli", "Spain", 30, None),
]
CONCERTS = [(1, "Spring", 1, 2014), (2, "Summer", 1, 2015), (3, "Autumn", 3, 2014), (4, "Winter", 4, 2014)]


def build_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?, ?)", SINGERS)
    conn.executemany("INSERT INTO concert VALUES (?, ?, ?, ?)", CONCERTS)
    conn.execute("INSERT INTO measure VALUES (1, 180, '180')")
    conn.executemany("INSERT INTO big VALUES (?)", [(i,) for i in range(20)])
    conn.commit()
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_db(tmp_path_factory.mktemp("sqldb") / "music.sqlite")


@pytest.fixture(scope="module")
def pool() -> Any:
    with WorkerPool(workers=2, timeout=20.0) as p:
        yield p


# -- regression table: (id, prediction, reference, expected value) --------------------------

EQUIVALENT = [
    (
        "join-vs-subquery",
        "SELECT name FROM singer WHERE id IN (SELECT singer_id FROM concert WHERE year = 2014)",
        "SELECT DISTINCT s.name FROM singer AS s JOIN concert AS c ON s.id = c.singer_id WHERE c.year = 2014",
    ),
    (
        "aliases-and-column-names",
        "SELECT T1.name AS singer_name, T1.age AS years FROM singer AS T1 WHERE T1.age > 30",
        "SELECT name, age FROM singer WHERE age > 30",
    ),
    ("order-without-reference-order-by", "SELECT name FROM singer ORDER BY name DESC", "SELECT name FROM singer"),
    ("integer-vs-real-literal", "SELECT 180.0", "SELECT 180"),
    ("count-times-one-point-zero", "SELECT count(*) * 1.0 FROM singer", "SELECT count(*) FROM singer"),
    (
        "avg-vs-sum-over-count",
        "SELECT sum(age) * 1.0 / count(age) FROM singer WHERE country = 'France'",
        "SELECT avg(age) FROM singer WHERE country = 'France'",
    ),
    ("float-tolerance", "SELECT 0.1 + 0.2", "SELECT 0.3"),
    ("null-matches-null", "SELECT net_worth FROM singer WHERE id = 2", "SELECT NULL"),
    (
        "same-order-under-order-by",
        "SELECT s.name FROM singer s ORDER BY s.age DESC, s.id",
        "SELECT name FROM singer ORDER BY age DESC, id",
    ),
    (
        "order-by-inside-subquery-is-not-top-level",
        "SELECT name FROM singer ORDER BY name DESC",
        "SELECT name FROM (SELECT name FROM singer ORDER BY age LIMIT 10)",
    ),
    (
        "window-order-by-is-not-top-level",
        "SELECT name, rank() OVER (ORDER BY age) FROM singer ORDER BY name",
        "SELECT name, rank() OVER (ORDER BY age) FROM singer",
    ),
    (
        "union-with-order-by",
        "SELECT name FROM singer WHERE age < 30 OR age > 50 ORDER BY name",
        "SELECT name FROM singer WHERE age < 30 UNION SELECT name FROM singer WHERE age > 50 ORDER BY name",
    ),
    (
        "cte-vs-plain",
        "WITH old AS (SELECT * FROM singer WHERE age >= 40) SELECT count(*) FROM old",
        "SELECT count(*) FROM singer WHERE age >= 40",
    ),
    (
        "quoted-identifiers-and-case",
        'select "name" from "singer" where country=\'Spain\'',
        "SELECT name FROM singer WHERE country = 'Spain'",
    ),
    ("empty-results-same-width", "SELECT name FROM singer WHERE age > 200", "SELECT name FROM singer WHERE 0"),
    (
        "last-fenced-block-wins",
        "Draft:\n```sql\nSELECT age FROM singer\n```\nFinal answer:\n```sql\nSELECT count(*) FROM singer;\n```\n",
        "SELECT count(*) FROM singer",
    ),
    ("trailing-semicolon-and-comment", "SELECT count(*) FROM singer; -- five singers", "SELECT count(*) FROM singer"),
    ("group-by-vs-distinct", "SELECT country FROM singer GROUP BY country", "SELECT DISTINCT country FROM singer"),
]

DIFFERENT = [
    ("wrong-filter", "SELECT name FROM singer WHERE age > 30", "SELECT name FROM singer WHERE age >= 30"),
    ("extra-column", "SELECT name, age FROM singer", "SELECT name FROM singer"),
    ("missing-column", "SELECT name FROM singer", "SELECT name, age FROM singer"),
    ("swapped-columns", "SELECT age, name FROM singer", "SELECT name, age FROM singer"),
    ("missing-distinct", "SELECT country FROM singer", "SELECT DISTINCT country FROM singer"),
    (
        "equals-null",
        "SELECT name FROM singer WHERE net_worth = NULL",
        "SELECT name FROM singer WHERE net_worth IS NULL",
    ),
    (
        "wrong-order-under-order-by",
        "SELECT name FROM singer ORDER BY age ASC",
        "SELECT name FROM singer ORDER BY age DESC",
    ),
    ("text-is-not-number", "SELECT height_text FROM measure", "SELECT height_int FROM measure"),
    ("integers-compare-exactly", "SELECT 1000000", "SELECT 1000001"),
    ("float-beyond-tolerance", "SELECT 0.3001", "SELECT 0.3"),
    ("case-of-strings-matters", "SELECT upper(name) FROM singer", "SELECT name FROM singer"),
    ("empty-results-different-width", "SELECT name, age FROM singer WHERE 0", "SELECT name FROM singer WHERE 0"),
    ("duplicate-multiplicity", "SELECT country FROM singer WHERE country != 'India'", "SELECT country FROM singer"),
    ("syntax-error", "SELECT name FROM singer WHERE", "SELECT name FROM singer"),
    ("misspelt-keyword", "SELEC name FROM singer", "SELECT name FROM singer"),
    ("unknown-column", "SELECT nom FROM singer", "SELECT name FROM singer"),
    ("two-statements", "SELECT name FROM singer; SELECT name FROM singer", "SELECT name FROM singer"),
    ("empty-completion", "", "SELECT name FROM singer"),
    ("prose-only", "I think the answer is all the singers.", "SELECT name FROM singer"),
    ("unclosed-fence-is-not-a-block", "```sql\nSELECT name FROM singer", "SELECT name FROM singer"),
]

# Statements that would modify the database or reach outside it. Each must score 0 and leave
# the database's bytes (and its directory) unchanged.
ESCAPE_TMPL = [
    ("drop-table", "DROP TABLE singer"),
    ("delete", "DELETE FROM singer"),
    ("update", "UPDATE singer SET age = 0"),
    ("insert-returning", "INSERT INTO singer(name) VALUES ('x') RETURNING id"),
    ("replace-into", "REPLACE INTO singer(id, name) VALUES (1, 'x')"),
    ("with-delete", "WITH x AS (SELECT 1) DELETE FROM singer"),
    ("with-insert-returning", "WITH x AS (SELECT 1) INSERT INTO singer(name) SELECT 'y' FROM x RETURNING *"),
    ("select-then-drop", "SELECT 1; DROP TABLE singer"),
    ("select-then-delete-in-fence", "```sql\nSELECT count(*) FROM singer; DELETE FROM singer;\n```"),
    ("comment-then-drop", "/* harmless */ -- really\nDROP TABLE singer"),
    ("attach", "ATTACH DATABASE '{dir}/evil.sqlite' AS evil"),
    ("select-attach-via-fence", "```sql\nATTACH '{dir}/evil2.sqlite' AS e\n```"),
    ("vacuum", "VACUUM"),
    ("vacuum-into", "VACUUM INTO '{dir}/copy.sqlite'"),
    ("pragma-writable-schema", "PRAGMA writable_schema = 1"),
    ("pragma-query-only-off", "PRAGMA query_only = 0"),
    ("pragma-journal-wal", "PRAGMA journal_mode = WAL"),
    ("pragma-table-valued", "SELECT * FROM pragma_table_info('singer')"),
    ("create-table", "CREATE TABLE t(x)"),
    ("create-temp-table", "CREATE TEMP TABLE t AS SELECT * FROM singer"),
    ("create-trigger", "CREATE TRIGGER tr AFTER INSERT ON singer BEGIN DELETE FROM singer; END"),
    ("create-view", "CREATE VIEW v AS SELECT 1"),
    ("alter-table", "ALTER TABLE singer RENAME TO s2"),
    ("begin", "BEGIN IMMEDIATE"),
    ("savepoint", "SAVEPOINT a"),
    ("reindex", "REINDEX"),
    ("analyze", "ANALYZE"),
    ("explain-delete", "EXPLAIN DELETE FROM singer"),
    ("load-extension", "SELECT load_extension('{dir}/evil.so')"),
    ("writefile", "SELECT writefile('{dir}/out.txt', 'x')"),
    ("detach", "DETACH DATABASE main"),
]


def samples_for(db: Path, rows: list[tuple[str, str, str]]) -> list[Sample]:
    return [Sample(completion=p, reference=r, extras={"db": str(db)}, id=i) for i, p, r in rows]


@pytest.fixture(scope="module")
def table_scores(db: Path, pool: Any) -> dict[str, Any]:
    rows = EQUIVALENT + DIFFERENT
    scores = rewardlab.load("sql").score(samples_for(db, rows), pool=pool)
    return {row[0]: score for row, score in zip(rows, scores, strict=True)}


@pytest.mark.parametrize("case", [c[0] for c in EQUIVALENT])
def test_equivalent_queries_score_one(table_scores: dict[str, Any], case: str) -> None:
    score = table_scores[case]
    assert score.status is Status.OK, score.reason
    assert score.value == 1.0, score.reason


@pytest.mark.parametrize("case", [c[0] for c in DIFFERENT])
def test_different_queries_score_zero(table_scores: dict[str, Any], case: str) -> None:
    score = table_scores[case]
    assert score.status is Status.OK, score.reason
    assert score.value == 0.0
    assert score.reason  # every zero says why


def test_zero_reasons_name_the_cause(table_scores: dict[str, Any]) -> None:
    assert "order matters" in table_scores["wrong-order-under-order-by"].reason
    assert "columns" in table_scores["extra-column"].reason
    assert "failed" in table_scores["syntax-error"].reason
    assert "more than one statement" in table_scores["two-statements"].reason
    assert "empty query" in table_scores["empty-completion"].reason


@pytest.fixture
def fresh_db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "victim.sqlite")


@pytest.mark.parametrize("case", [c[0] for c in ESCAPE_TMPL])
def test_destructive_and_escaping_statements_score_zero_and_leave_bytes(fresh_db: Path, case: str) -> None:
    template = dict(ESCAPE_TMPL)[case]
    statement = template.replace("{dir}", str(fresh_db.parent))
    before = digest(fresh_db)
    listing = sorted(os.listdir(fresh_db.parent))
    sample = Sample(completion=statement, reference="SELECT count(*) FROM singer", extras={"db": str(fresh_db)})
    score = rewardlab.load("sql").run_inline([sample])[0]  # in-process: the guards themselves, no pool in between
    assert score.status is Status.OK and score.value == 0.0, (score.status, score.reason)
    assert digest(fresh_db) == before
    assert sorted(os.listdir(fresh_db.parent)) == listing  # no journal, WAL, attached or copied file
    # the database still answers as before
    check = run_query("sqlite", fresh_db, "SELECT count(*) FROM singer")
    assert check.rows == ((len(SINGERS),),)


def test_escapes_through_the_worker_pool_too(fresh_db: Path, pool: Any) -> None:
    before = digest(fresh_db)
    samples = [
        Sample(completion=t.replace("{dir}", str(fresh_db.parent)), reference="SELECT 1", extras={"db": str(fresh_db)})
        for _, t in ESCAPE_TMPL
    ]
    scores = rewardlab.load("sql").score(samples, pool=pool)
    assert [(s.status, s.value) for s in scores] == [(Status.OK, 0.0)] * len(samples)
    assert digest(fresh_db) == before


def test_refusals_are_reported_as_refusals(fresh_db: Path) -> None:
    for query in ["DELETE FROM singer", "WITH x AS (SELECT 1) DELETE FROM singer", "SELECT load_extension('x')"]:
        result = run_query("sqlite", fresh_db, query)
        assert result.outcome == "refused", (query, result)
    assert run_query("sqlite", fresh_db, "SELECT 1; SELECT 2").outcome == "refused"


# -- bounds ----------------------------------------------------------------------------------

RUNAWAY = [
    (
        "unbounded-recursive-cte",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
    ),
    (
        "twelve-way-cross-join",
        "SELECT count(*) FROM big a, big b, big c, big d, big e, big f, big g, big h, big i, big j, big k, big l",
    ),
]


@pytest.mark.parametrize("case", [c[0] for c in RUNAWAY])
def test_runaway_queries_score_zero_within_the_deadline(db: Path, pool: Any, case: str) -> None:
    query = dict(RUNAWAY)[case]
    sample = Sample(completion=query, reference="SELECT count(*) FROM singer", extras={"db": str(db)})
    started = time.monotonic()
    score = rewardlab.load("sql", timeout=0.5).score([sample], pool=pool)[0]
    elapsed = time.monotonic() - started
    assert score.status is Status.OK and score.value == 0.0
    assert "timed out" in score.reason
    assert elapsed < 5.0  # 0.5 s deadline plus worker round trip and a possible cold start


def test_deadline_is_kept_in_process(db: Path) -> None:
    started = time.monotonic()
    result = run_query("sqlite", db, RUNAWAY[1][1], QueryLimits(timeout_s=0.3))
    assert result.outcome == "timeout"
    assert time.monotonic() - started < 1.5


def test_row_cap(db: Path) -> None:
    sample = Sample(completion="SELECT a.x, b.x FROM big a, big b", reference="SELECT 1", extras={"db": str(db)})
    score = rewardlab.load("sql", max_rows=100).run_inline([sample])[0]
    assert score.value == 0.0 and "too many rows" in score.reason
    ok = rewardlab.load("sql", max_rows=400).run_inline(
        [
            Sample(
                completion="SELECT a.x, b.x FROM big a, big b",
                reference="SELECT b.x, a.x FROM big b, big a",
                extras={"db": str(db)},
            )
        ]
    )[0]
    assert ok.value == 1.0


def test_memory_cap(db: Path) -> None:
    # Sorting six-way cross join materialises 64M rows before the first one comes back.
    query = "SELECT a.x, b.x, c.x, d.x, e.x, f.x FROM big a, big b, big c, big d, big e, big f ORDER BY random()"
    result = run_query("sqlite", db, query, QueryLimits(timeout_s=30, max_memory_mb=32))
    assert result.outcome == "memory", result


def test_worker_kill_is_the_backstop_for_one_long_instruction(db: Path, pool: Any) -> None:
    # instr() on two long strings is one VM instruction: the progress handler cannot stop it,
    # the worker's hard deadline does, and says so with status timeout (never 0.0 or a hang).
    # Four of them back to back (a few VM instructions in all) outlast the hard deadline even on a fast machine.
    one = "instr(printf('%.*c', 999999, 'a'), printf('%.*c', 499999, 'a') || 'b')"
    query = f"SELECT {one} + {one} + {one} + {one}"
    sample = Sample(completion=query, reference="SELECT 1", extras={"db": str(db)})
    reward = rewardlab.load("sql", timeout=0.5)  # worker killed after 2 * 0.5 + WORKER_SLACK_S
    started = time.monotonic()
    score = reward.score([sample], pool=pool)[0]
    assert score.status is Status.TIMEOUT, score
    assert "hard deadline" in score.reason
    assert time.monotonic() - started < 12.0
    after = reward.score([Sample(completion="SELECT 1", reference="SELECT 1.0", extras={"db": str(db)})], pool=pool)[0]
    assert after.value == 1.0  # the pool replaced the killed worker


# -- statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "SELECT stadium FROM singer",  # unknown column
        "SELEC name FROM singer",  # syntax error
        "DROP TABLE singer",  # not a query
        RUNAWAY[0][1],  # never finishes
    ],
    ids=["unknown-column", "syntax-error", "not-a-query", "times-out"],
)
def test_broken_reference_abstains(db: Path, reference: str) -> None:
    sample = Sample(completion="SELECT name FROM singer", reference=reference, extras={"db": str(db)})
    score = rewardlab.load("sql", timeout=0.3).run_inline([sample])[0]
    assert score.status is Status.ABSTAIN
    assert "reference" in score.reason


def test_missing_inputs(db: Path, tmp_path: Path) -> None:
    reward = rewardlab.load("sql")
    no_ref = reward.run_inline([Sample(completion="SELECT 1", extras={"db": str(db)})])[0]
    assert no_ref.status is Status.ABSTAIN and "reference" in no_ref.reason
    no_db = reward.run_inline([Sample(completion="SELECT 1", reference="SELECT 1")])[0]
    assert no_db.status is Status.ABSTAIN and "'db'" in no_db.reason
    missing = reward.run_inline(
        [Sample(completion="SELECT 1", reference="SELECT 1", extras={"db": str(tmp_path / "nope.sqlite")})]
    )[0]
    assert missing.status is Status.ERROR and "not found" in missing.reason
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    bad = reward.run_inline([Sample(completion="SELECT 1", reference="SELECT 1", extras={"db": str(junk)})])[0]
    assert bad.status is Status.ERROR and "not a readable SQLite database" in bad.reason


def test_database_by_id_under_root(tmp_path: Path) -> None:
    build_db(tmp_path / "nested.sqlite")  # <root>/<id>.sqlite
    (tmp_path / "spider_style").mkdir()
    build_db(tmp_path / "spider_style" / "spider_style.sqlite")  # <root>/<id>/<id>.sqlite
    reward = rewardlab.load("sql", db_root=str(tmp_path))
    rows = [
        Sample(completion="SELECT count(*) FROM singer", reference="SELECT 5", extras={"db_id": "nested"}),
        Sample(completion="SELECT count(*) FROM singer", reference="SELECT 5", extras={"db_id": "spider_style"}),
        Sample(completion="SELECT 1", reference="SELECT 1", extras={"db": "nested.sqlite"}),  # relative to db_root
        Sample(completion="SELECT 1", reference="SELECT 1", extras={"db_id": "../nested"}),
        Sample(completion="SELECT 1", reference="SELECT 1", extras={"db_id": "absent"}),
    ]
    scores = reward.run_inline(rows)
    assert [s.value for s in scores[:3]] == [1.0, 1.0, 1.0]
    assert scores[3].status is Status.ERROR and "not a database id" in scores[3].reason
    assert scores[4].status is Status.ERROR and "no database 'absent'" in scores[4].reason
    no_root = rewardlab.load("sql").run_inline([rows[0]])[0]
    assert no_root.status is Status.ERROR and "db_root" in no_root.reason


def test_reference_runs_once_per_group(db: Path, tmp_path: Path) -> None:
    # A group of completions for one prompt shares the reference: it is executed once.
    from rewardlab.rewards.sql import _sql

    path = build_db(tmp_path / "group.sqlite")
    calls = []
    original = _sql.run_query

    def counting(engine: Any, p: Any, query: str, limits: Any = None, **options: Any) -> Any:
        calls.append(query)
        return original(engine, p, query, limits, **options)

    _sql.run_query = counting  # type: ignore[assignment]
    try:
        group = [
            Sample(completion=f"SELECT count(*) + {i} FROM singer", reference="SELECT 5", extras={"db": str(path)})
            for i in range(4)
        ]
        scores = rewardlab.load("sql").run_inline(group)
    finally:
        _sql.run_query = original  # type: ignore[assignment]
    assert [s.value for s in scores] == [1.0, 0.0, 0.0, 0.0]
    assert calls.count("SELECT 5") == 1 and len(calls) == 5


def test_replaced_database_file_is_reread(tmp_path: Path) -> None:
    path = build_db(tmp_path / "swap.sqlite")
    reward = rewardlab.load("sql")
    sample = Sample(completion="SELECT count(*) FROM singer", reference="SELECT 5", extras={"db": str(path)})
    assert reward.run_inline([sample])[0].value == 1.0
    path.unlink()
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE singer(id INTEGER); INSERT INTO singer VALUES (1);")
    conn.commit()
    conn.close()
    assert reward.run_inline([sample])[0].value == 0.0


def test_bad_parameters_are_refused_at_load_not_zeros() -> None:
    # Out-of-bounds values never reach a query: loading refuses them and names the parameter.
    for name, value in (("float_tol", -1.0), ("timeout", 0.0), ("max_memory_mb", 0), ("max_rows", -1)):
        for reward in ("sql", "sql_partial_match"):
            with pytest.raises(rewardlab.RewardParamError, match=f"parameter '{name}'"):
                rewardlab.load(reward, **{name: value})
    with pytest.raises(rewardlab.RewardParamError, match="parameter 'engine'"):
        rewardlab.load("sql", engine="postgres")


def test_a_timeout_that_is_not_finite_is_an_error_not_a_zero(db: Path) -> None:
    sample = Sample(completion="SELECT 1", reference="SELECT 1", extras={"db": str(db)})
    score = rewardlab.load("sql", timeout=float("inf")).run_inline([sample])[0]
    assert score.status is Status.ERROR and "timeout" in (score.reason or "")


def test_signature_round_trip() -> None:
    reward = rewardlab.load("sql", timeout=2.5, db_root="/data/spider")
    again = rewardlab.load(reward.signature)
    assert again.params == reward.params
    assert reward.isolated


# -- the bundled example -----------------------------------------------------------------------


def test_example_runs_with_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from rewardlab.cli import main; main()",
            "score",
            "examples/sql.jsonl",
            "-r",
            "sql",
            "-o",
            str(out),
            "-p",
            "timeout=1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert {k: rows[k]["reward"] for k in ("join-vs-subquery", "alias-and-order", "int-vs-real")} == dict.fromkeys(
        ("join-vs-subquery", "alias-and-order", "int-vs-real"), 1.0
    )
    for zero in ("wrong-order", "missing-distinct", "equals-null", "destructive", "runaway"):
        assert rows[zero]["reward"] == 0.0 and rows[zero]["reward_status"] == "ok", rows[zero]
    assert rows["broken-reference"]["reward_status"] == "abstain"


def test_example_database_is_the_one_the_script_builds(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import sql_make_db
    finally:
        sys.path.pop(0)
    rebuilt = sql_make_db.build(tmp_path / "rebuilt.sqlite")
    committed = ROOT / "examples" / "sql_concerts.sqlite"
    query = "SELECT * FROM {} ORDER BY 1, 2"
    for table in ("stadium", "singer", "concert", "singer_in_concert"):
        assert (
            run_query("sqlite", rebuilt, query.format(table)).rows
            == run_query("sqlite", committed, query.format(table)).rows
        )
