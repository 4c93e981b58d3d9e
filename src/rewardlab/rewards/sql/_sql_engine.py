"""Bounded, read-only execution of one query on a SQLite or DuckDB database.

Everything the SQL rewards run goes through `run_query`. The guards, in the
order a query meets them:

1. length cap on the query text (`MAX_QUERY_CHARS`);
2. statement check: exactly one statement, and it is a query (``SELECT``,
   ``WITH``, ``VALUES``, or a parenthesised query);
3. the database is opened read-only (SQLite ``mode=ro`` URI plus
   ``PRAGMA query_only``; DuckDB ``read_only=True`` with external access,
   extension loading and configuration changes disabled);
4. SQLite: an authorizer that allows only reading (``SELECT``, ``READ``,
   ``RECURSIVE``, and functions other than ``load_extension``) and refuses
   everything else, ``ATTACH``/``PRAGMA``/writes/``RETURNING`` included, plus
   ``SQLITE_LIMIT_ATTACHED = 0``;
5. a deadline: SQLite's progress handler, called every
   `PROGRESS_INTERVAL_OPS` virtual-machine instructions from inside the
   engine, aborts the statement once the deadline has passed; DuckDB is
   interrupted from a timer thread;
6. a row cap and a result-size cap while fetching, and a memory cap (growth of
   the process's resident set, checked from the progress handler, for SQLite;
   DuckDB's own ``memory_limit``).

Single instructions that could run long on their own (``printf('%.*c', ...)``,
``randomblob``, ``LIKE`` on huge strings) are bounded by SQLite's
``SQLITE_LIMIT_LENGTH`` and ``SQLITE_LIMIT_LIKE_PATTERN_LENGTH``.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sqlite3
import stat
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Engine = Literal["sqlite", "duckdb"]
Outcome = Literal["ok", "refused", "timeout", "too_many_rows", "memory", "failed"]

MAX_QUERY_CHARS = 20_000
"""Longest query text executed. Spider/BIRD gold queries stay under 2,000
characters; longer model output is almost surely degenerate, and the cap keeps
parsing and preparation time bounded."""

DEFAULT_TIMEOUT_S = 5.0
"""Deadline of one query. BIRD's slowest gold queries take about a second on
its larger databases; five leaves room for a loaded machine."""

DEFAULT_MAX_ROWS = 100_000
"""Most rows fetched from one query. Larger results are not compared (a
prediction is scored 0, a reference abstains): a reward that reads a million
rows per sample would dominate a training step."""

DEFAULT_MAX_MEMORY_MB = 512
"""Memory one query may add to the process (SQLite: resident-set growth;
DuckDB: its ``memory_limit``). Sorting or grouping a cross join grows without
bound otherwise."""

MAX_RESULT_BYTES = 64 * 1024 * 1024
"""Rough size cap of a fetched result (strings and blobs by length, other
values 16 bytes), so a few wide rows of long text cannot exhaust memory."""

MAX_VALUE_BYTES = 1_000_000
"""SQLITE_LIMIT_LENGTH: the largest string or blob a query may build. One
instruction such as ``printf('%.*c', n, 'x')`` or ``randomblob(n)`` does its
whole work between two progress-handler calls; this caps that work."""

MAX_LIKE_PATTERN = 1_000
"""SQLITE_LIMIT_LIKE_PATTERN_LENGTH: ``LIKE``/``GLOB`` cost grows with pattern
length times string length inside one instruction."""

PROGRESS_INTERVAL_OPS = 2_000
"""SQLite calls the progress handler every this many VM instructions, i.e.
every few microseconds of query work: fine-grained enough for deadlines of
milliseconds, rare enough to cost little (see BENCHMARKS.md)."""

MEMORY_CHECK_INTERVAL_S = 0.01
"""How often the progress handler reads the resident-set size (a /proc read)."""

CONNECTIONS_PER_THREAD = 8
"""Open connections kept per thread (one per database file), so the G samples
of a group and the reference share a connection instead of reopening it."""

_FETCH_CHUNK = 512
_QUERY_STARTS = frozenset({"select", "with", "values", "("})
_FIRST_WORD = re.compile(r"\(|[A-Za-z_]+")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_STATM = Path("/proc/self/statm")


class DatabaseUnavailable(RuntimeError):
    """The database cannot be opened or read: a data problem, never the query's fault."""


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Bounds applied to every query.

    Attributes:
        timeout_s: Wall-clock deadline of one query (execution and fetching).
        max_rows: Most rows fetched; more is the outcome ``too_many_rows``.
        max_memory_mb: Memory a query may add (see `DEFAULT_MAX_MEMORY_MB`).
    """

    timeout_s: float = DEFAULT_TIMEOUT_S
    max_rows: int = DEFAULT_MAX_ROWS
    max_memory_mb: int = DEFAULT_MAX_MEMORY_MB

    def __post_init__(self) -> None:
        if not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout_s!r}")
        if self.max_rows < 0:
            raise ValueError(f"max_rows must be >= 0, got {self.max_rows!r}")
        if self.max_memory_mb < 1:
            raise ValueError(f"max_memory_mb must be >= 1, got {self.max_memory_mb!r}")


@dataclass(frozen=True, slots=True)
class Execution:
    """What running one query gave.

    ``outcome`` is ``ok`` (``rows`` holds the result) or why there is none:
    ``refused`` (not a single read-only query), ``timeout``, ``too_many_rows``,
    ``memory`` (memory or result-size cap) or ``failed`` (the engine raised:
    syntax error, unknown column, ...). ``message`` explains.
    """

    outcome: Outcome
    rows: tuple[tuple[Any, ...], ...] = ()
    columns: int = 0
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


# -- statement check -----------------------------------------------------------------


def _strip_comments_and_space(query: str) -> str:
    """The query without leading whitespace and comments (enough to see its first keyword)."""
    text = query
    while True:
        text = text.lstrip()
        if text.startswith("--"):
            newline = text.find("\n")
            text = "" if newline < 0 else text[newline + 1 :]
        elif text.startswith("/*"):
            end = text.find("*/")
            text = "" if end < 0 else text[end + 2 :]
        else:
            return text


def _first_word(query: str) -> str:
    match = _FIRST_WORD.match(_strip_comments_and_space(query))
    return match.group(0).lower() if match else ""


def precheck(query: str, engine: Engine = "sqlite") -> Execution | None:
    """A refusal for text that must not reach an engine, or ``None`` when it may run."""
    if not query.strip():
        return Execution("refused", message="empty query")
    if len(query) > MAX_QUERY_CHARS:
        return Execution("refused", message=f"query longer than {MAX_QUERY_CHARS} characters")
    if "\x00" in query:
        return Execution("refused", message="query contains a NUL character")
    word = _first_word(query)
    if word not in _QUERY_STARTS and not (engine == "duckdb" and word == "from"):
        return Execution("refused", message=f"not a query (starts with {word[:20]!r}); only SELECT/WITH/VALUES run")
    return None


# -- SQLite ------------------------------------------------------------------------------

# (constant name, its value in sqlite3.h for Pythons that lack the name, our limit)
_LIMITS = (
    ("SQLITE_LIMIT_ATTACHED", 7, 0),
    ("SQLITE_LIMIT_LENGTH", 0, MAX_VALUE_BYTES),
    ("SQLITE_LIMIT_LIKE_PATTERN_LENGTH", 8, MAX_LIKE_PATTERN),
    ("SQLITE_LIMIT_SQL_LENGTH", 1, MAX_QUERY_CHARS * 4),
)
_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})


def _authorizer(action: int, arg1: str | None, arg2: str | None, db_name: str | None, trigger: str | None) -> int:
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _rss_bytes() -> int | None:
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


class _Guard:
    """The state the progress handler reads: deadline and memory budget of the running query."""

    __slots__ = ("deadline", "memory_budget", "memory_limit", "next_memory_check", "tripped")

    def __init__(self) -> None:
        self.deadline = math.inf
        self.memory_budget = 0
        self.memory_limit: int | None = None
        self.next_memory_check = math.inf
        self.tripped: Outcome | None = None

    def arm(self, limits: QueryLimits) -> None:
        now = time.monotonic()
        self.deadline = now + limits.timeout_s
        self.tripped = None
        # The baseline is read at the first check, so queries shorter than one interval never read /proc.
        self.memory_budget = limits.max_memory_mb * 1024 * 1024
        self.memory_limit = None
        self.next_memory_check = now + MEMORY_CHECK_INTERVAL_S

    def disarm(self) -> None:
        self.deadline = math.inf
        self.next_memory_check = math.inf

    def __call__(self) -> int:
        now = time.monotonic()
        if now > self.deadline:
            self.tripped = "timeout"
            return 1
        if now > self.next_memory_check:
            self.next_memory_check = now + MEMORY_CHECK_INTERVAL_S
            rss = _rss_bytes()
            if rss is None:  # no /proc: the worker's address-space cap is the only memory bound
                self.next_memory_check = math.inf
            elif self.memory_limit is None:
                self.memory_limit = rss + self.memory_budget
            elif rss > self.memory_limit:
                self.tripped = "memory"
                return 1
        return 0


@dataclass(eq=False)
class _SqliteConnection:
    conn: sqlite3.Connection
    guard: _Guard

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def _open_sqlite(path: Path) -> _SqliteConnection:
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        # check_same_thread off: a connection is used by one thread only (see `Connections`), but its
        # owner closes it from whichever thread closes the reward
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"{path}: cannot open SQLite database read-only ({exc})") from exc
    try:
        # Trusted setup, before the authorizer exists. query_only is a second lock
        # behind mode=ro; temp_store=MEMORY keeps sorter and temp b-trees off disk
        # (nothing outside the database file is touched); the memory guard bounds them.
        conn.execute("PRAGMA query_only = 1")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA mmap_size = 0")
        conn.execute("PRAGMA trusted_schema = 0")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except sqlite3.Error as exc:
        conn.close()
        raise DatabaseUnavailable(f"{path}: not a readable SQLite database ({exc})") from exc
    setlimit = getattr(conn, "setlimit", None)
    if setlimit is not None:  # Python 3.11+; on 3.10 the worker's hard deadline is the only bound on one instruction
        for name, number, value in _LIMITS:
            setlimit(getattr(sqlite3, name, number), value)
    setconfig = getattr(conn, "setconfig", None)
    if setconfig is not None:  # Python 3.12+: the engine's own hardening switch
        with contextlib.suppress(Exception):
            setconfig(sqlite3.SQLITE_DBCONFIG_DEFENSIVE, True)  # type: ignore[attr-defined]
    conn.set_authorizer(_authorizer)
    guard = _Guard()
    conn.set_progress_handler(guard, PROGRESS_INTERVAL_OPS)
    return _SqliteConnection(conn, guard)


def _chunk_bytes(chunk: list[Any]) -> int:
    """Rough size of fetched rows: strings and blobs by length, every cell 16 bytes more."""
    cells = 0
    text = 0
    for row in chunk:
        cells += len(row)
        for value in row:
            if value.__class__ is str or value.__class__ is bytes:
                text += len(value)
    return 16 * cells + text


def _fetch(cursor: Any, limits: QueryLimits, deadline: float) -> Execution | tuple[tuple[Any, ...], ...]:
    rows: list[tuple[Any, ...]] = []
    size = 0
    while True:
        chunk = cursor.fetchmany(_FETCH_CHUNK)
        if not chunk:
            return tuple(rows)
        size += _chunk_bytes(chunk)
        rows.extend(chunk)
        if len(rows) > limits.max_rows:
            return Execution("too_many_rows", message=f"more than {limits.max_rows} rows")
        if size > MAX_RESULT_BYTES:
            return Execution("memory", message=f"result larger than {MAX_RESULT_BYTES // (1024 * 1024)} MiB")
        if time.monotonic() > deadline:
            return Execution("timeout", message=f"deadline of {limits.timeout_s:g}s exceeded")


def _run_sqlite(handle: _SqliteConnection, query: str, limits: QueryLimits) -> Execution:
    guard = handle.guard
    guard.arm(limits)
    cursor = None
    try:
        cursor = handle.conn.execute(query)
        fetched = _fetch(cursor, limits, guard.deadline)
        if isinstance(fetched, Execution):
            return fetched
        columns = len(cursor.description or ())
        return Execution("ok", fetched, columns)
    except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError) as exc:
        if guard.tripped == "timeout":
            return Execution("timeout", message=f"deadline of {limits.timeout_s:g}s exceeded")
        if guard.tripped == "memory":
            return Execution("memory", message=f"used more than {limits.max_memory_mb} MiB")
        message = str(exc)
        if "not authorized" in message or "authorization denied" in message:
            return Execution("refused", message=f"refused: {message}")
        if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.Warning)) and "one statement" in message:
            return Execution("refused", message="more than one statement")
        return Execution("failed", message=f"{type(exc).__name__}: {message}"[:300])
    except MemoryError:
        return Execution("memory", message="out of memory while running the query")
    finally:
        guard.disarm()
        if cursor is not None:
            with contextlib.suppress(Exception):
                cursor.close()


# -- DuckDB ------------------------------------------------------------------------------


@dataclass(eq=False)
class _DuckConnection:
    conn: Any

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def _open_duckdb(path: Path, limits: QueryLimits) -> _DuckConnection:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - the extra is not installed
        raise DatabaseUnavailable("engine 'duckdb' needs the duckdb package: pip install 'rewardlab[duckdb]'") from exc
    config: dict[str, str | bool | int | float | list[str]] = {
        "enable_external_access": False,  # no reading or writing files, no extension downloads
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "threads": 1,
        "memory_limit": f"{limits.max_memory_mb}MB",
        "temp_directory": "",  # never spill next to the database file
        "lock_configuration": True,  # a query cannot SET any of the above back
    }
    try:
        return _DuckConnection(duckdb.connect(str(path), read_only=True, config=config))
    except duckdb.Error as exc:
        raise DatabaseUnavailable(f"{path}: cannot open DuckDB database read-only ({exc})") from exc


def _run_duckdb(handle: _DuckConnection, query: str, limits: QueryLimits) -> Execution:
    import duckdb

    conn = handle.conn
    try:
        statements = conn.extract_statements(query)
    except duckdb.Error as exc:
        return Execution("failed", message=f"{type(exc).__name__}: {exc}"[:300])
    if len(statements) != 1:
        return Execution("refused", message=f"{len(statements)} statements; exactly one query runs")
    if statements[0].type != duckdb.StatementType.SELECT:
        return Execution("refused", message=f"refused: a {statements[0].type.name} statement is not a query")
    deadline = time.monotonic() + limits.timeout_s
    timed_out = threading.Event()

    def interrupt() -> None:
        timed_out.set()
        conn.interrupt()

    timer = threading.Timer(limits.timeout_s, interrupt)
    timer.daemon = True
    timer.start()
    try:
        cursor = conn.execute(query)
        fetched = _fetch(cursor, limits, deadline)
        if isinstance(fetched, Execution):
            return fetched
        return Execution("ok", fetched, len(cursor.description or ()))
    except duckdb.Error as exc:
        if timed_out.is_set():
            return Execution("timeout", message=f"deadline of {limits.timeout_s:g}s exceeded")
        if isinstance(exc, duckdb.OutOfMemoryException):
            return Execution("memory", message=f"used more than {limits.max_memory_mb} MiB")
        if isinstance(exc, duckdb.PermissionException):
            return Execution("refused", message=f"refused: {exc}"[:300])
        return Execution("failed", message=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        timer.cancel()


# -- connections and entry point ----------------------------------------------------------


class _ThreadConnections:
    """One thread's open connections of one `Connections` owner (least recently used first)."""

    __slots__ = ("__weakref__", "handles")

    def __init__(self) -> None:
        self.handles: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def close_all(self) -> None:
        while self.handles:
            self.handles.popitem()[1].close()

    def __del__(self) -> None:  # the thread ended: its connections go with it
        try:
            self.close_all()
        except Exception:  # interpreter shutdown: the process's exit closes them
            pass


class Connections:
    """The open database connections of one owner (a SQL reward), closed by `close`.

    Each thread that runs queries gets its own connections (one per database
    file, at most `CONNECTIONS_PER_THREAD`), so the samples of a group and their
    reference share one instead of reopening it, and two threads never share a
    connection (each connection's progress handler guards one query at a
    time). `close` closes every thread's connections; used again, it opens new ones.

    Example:
        >>> import sqlite3, tempfile
        >>> shop = tempfile.mkdtemp() + "/shop.db"
        >>> with sqlite3.connect(shop) as db:
        ...     _ = db.executescript("CREATE TABLE orders (id INTEGER); INSERT INTO orders VALUES (1);")
        >>> with Connections() as connections:
        ...     run_query("sqlite", shop, "SELECT id FROM orders", connections=connections).rows
        ((1,),)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._caches: weakref.WeakSet[_ThreadConnections] = weakref.WeakSet()

    def _mine(self) -> _ThreadConnections:
        cache: _ThreadConnections | None = getattr(self._local, "connections", None)
        if cache is None:
            cache = _ThreadConnections()
            self._local.connections = cache
            with self._lock:
                self._caches.add(cache)
        return cache

    def get(self, engine: Engine, path: Path, limits: QueryLimits) -> Any:
        """This thread's connection to the database at ``path`` (opened on first use)."""
        key = (*database_key(engine, path), limits.max_memory_mb if engine == "duckdb" else 0)
        handles = self._mine().handles
        handle = handles.get(key)
        if handle is not None:
            handles.move_to_end(key)
            return handle
        handle = _open(engine, path, limits)
        handles[key] = handle
        while len(handles) > CONNECTIONS_PER_THREAD:
            _, old = handles.popitem(last=False)
            old.close()
        return handle

    @property
    def open_count(self) -> int:
        """Connections open now, over every thread."""
        with self._lock:
            return sum(len(cache.handles) for cache in self._caches)

    def close(self) -> None:
        """Close every connection of every thread (none may be running a query)."""
        with self._lock:
            caches = list(self._caches)
        for cache in caches:
            cache.close_all()

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(engine: Engine, path: Path, limits: QueryLimits) -> Any:
    if engine == "sqlite":
        return _open_sqlite(path)
    if engine == "duckdb":
        return _open_duckdb(path, limits)
    raise ValueError(f"unknown engine {engine!r}; expected 'sqlite' or 'duckdb'")


def database_key(engine: Engine, path: Path) -> tuple[Any, ...]:
    """Identity of a database file's current contents (a replaced file gets a new key)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DatabaseUnavailable(f"{path}: database file not found ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise DatabaseUnavailable(f"{path}: not a file")
    return (engine, os.path.abspath(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def run_query(
    engine: Engine,
    path: str | os.PathLike[str],
    query: str,
    limits: QueryLimits | None = None,
    *,
    connections: Connections | None = None,
) -> Execution:
    """Run one read-only query on a database file, within the limits.

    Args:
        engine: ``"sqlite"`` or ``"duckdb"``.
        path: The database file.
        query: One SQL query (a trailing ``;`` and comments are fine).
        limits: Deadline, row cap and memory cap (defaults: `QueryLimits()`).
        connections: Where to keep the connection for the next query (a reward's
            `Connections`); without it the connection is opened for this query and closed.

    Returns:
        An `Execution`: the rows, or the outcome that stopped the query.

    Raises:
        DatabaseUnavailable: the file is missing or not a database of that engine.

    Example:
        >>> import sqlite3, tempfile
        >>> shop = tempfile.mkdtemp() + "/shop.db"
        >>> with sqlite3.connect(shop) as db:
        ...     _ = db.executescript("CREATE TABLE orders (id INTEGER); INSERT INTO orders VALUES (1), (2);")
        >>> run_query("sqlite", shop, "SELECT count(*) FROM orders").rows
        ((2,),)
    """
    limits = limits or QueryLimits()
    refused = precheck(query, engine)
    if refused is not None:
        return refused
    if engine not in ("sqlite", "duckdb"):
        raise ValueError(f"unknown engine {engine!r}; expected 'sqlite' or 'duckdb'")
    if connections is not None:
        handle = connections.get(engine, Path(path), limits)
    else:
        database_key(engine, Path(path))  # a missing file is DatabaseUnavailable, as with connections
        handle = _open(engine, Path(path), limits)
    started = time.monotonic()
    try:
        result = _run_sqlite(handle, query, limits) if engine == "sqlite" else _run_duckdb(handle, query, limits)
    finally:
        if connections is None:
            handle.close()
    return Execution(result.outcome, result.rows, result.columns, result.message, time.monotonic() - started)


def read_schema(
    engine: Engine, path: str | os.PathLike[str], *, connections: Connections | None = None
) -> dict[str, frozenset[str]]:
    """Table (and view) names of a database with their column names, all lower-cased.

    Runs trusted catalogue queries on a separate read-only connection (SQLite)
    or through the guarded one (DuckDB's ``information_schema`` is a query).
    """
    path = Path(path)
    database_key(engine, path)  # raises DatabaseUnavailable for a missing file
    schema: dict[str, set[str]] = {}
    if engine == "sqlite":
        try:
            conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"{path}: cannot open SQLite database read-only ({exc})") from exc
        try:
            conn.execute("PRAGMA query_only = 1")
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
            for name in names:
                columns = conn.execute("SELECT name FROM pragma_table_info(?)", (name,)).fetchall()
                schema[name.lower()] = {str(c[0]).lower() for c in columns}
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"{path}: cannot read the schema ({exc})") from exc
        finally:
            conn.close()
    else:
        result = run_query(
            engine, path, "SELECT table_name, column_name FROM information_schema.columns", connections=connections
        )
        if not result.ok:
            raise DatabaseUnavailable(f"{path}: cannot read the schema ({result.message})")
        for table, column in result.rows:
            schema.setdefault(str(table).lower(), set()).add(str(column).lower())
    return {table: frozenset(columns) for table, columns in schema.items()}
