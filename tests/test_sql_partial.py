"""Partial SQL rewards (syntax, schema linking, n-grams, result overlap) and properties of
the comparison, on a real SQLite database."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rewardlab
from rewardlab import Sample, Status
from rewardlab.rewards.sql._sql_compare import compare_results, partial_match
from rewardlab.rewards.sql._sql_static import extract_query, has_top_level_order_by, query_tokens


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlpartial") / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT, city TEXT, score REAL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount INTEGER, status TEXT);
        INSERT INTO customer VALUES (1, 'Ann', 'Oslo', 1.5), (2, 'Bob', 'Rome', NULL), (3, 'Cyd', 'Oslo', 2.25),
                                    (4, 'Dan', 'Lima', 0.5);
        INSERT INTO orders VALUES (1, 1, 10, 'open'), (2, 1, 25, 'paid'), (3, 3, 7, 'paid'), (4, 4, 7, 'open'),
                                  (5, 2, 30, 'paid');
        """
    )
    conn.commit()
    conn.close()
    return path


def one(name: str, completion: str, reference: str | None, db: Path | None = None, **params: Any) -> Any:
    extras = {"db": str(db)} if db else {}
    return rewardlab.load(name, **params).run_inline(
        [Sample(completion=completion, reference=reference, extras=extras)]
    )[0]


# -- extraction and ORDER BY detection ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("SELECT 1", "SELECT 1"),
        ("```sql\nSELECT 1\n```", "SELECT 1"),
        ("```SQL\nSELECT 1\n```", "SELECT 1"),
        ("```sqlite\nSELECT a FROM t\n```", "SELECT a FROM t"),
        ("a\n```sql\nSELECT 1\n```\nb\n```sql\nSELECT 2\n```\nc", "SELECT 2"),
        ("```python\nprint(1)\n```", "```python\nprint(1)\n```"),
        ("  SELECT 1;  \n", "SELECT 1;"),
    ],
    ids=["raw", "fenced", "upper-tag", "sqlite-tag", "last-block", "other-language", "whitespace"],
)
def test_extract_query(text: str, query: str) -> None:
    assert extract_query(text) == query


@pytest.mark.parametrize(
    ("query", "ordered"),
    [
        ("SELECT a FROM t ORDER BY a", True),
        ("select a from t order   by a", True),
        ("SELECT a FROM t", False),
        ("SELECT a FROM (SELECT a FROM t ORDER BY a)", False),
        ("SELECT a, row_number() OVER (ORDER BY a) FROM t", False),
        ("SELECT group_concat(a ORDER BY a) FROM t", False),
        ("WITH x AS (SELECT a FROM t ORDER BY a LIMIT 3) SELECT a FROM x", False),
        ("WITH x AS (SELECT a FROM t) SELECT a FROM x ORDER BY a", True),
        ("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", True),
        ("SELECT 'ORDER BY' FROM t", False),
        ("SELECT a FROM t -- ORDER BY a", False),
        ("SELECT a FROM t ORDER/* split */BY a", True),
        ("SELECT a FROM orders", False),
    ],
)
def test_top_level_order_by(query: str, ordered: bool) -> None:
    assert has_top_level_order_by(query) is ordered


# -- sql_syntax ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "value"),
    [
        ("SELECT name FROM customer", 1.0),
        ("```sql\nWITH x AS (SELECT 1 AS a) SELECT a FROM x\n```", 1.0),
        ("SELECT a FROM t UNION SELECT b FROM u", 1.0),
        ("SELECT name FROM", 0.0),
        ("SELEC name FROM customer", 0.0),
        ("DROP TABLE customer", 0.0),
        ("SELECT 1; SELECT 2", 0.0),
        ("", 0.0),
        ("SELECT " + "(" * 5000 + "1" + ")" * 5000, 0.0),
    ],
    ids=["select", "cte", "union", "truncated", "typo", "drop", "two", "empty", "deep-nesting"],
)
def test_sql_syntax(completion: str, value: float) -> None:
    result = one("sql_syntax", completion, None)
    assert result.status is Status.OK and result.value == value
    if value == 0.0:
        assert result.reason


# -- sql_schema_link ------------------------------------------------------------------------------


def test_schema_link_resolves_aliases(db: Path) -> None:
    result = one(
        "sql_schema_link",
        "SELECT T1.name FROM customer AS T1 JOIN orders AS T2 ON T1.id = T2.customer_id WHERE T2.status = 'paid'",
        "SELECT customer.name FROM customer JOIN orders ON customer.id = orders.customer_id WHERE status = 'paid'",
        db,
    )
    assert result.value == 1.0, result
    assert result.components == {"tables": 1.0, "columns": 1.0}


def test_schema_link_partial_overlap(db: Path) -> None:
    result = one("sql_schema_link", "SELECT name FROM customer", "SELECT name, city FROM customer", db)
    # items: table:customer, column:customer.name vs + column:customer.city -> 2/3
    assert result.value == pytest.approx(2 / 3)
    assert result.components["tables"] == 1.0
    assert result.components["columns"] == pytest.approx(1 / 2)


def test_schema_link_uses_the_database_for_unqualified_columns(db: Path) -> None:
    pred = "SELECT name FROM customer JOIN orders ON customer.id = customer_id WHERE amount > 5"
    ref = "SELECT c.name FROM customer c JOIN orders o ON c.id = o.customer_id WHERE o.amount > 5"
    with_db = one("sql_schema_link", pred, ref, db)
    without = one("sql_schema_link", pred, ref, db, use_database=False)
    assert with_db.value == 1.0
    assert without.value < 1.0  # unqualified columns in a join cannot be attributed by name alone


def test_schema_link_statuses() -> None:
    assert one("sql_schema_link", "SELECT a FROM t", "SELEC a FROM t").status is Status.ABSTAIN
    assert one("sql_schema_link", "SELEC a FROM t", "SELECT a FROM t").value == 0.0
    assert one("sql_schema_link", "SELECT a FROM t", None).status is Status.ABSTAIN
    assert one("sql_schema_link", "SELECT b FROM u", "SELECT a FROM t").value == 0.0


# -- sql_ngram -------------------------------------------------------------------------------------


def test_ngram_normalisation() -> None:
    same = one(
        "sql_ngram",
        'select   name\nFROM "customer" where score = 180.0;',
        "SELECT name FROM customer WHERE score = 180",
    )
    assert same.value == 1.0
    different_literal = one(
        "sql_ngram", "SELECT name FROM customer WHERE city = 'oslo'", "SELECT name FROM customer WHERE city = 'Oslo'"
    )
    assert 0.0 < different_literal.value < 1.0


def test_ngram_known_value() -> None:
    # bigrams of "select a from t": (select a) (a from) (from t); of "select b from t": (select b) (b from) (from t)
    result = one("sql_ngram", "SELECT a FROM t", "SELECT b FROM t")
    assert result.value == pytest.approx(1 / 5)
    assert one("sql_ngram", "", "SELECT 1").value == 0.0
    assert one("sql_ngram", "SELECT a FROM t", "SELECT b FROM t", n=1).value == pytest.approx(3 / 5)


# -- sql_partial_match -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "reference", "row_f1", "column_f1"),
    [
        ("SELECT name FROM customer ORDER BY name DESC", "SELECT name FROM customer", 1.0, 1.0),
        ("SELECT name FROM customer WHERE city = 'Oslo'", "SELECT name FROM customer", 2 * 0.5 / 1.5, 0.0),
        ("SELECT name, city FROM customer", "SELECT name FROM customer", 0.0, 2 * 0.5 / 1.5),
        ("SELECT city, name FROM customer", "SELECT name, city FROM customer", 0.0, 1.0),
        ("SELECT id FROM orders", "SELECT name FROM customer", 0.0, 0.0),
    ],
    ids=["equal", "subset-of-rows", "extra-column", "swapped-columns", "unrelated"],
)
def test_partial_match(db: Path, prediction: str, reference: str, row_f1: float, column_f1: float) -> None:
    result = one("sql_partial_match", prediction, reference, db)
    assert result.status is Status.OK
    assert result.components["row_f1"] == pytest.approx(row_f1)
    assert result.components["column_f1"] == pytest.approx(column_f1)
    assert result.value == pytest.approx((row_f1 + column_f1) / 2)


def test_partial_match_statuses(db: Path) -> None:
    assert one("sql_partial_match", "SELECT 1", "SELECT nope FROM customer", db).status is Status.ABSTAIN
    failed = one("sql_partial_match", "SELECT nope FROM customer", "SELECT 1", db)
    assert failed.value == 0.0 and "prediction failed" in failed.reason
    assert one("sql_partial_match", "DELETE FROM customer", "SELECT 1", db).value == 0.0


# -- properties --------------------------------------------------------------------------------------

cells = st.one_of(
    st.none(),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.text(alphabet="abcXYZ 0", max_size=4),
)


@st.composite
def results(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    width = draw(st.integers(1, 3))
    return draw(st.lists(st.tuples(*[cells] * width), max_size=8))


@given(results(), st.randoms(use_true_random=False))
def test_compare_is_reflexive_and_order_free(rows: list[tuple[Any, ...]], rnd: Any) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert compare_results(rows, rows, ordered=True)[0]
    assert compare_results(shuffled, rows, ordered=False)[0]
    if len(set(rows)) == len(rows) and shuffled != rows:  # distinct rows, compared without tolerance
        assert not compare_results(shuffled, rows, ordered=True, float_tol=0.0)[0]


@given(results())
def test_integers_equal_their_float_form(rows: list[tuple[Any, ...]]) -> None:
    as_float = [tuple(float(v) if isinstance(v, int) else v for v in row) for row in rows]
    assert compare_results(as_float, rows, ordered=True)[0]


@given(results(), results())
def test_partial_match_is_bounded_and_one_exactly_on_match(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> None:
    wa = len(a[0]) if a else 1
    wb = len(b[0]) if b else 1
    value, components = partial_match(a, b, predicted_columns=wa, reference_columns=wb)
    assert 0.0 <= value <= 1.0
    assert set(components) == {"row_f1", "column_f1"}
    self_value, _ = partial_match(b, b, predicted_columns=wb, reference_columns=wb)
    assert self_value == 1.0
    # exact multiset equality implies full credit (ints and floats kept exact here)
    exact = compare_results(a, b, ordered=False, float_tol=0.0, predicted_columns=wa, reference_columns=wb)[0]
    if exact:
        assert value == 1.0


identifiers = st.sampled_from(["name", "city", "score", "id"])
queries = st.builds(
    lambda cols, city, order, distinct: (
        f"SELECT {'DISTINCT ' if distinct else ''}{', '.join(cols)} FROM customer"
        + (f" WHERE city = '{city}'" if city else "")
        + (f" ORDER BY {cols[0]}" if order else "")
    ),
    st.lists(identifiers, min_size=1, max_size=3, unique=True),
    st.sampled_from([None, "Oslo", "Rome", "Nowhere"]),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=queries, shout=st.booleans())
def test_a_reference_scores_maximal_against_itself(db: Path, query: str, shout: bool) -> None:
    completion = query.upper().replace("'OSLO'", "'Oslo'").replace("'ROME'", "'Rome'").replace("'NOWHERE'", "'Nowhere'")
    completion = f"```sql\n{completion if shout else query}\n```"
    sample = Sample(completion=completion, reference=query, extras={"db": str(db)})
    for name in ("sql", "sql_partial_match", "sql_syntax", "sql_schema_link", "sql_ngram"):
        result = rewardlab.load(name).run_inline([sample])[0]
        assert result.status is Status.OK, (name, result)
        assert result.value == 1.0, (name, result)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=queries, b=queries)
def test_text_rewards_are_bounded_and_symmetric(db: Path, a: str, b: str) -> None:
    forward = one("sql_ngram", a, b)
    backward = one("sql_ngram", b, a)
    assert 0.0 <= forward.value <= 1.0 and forward.value == backward.value
    link = one("sql_schema_link", a, b, db)
    assert 0.0 <= link.value <= 1.0 and link.value == one("sql_schema_link", b, a, db).value
    assert query_tokens(a) == query_tokens("  ".join(a.split()))
