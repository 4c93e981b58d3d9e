"""Comparing two query results: exact (execution accuracy) and partial (row/column overlap)."""

from __future__ import annotations

import datetime
import decimal
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, Literal

Row = tuple[Any, ...]

DEFAULT_FLOAT_TOL = 1e-6
"""Relative and absolute tolerance between two numbers when at least one is a
float: ``math.isclose(a, b, rel_tol=tol, abs_tol=tol)``. Covers ``AVG`` or
division computed in a different order (last-bit differences) and rounding of
stored reals, and nothing coarser; two integers always compare exactly."""

_NAN = ("nan",)


def _number(value: Any) -> Any:
    """Plain numbers for comparison: bool -> int, Decimal -> int or float, NaN -> a marker."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return _NAN if value.is_nan() else float(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and math.isnan(value):
        return _NAN
    return value


def _rank_key(value: Any) -> tuple[int, Any]:
    """A total order over mixed cell values (for sorting rows before pairing them)."""
    if value is None:
        return (0, 0)
    if value is _NAN:
        return (1, 0)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, bytes):
        return (4, value)
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        return (5, str(value))
    return (6, repr(value))


def _cells_equal(a: Any, b: Any, tol: float) -> bool:
    if a is b:
        return True
    a_num = isinstance(a, (int, float)) and not isinstance(a, bool)
    b_num = isinstance(b, (int, float)) and not isinstance(b, bool)
    if a_num and b_num:
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    if a_num or b_num:
        return False  # a number never equals text: '180' is not 180
    return bool(a == b)


def _rows_equal(a: Row, b: Row, tol: float) -> bool:
    return len(a) == len(b) and all(_cells_equal(x, y, tol) for x, y in zip(a, b, strict=True))


def _normalised(rows: Sequence[Row]) -> list[Row]:
    return [tuple(_number(v) for v in row) for row in rows]


ColumnOrder = Literal["position", "ignore"]

MAX_COLUMN_ARRANGEMENTS = 1_000
"""With ``column_order="ignore"``, the most column arrangements tried. Only
columns holding the same values can be swapped, and identical columns count
once, so real results need one or two; past this the result scores 0 with the
reason (a wide result whose columns all hold the same values in other rows)."""


def compare_results(
    predicted: Sequence[Row],
    reference: Sequence[Row],
    *,
    ordered: bool,
    float_tol: float = DEFAULT_FLOAT_TOL,
    predicted_columns: int | None = None,
    reference_columns: int | None = None,
    column_order: ColumnOrder = "position",
) -> tuple[bool, str]:
    """Whether two results are the same, and if not, the first reason found.

    Semantics:
        * Column names and aliases are ignored; the number of columns matters.
          With ``column_order="position"`` (default) their order matters too
          (values are compared position by position). With ``"ignore"`` the
          results are equal when some arrangement of the predicted columns
          makes them equal: columns match as value vectors (a column is all its
          values, row by row), never by name.
        * Unordered (``ordered=False``): the results are equal as multisets of
          rows, so duplicates count (a missing ``DISTINCT`` is a difference)
          and row order does not. Ordered: the row sequences are equal.
        * Two integers compare exactly; a number with a float compares with
          ``math.isclose(rel_tol=float_tol, abs_tol=float_tol)``, so ``180``
          equals ``180.0``. Booleans count as 0/1, decimals as numbers, NaN
          equals NaN. A number never equals a string (``'180'`` is not ``180``).
        * NULL equals NULL (a NULL cell matches a NULL cell); the engine's own
          NULL semantics decide which cells are NULL.
        * Strings and blobs compare exactly (case and trailing spaces matter).

    Example:
        >>> compare_results([(1, 2.0)], [(1, 2)], ordered=False)
        (True, '')
    """
    if column_order not in ("position", "ignore"):
        raise ValueError(f"column_order must be 'position' or 'ignore', got {column_order!r}")
    if predicted_columns is not None and reference_columns is not None and predicted_columns != reference_columns:
        return False, f"{predicted_columns} columns, expected {reference_columns}"
    same, why = _compare_positional(predicted, reference, ordered, float_tol)
    if same or column_order == "position" or len(predicted) != len(reference) or not predicted:
        return same, why
    width = len(predicted[0])
    if any(len(row) != width for row in predicted) or any(len(row) != width for row in reference):
        return same, why
    tried = 0
    for arrangement in _column_arrangements(_normalised(predicted), _normalised(reference), width, float_tol):
        tried += 1
        if tried > MAX_COLUMN_ARRANGEMENTS:
            return False, f"more than {MAX_COLUMN_ARRANGEMENTS} column arrangements to try"
        moved = [tuple(row[i] for i in arrangement) for row in predicted]
        if _compare_positional(moved, reference, ordered, float_tol)[0]:
            return True, ""
    return False, why + " (in every arrangement of the columns)"


def _column_arrangements(pred: list[Row], ref: list[Row], width: int, tol: float) -> Iterator[tuple[int, ...]]:
    """Orders of the predicted columns under which each one holds the values of its reference column.

    A predicted column can stand for a reference column only when their sorted
    values match (a necessary condition); of several identical predicted
    columns only the first is tried, since swapping them changes nothing.
    """

    pred_sorted = [sorted((row[i] for row in pred), key=_rank_key) for i in range(width)]
    ref_sorted = [sorted((row[j] for row in ref), key=_rank_key) for j in range(width)]

    def holds_same_values(i: int, j: int) -> bool:
        return all(_cells_equal(a, b, tol) for a, b in zip(pred_sorted[i], ref_sorted[j], strict=True))

    def vector(i: int) -> Any:
        column = tuple(row[i] for row in pred)
        try:
            hash(column)
        except TypeError:  # DuckDB lists and structs: compare such columns one by one
            return ("column", i)
        return column

    vectors = [vector(i) for i in range(width)]
    fits = [[i for i in range(width) if holds_same_values(i, j)] for j in range(width)]
    chosen: list[int] = []
    used: set[int] = set()

    def extend(j: int) -> Iterator[tuple[int, ...]]:
        if j == width:
            yield tuple(chosen)
            return
        seen: set[tuple[Any, ...]] = set()
        for i in fits[j]:
            if i in used or vectors[i] in seen:
                continue
            seen.add(vectors[i])
            used.add(i)
            chosen.append(i)
            yield from extend(j + 1)
            chosen.pop()
            used.discard(i)

    yield from extend(0)


def _compare_positional(
    predicted: Sequence[Row], reference: Sequence[Row], ordered: bool, float_tol: float
) -> tuple[bool, str]:
    if len(predicted) != len(reference):
        return False, f"{len(predicted)} rows, expected {len(reference)}"
    if not predicted:
        return True, ""
    # Fast path: Python equality already says 180 == 180.0 and hashes them alike.
    if ordered:
        if list(map(tuple, predicted)) == list(map(tuple, reference)):
            return True, ""
    elif Counter(map(tuple, predicted)) == Counter(map(tuple, reference)):
        return True, ""
    pred, ref = _normalised(predicted), _normalised(reference)
    if {len(r) for r in pred} != {len(r) for r in ref}:
        return False, "different number of columns"
    if ordered:
        for i, (a, b) in enumerate(zip(pred, ref, strict=True)):
            if not _rows_equal(a, b, float_tol):
                return False, f"row {i + 1} differs (reference has ORDER BY, so order matters)"
        return True, ""

    def key(row: Row) -> tuple[tuple[int, Any], ...]:
        return tuple(_rank_key(v) for v in row)

    # Pair rows after sorting both sides; rows within tolerance of each other sort next to each other.
    for a, b in zip(sorted(pred, key=key), sorted(ref, key=key), strict=True):
        if not _rows_equal(a, b, float_tol):
            return False, "rows differ"
    return True, ""


def _canonical_cell(value: Any, digits: int) -> Any:
    value = _number(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return round(value, digits)
    return value


def _f1(matched: int, predicted: int, reference: int) -> float:
    if predicted == 0 and reference == 0:
        return 1.0
    if matched == 0:
        return 0.0
    precision, recall = matched / predicted, matched / reference
    return 2 * precision * recall / (precision + recall)


def partial_match(
    predicted: Sequence[Row],
    reference: Sequence[Row],
    *,
    predicted_columns: int,
    reference_columns: int,
    float_tol: float = DEFAULT_FLOAT_TOL,
) -> tuple[float, dict[str, float]]:
    """Partial credit for overlapping results: ``(row_f1 + column_f1) / 2``.

    * ``row_f1``: F1 of the multiset of predicted rows against the reference
      rows (whole rows, in column order; rows of different widths never match).
    * ``column_f1``: F1 of columns matched one to one when they hold the same
      multiset of values (so a correct column in another position, or among
      extra columns, still earns credit).

    Floats are rounded to ``-log10(float_tol)`` decimals before comparison.
    Row order is ignored. Two empty results with the same width score 1. The
    value is 1 exactly when the results are equal as multisets of rows.
    """
    digits = max(0, round(-math.log10(float_tol))) if float_tol > 0 else 12
    pred = [tuple(_canonical_cell(v, digits) for v in row) for row in predicted]
    ref = [tuple(_canonical_cell(v, digits) for v in row) for row in reference]
    row_hits = sum((Counter(pred) & Counter(ref)).values())
    row_f1 = _f1(row_hits, len(pred), len(ref)) if (pred or ref) else float(predicted_columns == reference_columns)

    def column_bags(rows: list[Row], width: int) -> list[Counter[Any]]:
        return [Counter(row[i] for row in rows if len(row) > i) for i in range(width)]

    pred_cols = column_bags(pred, predicted_columns)
    ref_cols = column_bags(ref, reference_columns)
    used: set[int] = set()
    col_hits = 0
    for bag in ref_cols:
        for j, candidate in enumerate(pred_cols):
            if j not in used and candidate == bag:
                used.add(j)
                col_hits += 1
                break
    column_f1 = _f1(col_hits, len(pred_cols), len(ref_cols))
    value = (row_f1 + column_f1) / 2
    return value, {"row_f1": row_f1, "column_f1": column_f1}
