"""What the SQL rewards read from query text alone: extraction, parsing, tables/columns, tokens."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

_T = TypeVar("_T")

MAX_COMPLETION_CHARS = 200_000
"""Longest completion searched for a fenced block; longer text is cut first
(the regex is linear, this just bounds it)."""

MAX_PARSE_CHARS = 20_000
"""Longest query text given to sqlglot (pure Python: parse time grows with
length); the same cap as the engine's, so nothing longer is ever executed."""

_ORDER_WORD = re.compile(r"\border\b", re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*(?:sql|sqlite|duckdb)[ \t]*\r?\n(.*?)```", re.IGNORECASE | re.DOTALL)


def extract_query(text: str) -> str:
    """The query in a completion: the last ```sql fenced block, else the whole text.

    The fence's language tag may be ``sql``, ``sqlite`` or ``duckdb`` (any
    case); an unclosed fence does not count. Surrounding whitespace is removed.

    Example:
        >>> extract_query("First try:\\n```sql\\nSELECT 1\\n```\\nBetter:\\n```sql\\nSELECT 2;\\n```")
        'SELECT 2;'
    """
    text = text[:MAX_COMPLETION_CHARS]
    blocks = _FENCE.findall(text)
    return (blocks[-1] if blocks else text).strip()


def _dialect(name: str) -> Any:
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise(name)


@functools.lru_cache(maxsize=4096)
def has_top_level_order_by(query: str, dialect: str = "sqlite") -> bool:
    """True when the query's outermost level has an ``ORDER BY`` (then result order matters).

    Uses the dialect's tokenizer and parenthesis depth, so ``ORDER BY`` inside a
    subquery, a CTE body, a window (``OVER (ORDER BY ...)``) or an aggregate's
    argument list does not count, while the ``ORDER BY`` of a compound query
    (``... UNION ... ORDER BY x``) does. Text that does not tokenize counts as
    unordered.
    """
    from sqlglot.tokens import TokenType

    if len(query) > MAX_PARSE_CHARS or not _ORDER_WORD.search(query):
        return False  # no ORDER anywhere: skip the (pure-Python) tokenizer
    try:
        tokens = _dialect(dialect).tokenize(query)
    except Exception:
        return False
    depth = 0
    previous = ""
    for token in tokens:
        kind = token.token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth = max(0, depth - 1)
        elif depth == 0 and (kind == TokenType.ORDER_BY or (previous == "ORDER" and token.text.upper() == "BY")):
            return True  # the second form: ORDER and BY split by a comment
        previous = token.text.upper() if kind != TokenType.STRING else ""
    return False


@dataclass(frozen=True, slots=True)
class Parsed:
    """A query parsed by sqlglot, or why it did not parse."""

    expression: object | None
    error: str = ""


def parse_query(query: str, dialect: str = "sqlite") -> Parsed:
    """Parse text as exactly one SQL query (``SELECT``/``WITH``/``VALUES``/set operation)."""
    import sqlglot
    from sqlglot import exp

    if not query.strip():
        return Parsed(None, "empty query")
    if len(query) > MAX_PARSE_CHARS:
        return Parsed(None, f"query longer than {MAX_PARSE_CHARS} characters")
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except RecursionError:
        return Parsed(None, "query nested too deeply to parse")
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Parsed(None, f"does not parse as {dialect}: {first}"[:300])
    if len(statements) != 1:
        return Parsed(None, f"{len(statements)} statements; expected exactly one query")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        return Parsed(None, f"a {type(statement).__name__.upper()} statement is not a query")
    return Parsed(statement)


@dataclass(frozen=True, slots=True)
class SchemaItems:
    """Tables and columns a query refers to, lower-cased; columns as ``table.column``
    (``?.column`` when the table cannot be told)."""

    tables: frozenset[str]
    columns: frozenset[str]


def schema_items(expression: object, schema: Mapping[str, frozenset[str]] | None = None) -> SchemaItems:
    """The base tables and the columns a parsed query reads.

    Aliases are resolved to their tables scope by scope (``T1.name`` in
    ``FROM singer AS T1`` is ``singer.name``). An unqualified column belongs to
    the only table of its scope, or, given the database ``schema`` (table ->
    column names), to the only table in scope that has such a column. Names of
    CTEs and derived tables are not tables; columns read from them keep the
    CTE's name as their table.
    """
    from sqlglot import exp
    from sqlglot.optimizer.scope import traverse_scope

    assert isinstance(expression, exp.Expression)
    tables: set[str] = set()
    columns: set[str] = set()
    try:
        scopes = traverse_scope(expression)
    except Exception:
        scopes = []
    if not scopes:  # fall back to a flat walk (no alias scoping)
        aliases = {t.alias_or_name.lower(): t.name.lower() for t in expression.find_all(exp.Table)}
        tables = {t.name.lower() for t in expression.find_all(exp.Table)}
        for col in expression.find_all(exp.Column):
            if isinstance(col.this, exp.Star):
                continue
            owner = aliases.get(col.table.lower(), col.table.lower()) if col.table else ""
            columns.add(f"{owner or '?'}.{col.name.lower()}")
        return SchemaItems(frozenset(tables), frozenset(columns))
    for scope in scopes:
        sources: dict[str, str] = {}
        base: list[str] = []
        for alias, source in scope.sources.items():
            if isinstance(source, exp.Table):
                sources[alias.lower()] = source.name.lower()
                base.append(source.name.lower())
                tables.add(source.name.lower())
            else:
                sources[alias.lower()] = alias.lower()
        for col in scope.columns:
            if isinstance(col.this, exp.Star):
                continue
            name = col.name.lower()
            if col.table:
                owner = sources.get(col.table.lower(), col.table.lower())
            elif len(sources) == 1:
                owner = next(iter(sources.values()))
            elif schema:
                having = [t for t in base if name in schema.get(t, frozenset())]
                owner = having[0] if len(set(having)) == 1 else "?"
            else:
                owner = "?"
            if schema and owner in schema and name not in schema[owner]:
                continue  # an output alias used in ORDER BY/HAVING, not a column
            columns.add(f"{owner}.{name}")
    return SchemaItems(frozenset(tables), frozenset(columns))


def query_tokens(query: str, dialect: str = "sqlite") -> list[str]:
    """Normalised tokens of a query: keywords and identifiers lower-cased,
    quoting removed from identifiers, string literals kept as written, numbers
    in a canonical form (``180.0`` -> ``180``), a trailing ``;`` dropped.
    Text the tokenizer rejects falls back to lower-cased whitespace words."""
    from sqlglot.tokens import TokenType

    query = query[:MAX_PARSE_CHARS]
    try:
        tokens = _dialect(dialect).tokenize(query)
    except Exception:
        return query.lower().split()
    out: list[str] = []
    for token in tokens:
        kind = token.token_type
        if kind == TokenType.SEMICOLON:
            continue
        if kind == TokenType.STRING:
            out.append(repr(token.text))
        elif kind == TokenType.NUMBER:
            out.append(_canonical_number(token.text))
        else:
            out.append(token.text.lower())
    return out


def _canonical_number(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return text.lower()
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    """Set of the n-grams of a token list (the whole list as one gram when shorter than n)."""
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def jaccard(a: set[_T] | frozenset[_T], b: set[_T] | frozenset[_T]) -> float:
    """``|a & b| / |a | b|``; two empty sets are identical (1.0)."""
    union = len(a | b)
    return 1.0 if union == 0 else len(a & b) / union
