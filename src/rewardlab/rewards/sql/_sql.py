"""Text-to-SQL rewards: execution accuracy on a real database, plus partial rewards.

``sql`` runs the predicted and the reference query on the sample's database
(read-only, bounded; see `rewardlab.rewards.sql._sql_engine`) and scores 1 when the
results are the same (`compare_results` gives the exact semantics). The partial
rewards give denser signal (Reasoning-SQL, PaVeRL-SQL): ``sql_syntax``,
``sql_schema_link``, ``sql_ngram`` and ``sql_partial_match``.

Where the database comes from, for every reward that needs one: the sample's
``db`` field (a path; relative paths are taken under ``db_root`` when given,
else under the working directory), or its ``db_id`` field under ``db_root``
(``<db_root>/<id>/<id>.sqlite`` as in Spider and BIRD, or ``<db_root>/<id>.sqlite``;
``.db``/``.sqlite3`` too, and ``.duckdb`` for DuckDB).

Statuses: a wrong, failing, refused, too slow or too large prediction is a
scored 0 with the reason. A missing reference or database field is
``abstain``; a reference query that fails, times out or exceeds the caps on its
own database is ``abstain`` (the policy is not blamed for a broken gold query).
A database file that is missing or unreadable is ``error``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

from annotated_types import Ge, Gt

from rewardlab._params import ParamGroup, with_params
from rewardlab._reward import reward, worker_instance, worker_key
from rewardlab._types import Sample, Score, Status
from rewardlab.rewards.sql._sql_compare import DEFAULT_FLOAT_TOL, ColumnOrder, compare_results, partial_match
from rewardlab.rewards.sql._sql_engine import (
    DEFAULT_MAX_MEMORY_MB,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    Connections,
    DatabaseUnavailable,
    Engine,
    Execution,
    QueryLimits,
    database_key,
    read_schema,
    run_query,
)
from rewardlab.rewards.sql._sql_static import (
    extract_query,
    has_top_level_order_by,
    jaccard,
    ngrams,
    parse_query,
    query_tokens,
    schema_items,
)

REFERENCE_CACHE_SIZE = 256
"""Reference results (and database schemas) one open SQL reward keeps in memory. In GRPO the G completions of a
prompt share one reference; caching runs it once per group, not G times."""

REFERENCE_CACHE_MAX_ROWS = 10_000
"""Larger reference results are not cached (bounded memory: at most
REFERENCE_CACHE_SIZE x this many rows)."""

WORKER_SLACK_S = 5.0
"""Added to twice the per-query ``timeout`` (reference plus prediction) to
make the hard deadline of one sample's worker call. The progress handler stops
a slow query at ``timeout`` and scores 0; the worker kill is the backstop for a
single engine instruction that runs long (``instr`` on two long strings), and
reports status ``timeout``."""

_DB_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "sqlite": (".sqlite", ".db", ".sqlite3"),
    "duckdb": (".duckdb", ".db"),
}
_DIALECTS: dict[str, str] = {"sqlite": "sqlite", "duckdb": "duckdb"}


class _Unavailable(Exception):
    """The sample cannot be scored; carries the Score that says why."""

    def __init__(self, score: Score) -> None:
        super().__init__(score.reason)
        self.score = score


def resolve_database(
    sample: Sample,
    *,
    engine: Engine = "sqlite",
    db_root: str | None = None,
    db_field: str = "db",
    db_id_field: str = "db_id",
) -> Path:
    """The database file a sample names (see the module docstring for the rules).

    Raises:
        _Unavailable: with an ``abstain`` score when the sample names no
            database, an ``error`` score when the name is malformed or the
            file does not exist.
    """
    value = sample.get(db_field)
    if value not in (None, ""):
        if not isinstance(value, str):
            raise _Unavailable(Score.error(f"field {db_field!r} must be a path string, got {type(value).__name__}"))
        path = Path(value).expanduser()
        if not path.is_absolute() and db_root:
            path = Path(db_root).expanduser() / path
        if not path.is_file():
            raise _Unavailable(Score.error(f"field {db_field!r}: database file {str(path)!r} not found"))
        return path
    db_id = sample.get(db_id_field)
    if db_id in (None, ""):
        return _no_database(db_field, db_id_field)
    if not db_root:
        raise _Unavailable(Score.error(f"field {db_id_field!r} is set but the reward has no db_root parameter"))
    name = str(db_id)
    if not _DB_ID.match(name) or ".." in name:
        raise _Unavailable(Score.error(f"field {db_id_field!r}: {name!r} is not a database id (letters, digits, _.-)"))
    root = Path(db_root).expanduser()
    tried = []
    for suffix in _SUFFIXES[engine]:
        for candidate in (root / name / f"{name}{suffix}", root / f"{name}{suffix}"):
            if candidate.is_file():
                return candidate
            tried.append(str(candidate))
    where = f"under {str(root)!r} (tried {tried[0]}, ...)"
    raise _Unavailable(Score.error(f"field {db_id_field!r}: no database {name!r} {where}"))


def _no_database(db_field: str, db_id_field: str) -> NoReturn:
    raise _Unavailable(Score.abstain(f"no database: the sample has neither {db_field!r} nor {db_id_field!r}"))


def _reference_query(sample: Sample) -> str:
    ref = sample.reference
    if ref is None or (isinstance(ref, str) and not ref.strip()):
        raise _Unavailable(Score.abstain("no reference query"))
    if not isinstance(ref, str):
        raise _Unavailable(Score.error(f"reference must be a SQL string, got {type(ref).__name__}"))
    return extract_query(ref)


# -- what one SQL reward owns -------------------------------------------------------------


class SqlSession:
    """What one SQL reward holds while it is open: its connections and its reference and schema results.

    Built by the reward's setup (in the caller for ``run_inline``, once per
    worker process under a pool) and closed with it: `close` closes every
    connection. Reference results are kept because in GRPO the G completions
    of a prompt share one reference, which then runs once per group.
    """

    def __init__(self) -> None:
        self.connections = Connections()
        self._lock = threading.Lock()
        self._references: OrderedDict[tuple[Any, ...], Execution] = OrderedDict()
        self._schemas: OrderedDict[tuple[Any, ...], dict[str, frozenset[str]]] = OrderedDict()

    def run(self, engine: Engine, path: Path, query: str, limits: QueryLimits) -> Execution:
        """Run a predicted query on this session's connection to the database."""
        return run_query(engine, path, query, limits, connections=self.connections)

    def reference(self, engine: Engine, path: Path, query: str, limits: QueryLimits) -> Execution:
        """The reference query's result, run once per database contents and limits while it stays cached."""
        key = (database_key(engine, path), query, limits.max_rows, limits.max_memory_mb)
        with self._lock:
            hit = self._references.get(key)
            if hit is not None:
                self._references.move_to_end(key)
                return hit
        result = run_query(engine, path, query, limits, connections=self.connections)
        # Only deterministic outcomes are kept: a timeout may pass on a less loaded machine.
        if result.outcome in ("ok", "failed", "refused") and len(result.rows) <= REFERENCE_CACHE_MAX_ROWS:
            with self._lock:
                self._references[key] = result
                while len(self._references) > REFERENCE_CACHE_SIZE:
                    self._references.popitem(last=False)
        return result

    def schema(self, engine: Engine, path: Path) -> dict[str, frozenset[str]]:
        """Tables and columns of the database (read once per database contents)."""
        key = database_key(engine, path)
        with self._lock:
            if key in self._schemas:
                return self._schemas[key]
        schema = read_schema(engine, path, connections=self.connections)
        with self._lock:
            self._schemas[key] = schema
            while len(self._schemas) > REFERENCE_CACHE_SIZE:
                self._schemas.popitem(last=False)
        return schema

    def close(self) -> None:
        """Close every connection and drop the kept results (the session opens again if used)."""
        self.connections.close()
        with self._lock:
            self._references.clear()
            self._schemas.clear()


def _executions(
    session: SqlSession,
    sample: Sample,
    engine: Engine,
    db_root: str | None,
    db_field: str,
    db_id_field: str,
    limits: QueryLimits,
) -> tuple[Execution, Execution, str]:
    """Run reference then prediction; raise `_Unavailable` when the sample cannot be judged."""
    reference = _reference_query(sample)
    path = resolve_database(sample, engine=engine, db_root=db_root, db_field=db_field, db_id_field=db_id_field)
    try:
        ref = session.reference(engine, path, reference, limits)
        if not ref.ok:
            raise _Unavailable(Score.abstain(f"reference query does not run ({ref.outcome}): {ref.message}"))
        predicted = extract_query(sample.completion_text)
        pred = session.run(engine, path, predicted, limits)
    except DatabaseUnavailable as exc:
        raise _Unavailable(Score.error(str(exc))) from exc
    return ref, pred, reference


def _prediction_failure(pred: Execution) -> Score:
    labels = {
        "refused": "prediction refused",
        "timeout": "prediction timed out",
        "too_many_rows": "prediction returned too many rows",
        "memory": "prediction exceeded the memory cap",
        "failed": "prediction failed",
    }
    return Score.ok(0.0, reason=f"{labels.get(pred.outcome, pred.outcome)}: {pred.message}"[:500])


def _run_both(
    session: SqlSession,
    sample: Sample,
    engine: Engine,
    db_root: str | None,
    db_field: str,
    db_id_field: str,
    limits: QueryLimits,
) -> tuple[Any, Any, str] | Score:
    """Run reference and prediction; a `Score` when either cannot be compared (abstain, error or 0)."""
    try:
        ref, pred, reference = _executions(session, sample, engine, db_root, db_field, db_id_field, limits)
    except _Unavailable as exc:
        return exc.score
    if not pred.ok:
        return _prediction_failure(pred)
    return ref, pred, reference


def _execution_match(
    session: SqlSession,
    sample: Sample,
    engine: Engine,
    db_root: str | None,
    db_field: str,
    db_id_field: str,
    limits: QueryLimits,
    float_tol: float,
    column_order: ColumnOrder = "position",
) -> Score:
    ran = _run_both(session, sample, engine, db_root, db_field, db_id_field, limits)
    if isinstance(ran, Score):
        return ran
    ref, pred, reference = ran
    ordered = has_top_level_order_by(reference, _DIALECTS[engine])
    same, why = compare_results(
        pred.rows,
        ref.rows,
        ordered=ordered,
        float_tol=float_tol,
        predicted_columns=pred.columns,
        reference_columns=ref.columns,
        column_order=column_order,
    )
    return Score.ok(1.0) if same else Score.ok(0.0, reason=f"result differs: {why}")


def _result_overlap(
    session: SqlSession,
    sample: Sample,
    engine: Engine,
    db_root: str | None,
    db_field: str,
    db_id_field: str,
    limits: QueryLimits,
    float_tol: float,
) -> Score:
    ran = _run_both(session, sample, engine, db_root, db_field, db_id_field, limits)
    if isinstance(ran, Score):
        return ran
    ref, pred, _ = ran
    value, components = partial_match(
        pred.rows, ref.rows, predicted_columns=pred.columns, reference_columns=ref.columns, float_tol=float_tol
    )
    return Score.ok(value, components=components)


_SCORERS = {"match": _execution_match, "overlap": _result_overlap}


def _score_one(session: SqlSession, kind: str, sample: Sample, params: dict[str, Any]) -> Score:
    """Score one sample in this process (inside a worker, or inline without a pool)."""
    limits = QueryLimits(params["timeout"], params["max_rows"], params["max_memory_mb"])
    options = {"column_order": params["column_order"]} if kind == "match" else {}
    try:
        return _SCORERS[kind](
            session,
            sample,
            params["engine"],
            params["db_root"],
            params["db_field"],
            params["db_id_field"],
            limits,
            params["float_tol"],
            **options,
        )
    except MemoryError:
        return Score.error("memory limit exceeded (MemoryError)")
    except Exception as exc:  # a bug here is the verifier's failure, never the completion's 0
        return Score.error(f"{type(exc).__name__}: {exc}"[:500])


def _score_in_worker(name: str, key: str, reward_params: dict[str, Any], sample: Sample) -> Score:
    """In a worker: score one sample with the worker's own instance of the reward (set up once there)."""
    return worker_instance(name, __name__, reward_params, key).run_inline([sample])[0]


def _check(params: dict[str, Any]) -> None:
    # types and bounds are checked at load time (SQLExecution); a non-finite timeout is refused here, once
    QueryLimits(params["timeout"], params["max_rows"], params["max_memory_mb"])
    if params.get("column_order", "position") not in ("position", "ignore"):
        raise ValueError(f"column_order must be 'position' or 'ignore', got {params['column_order']!r}")


def _dispatch(
    name: str, key: str, kind: str, samples: list[Sample], pool: Any, params: dict[str, Any], session: SqlSession
) -> list[Score]:
    if pool is None:
        return [_score_one(session, kind, s, params) for s in samples]
    deadline = 2 * params["timeout"] + WORKER_SLACK_S
    calls = [(name, key, params, s) for s in samples]
    results = pool.map(_score_in_worker, calls, timeout=deadline, warm=(__name__,))
    out = []
    for result in results:
        if result.status is Status.OK:
            out.append(result.value)
        elif result.status is Status.TIMEOUT:
            out.append(Score.timeout(f"worker killed after {deadline:g}s (hard deadline): {result.reason}"))
        else:
            out.append(Score.error(result.reason))
    return out


def _session_scorer(name: str, kind: str, params: dict[str, Any]) -> Iterator[Callable[..., list[Score]]]:
    """The body of the SQL rewards' factories: one `SqlSession`, closed with the reward."""
    _check(params)  # bad limits fail loudly, at setup
    key = worker_key(name, params)
    session = SqlSession()
    try:
        yield lambda samples, pool=None: _dispatch(name, key, kind, samples, pool, params, session)
    finally:
        session.close()


@dataclass(frozen=True)
class SQLExecution(ParamGroup):
    """How ``sql`` and ``sql_partial_match`` find the database and run both queries (see `sql`)."""

    engine: Engine = "sqlite"
    db_root: Optional[str] = None  # noqa: UP045 - read at run time on Python 3.10
    db_field: str = "db"
    db_id_field: str = "db_id"
    timeout: Annotated[float, Gt(0)] = DEFAULT_TIMEOUT_S
    max_rows: Annotated[int, Ge(0)] = DEFAULT_MAX_ROWS
    max_memory_mb: Annotated[int, Ge(1)] = DEFAULT_MAX_MEMORY_MB
    float_tol: Annotated[float, Ge(0)] = DEFAULT_FLOAT_TOL


@reward(name="sql", range=(0.0, 1.0), batched=True, uses_pool=True, factory=True)
@with_params(execution=SQLExecution)
def sql(
    *,
    execution: SQLExecution,
    column_order: ColumnOrder = "position",
) -> Iterator[Callable[..., list[Score]]]:
    """Execution accuracy: 1 when the predicted query returns the reference query's result.

    The predicted query is the last ```sql fenced block of the completion, else
    the whole completion; exactly one read-only query runs. The reference is
    the sample's ``reference`` (SQL text). Results are compared as multisets of
    rows, or as sequences when the reference has a top-level ``ORDER BY``;
    column names are ignored, column count matters, and column order matters
    unless ``column_order="ignore"`` (then columns match as value vectors, as
    Spider's evaluators do); numbers compare by value with ``float_tol``, NULL
    matches NULL (see `compare_results`).

    Each sample is scored in a worker process of the runtime's pool; inside it
    every query has the ``timeout`` deadline (exceeded: 0), and the worker is
    killed after ``2 * timeout + WORKER_SLACK_S`` (status ``timeout``) if a
    single engine instruction overruns. Called without a pool
    (``run_inline``), it scores in the calling thread with the same guards
    except the kill.

    Args:
        engine: ``sqlite`` (default) or ``duckdb``.
        db_root: Directory for ``db_id`` lookups and relative ``db`` paths.
        db_field: Sample field holding a database path.
        db_id_field: Sample field holding a database id (needs ``db_root``).
        timeout: Deadline of each query in seconds.
        max_rows: Row cap of each query.
        max_memory_mb: Memory cap of each query in MiB.
        float_tol: Tolerance between numbers when a float is involved.
        column_order: ``position`` (default: ``SELECT a, b`` differs from
            ``SELECT b, a``) or ``ignore`` (the same columns in any order).

    Returns:
        1.0 or 0.0 with the reason (a failing, refused, too slow or too large
        prediction is 0); ``abstain`` when the reference or the database field
        is missing or the reference itself does not run; ``error`` when the
        database file is missing or unreadable.
    """
    yield from _session_scorer("sql", "match", {**execution.kwargs(), "column_order": column_order})


@reward(name="sql_partial_match", range=(0.0, 1.0), batched=True, uses_pool=True, factory=True)
@with_params(execution=SQLExecution)
def sql_partial_match(*, execution: SQLExecution) -> Iterator[Callable[..., list[Score]]]:
    """Partial credit for result overlap: ``(row_f1 + column_f1) / 2`` (PaVeRL-SQL style).

    Runs both queries like ``sql`` (same database rules, limits, worker
    processes and statuses). ``row_f1`` is the F1 of the multiset of predicted
    rows against the reference rows; ``column_f1`` the F1 of columns matched
    one to one by equal value multisets. Row order is ignored. Equals 1
    exactly when the results are equal as multisets; components ``row_f1`` and
    ``column_f1``.
    """
    yield from _session_scorer("sql_partial_match", "overlap", execution.kwargs())


@reward(name="sql_syntax", range=(0.0, 1.0))
def sql_syntax(sample: Sample, *, dialect: str = "sqlite") -> Score:
    """1 when the predicted query parses (sqlglot, ``dialect``) as exactly one query, else 0.

    No database is touched. The query is extracted as for ``sql``. A statement
    that is not a query (``DROP``, ``INSERT``, ``PRAGMA``...) scores 0. sqlglot
    is more lenient than the engines in places, so 1 means "parses", not
    "runs"; ``sql`` decides the latter.
    """
    query = extract_query(sample.completion_text)
    parsed = parse_query(query, dialect)
    return Score.ok(1.0) if parsed.expression is not None else Score.ok(0.0, reason=parsed.error)


def _schema_of(
    session: SqlSession, sample: Sample, engine: Engine, db_root: str | None, db_field: str, db_id_field: str
) -> Any:
    try:
        path = resolve_database(sample, engine=engine, db_root=db_root, db_field=db_field, db_id_field=db_id_field)
        return session.schema(engine, path)
    except (_Unavailable, DatabaseUnavailable):
        return None  # schema linking still works on names alone


@reward(name="sql_schema_link", range=(0.0, 1.0), factory=True)
def sql_schema_link(
    *,
    dialect: str = "sqlite",
    use_database: bool = True,
    engine: Engine = "sqlite",
    db_root: str | None = None,
    db_field: str = "db",
    db_id_field: str = "db_id",
) -> Iterator[Callable[[Sample], Score]]:
    """Schema linking: Jaccard overlap of the tables and columns the two queries use.

    ``value = |P & R| / |P | R|`` where P and R are the sets of items
    ``table:<name>`` and ``column:<table>.<name>`` read by the prediction and
    the reference (via sqlglot's AST, aliases resolved per scope, names
    lower-cased). With ``use_database`` and a database on the sample, its
    schema attributes unqualified columns in multi-table queries and drops
    output aliases; without it such columns count as ``?.<name>``. Components
    ``tables`` and ``columns`` are the Jaccard of each kind alone. A
    prediction that does not parse scores 0; a reference that does not parse
    is ``abstain``. The schemas it reads are kept (one read per database) until it is closed.
    """
    session = SqlSession()
    try:
        yield lambda sample: _schema_link(
            session, sample, dialect, use_database, engine, db_root, db_field, db_id_field
        )
    finally:
        session.close()


def _schema_link(
    session: SqlSession,
    sample: Sample,
    dialect: str,
    use_database: bool,
    engine: Engine,
    db_root: str | None,
    db_field: str,
    db_id_field: str,
) -> Score:
    try:
        reference = _reference_query(sample)
    except _Unavailable as exc:
        return exc.score
    ref = parse_query(reference, dialect)
    if ref.expression is None:
        return Score.abstain(f"reference does not parse: {ref.error}")
    pred = parse_query(extract_query(sample.completion_text), dialect)
    if pred.expression is None:
        return Score.ok(0.0, reason=f"prediction does not parse: {pred.error}")
    schema = _schema_of(session, sample, engine, db_root, db_field, db_id_field) if use_database else None
    p, r = schema_items(pred.expression, schema), schema_items(ref.expression, schema)
    p_all = {f"table:{t}" for t in p.tables} | {f"column:{c}" for c in p.columns}
    r_all = {f"table:{t}" for t in r.tables} | {f"column:{c}" for c in r.columns}
    return Score.ok(
        jaccard(p_all, r_all),
        components={"tables": jaccard(p.tables, r.tables), "columns": jaccard(p.columns, r.columns)},
    )


@reward(name="sql_ngram", range=(0.0, 1.0))
def sql_ngram(sample: Sample, *, n: int = 2, dialect: str = "sqlite") -> Score:
    """N-gram similarity of the normalised queries: Jaccard of their sets of token n-grams.

    Tokens come from sqlglot's tokenizer for ``dialect``: keywords and
    identifiers lower-cased, identifier quotes dropped, numbers canonical
    (``180.0`` is ``180``), string literals as written, ``;`` dropped; a query
    shorter than ``n`` tokens is one n-gram. ``value = |G(P) & G(R)| /
    |G(P) | G(R)|``. Needs no database and no parse, so it rewards
    near-misses that do not run.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    try:
        reference = _reference_query(sample)
    except _Unavailable as exc:
        return exc.score
    predicted = extract_query(sample.completion_text)
    if not predicted:
        return Score.ok(0.0, reason="empty query")
    p = ngrams(query_tokens(predicted, dialect), n)
    r = ngrams(query_tokens(reference, dialect), n)
    return Score.ok(jaccard(p, r))


__all__ = [
    "extract_query",
    "SqlSession",
    "resolve_database",
    "sql",
    "sql_ngram",
    "sql_partial_match",
    "sql_schema_link",
    "sql_syntax",
]
