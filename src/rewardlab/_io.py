"""Streaming readers and crash-safe writers for JSONL and Parquet row files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
PARQUET_SUFFIXES = (".parquet", ".pq")


class DataError(ValueError):
    """A row of an input file is unusable; names the file, line and field."""

    def __init__(self, path: str | Path, line: int, message: str, *, field: str | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        where = f"{self.path}:{line}" + (f": field {field!r}" if field else "")
        super().__init__(f"{where}: {message}")
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from its own arguments when it comes back from a worker process
        return (_data_error, (self.path, self.line, self.message, self.field))


def _data_error(path: str, line: int, message: str, field: str | None) -> DataError:
    return DataError(path, line, message, field=field)


def file_format(path: str | Path) -> str:
    """``jsonl`` or ``parquet``, from the file name."""
    name = str(path).lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise ValueError(f"{path}: unknown file type; use .jsonl or .parquet")


@dataclass(slots=True)
class RawRow:
    """One input row before parsing: JSON bytes (JSONL) or a dict (Parquet)."""

    line: int
    data: bytes | dict[str, Any]
    size: int = 0
    offset: int = -1
    """Where the line starts in a JSONL file (-1 when unknown)."""


@dataclass(slots=True)
class RawBlock:
    """Consecutive JSONL lines kept as one piece of bytes, ``first_line`` being the first one's number.

    A batch sent to a worker process is one bytes object to copy, not one Python object
    per row. Iterating yields its rows (blank lines skipped, numbered as in the file).
    """

    first_line: int
    data: bytes
    offset: int = -1
    """Where the block starts in the file (-1 when unknown)."""

    @property
    def size(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[RawRow]:
        at = self.offset
        for number, line in enumerate(self.data.split(b"\n"), self.first_line):
            stripped = line.strip()
            if stripped:
                yield RawRow(number, stripped, len(line) + 1, at)
            if at >= 0:
                at += len(line) + 1


def parse_row(path: str | Path, raw: RawRow) -> dict[str, Any]:
    """Parse a raw row into a dict, or raise `DataError` naming file and line."""
    if isinstance(raw.data, dict):
        return raw.data
    try:
        row = orjson.loads(raw.data)
    except orjson.JSONDecodeError as exc:
        raise DataError(path, raw.line, f"invalid JSON ({exc})") from None
    if not isinstance(row, dict):
        raise DataError(path, raw.line, f"expected a JSON object, got {type(row).__name__}")
    return row


def iter_raw_rows(path: str | Path, *, batch_size: int = 4096) -> Iterator[RawRow]:
    """Yield the rows of a JSONL or Parquet file lazily (memory stays flat).

    Blank JSONL lines are skipped; line numbers count them all.
    """
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        index = 0
        for batch in parquet.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                index += 1
                yield RawRow(index, row)
        return
    offset = 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            stripped = line.strip()
            if stripped:
                yield RawRow(number, stripped, len(line), offset)
            offset += len(line)


READ_BYTES = 1 << 22
"""Bytes read from a JSONL file at a time by `iter_raw_blocks`."""


def iter_raw_blocks(path: str | Path, lines: int) -> Iterator[RawBlock]:
    """Yield a JSONL file as blocks of ``lines`` lines each (the last may be shorter).

    Lines are counted as in the file, blank ones included, so a block holds at
    most ``lines`` rows. Memory stays flat: the file is read ``READ_BYTES`` at a time.
    """
    if lines < 1:
        raise ValueError("a block needs at least one line")
    number = 1
    base = 0  # where ``parts`` start in the file
    parts: list[bytes] = []
    newlines = 0  # in parts: they are joined only once they hold a whole block (or at the end)
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(READ_BYTES)
            if chunk:
                parts.append(chunk)
                newlines += chunk.count(b"\n")
                if newlines < lines:
                    continue
            data = b"".join(parts)
            if not chunk:
                if data:
                    yield RawBlock(number, data, base)
                return
            start = 0
            while newlines >= lines:
                end = start
                for _ in range(lines):
                    end = data.find(b"\n", end) + 1
                yield RawBlock(number, data[start:end], base + start)
                number += lines
                newlines -= lines
                start = end
            base += start
            parts = [data[start:]] if start < len(data) else []


def count_rows_hint(path: str | Path) -> tuple[int, str]:
    """A total for a progress bar: rows for Parquet, bytes for JSONL."""
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows, "rows"
    return os.path.getsize(path), "bytes"


def dumps_row(row: Mapping[str, Any]) -> bytes:
    """One row as compact JSON; numpy values, non-string keys and other objects (as ``str``) included."""
    try:
        # the plain call is twice as fast; on rows it can encode, the options change nothing
        return orjson.dumps(row)
    except orjson.JSONEncodeError:
        return orjson.dumps(row, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _truncate_partial_line(path: Path) -> int:
    """Drop a half-written last line (from a crash) and return the number of complete lines."""
    if not path.exists():
        return 0
    complete = 0
    last_newline_end = 0
    with open(path, "rb") as handle:
        offset = 0
        for line in handle:
            offset += len(line)
            if line.endswith(b"\n"):
                complete += 1
                last_newline_end = offset
    if last_newline_end != path.stat().st_size:
        with open(path, "r+b") as handle:
            handle.truncate(last_newline_end)
    return complete


def drop_trailing_group(path: Path, field: str) -> int:
    """Remove the last run of lines sharing ``field``'s value; return how many lines were removed.

    A crash can cut a JSONL batch part-way through a group; its rows are scored
    again as a whole group on resume.
    """
    with open(path, "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    if not lines:
        return 0

    def key(line: bytes) -> Any:
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        return repr(row.get(field)) if isinstance(row, dict) else None

    last = key(lines[-1])
    keep = len(lines)
    while keep > 0 and key(lines[keep - 1]) == last:
        keep -= 1
    with open(path, "r+b") as out:
        out.truncate(sum(len(line) for line in lines[:keep]))
    return len(lines) - keep


def first_jsonl_row(path: Path) -> dict[str, Any] | None:
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    return None
                return row if isinstance(row, dict) else None
    return None


class RowWriter:
    """Writes output rows in order, so that a crash loses at most the rows in flight.

    JSONL is appended line by line and flushed after each batch; a re-run with
    ``resume`` drops a half-written last line and continues. Parquet cannot be
    appended to, so batches go to numbered part files (each written to a
    temporary name, then renamed) in ``OUTPUT.parts/``; ``close`` joins them
    into the output file.
    """

    def __init__(self, path: str | Path, *, resume: bool, column_types: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.format = file_format(self.path)
        self.column_types = dict(column_types or {})
        self.rows_written = 0
        self._handle: BinaryIO | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "jsonl":
            if resume:
                self.rows_written = _truncate_partial_line(self.path)
            self._handle = open(self.path, "ab" if resume else "wb")  # noqa: SIM115 - closed in close()
        else:
            self.parts = Path(str(self.path) + ".parts")
            if not resume and self.parts.exists():
                shutil.rmtree(self.parts)
            self.parts.mkdir(exist_ok=True)
            for leftover in self.parts.glob("*.tmp"):
                leftover.unlink()
            self.rows_written = sum(self._part_rows(p) for p in self._part_files())

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet"))

    @staticmethod
    def _part_rows(part: Path) -> int:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(part).metadata.num_rows)

    def write_lines(self, lines: bytes, count: int) -> None:
        """Append ``count`` JSONL rows already encoded and joined, each ending in a newline (JSONL only)."""
        if not count:
            return
        assert self._handle is not None, "write_lines is for JSONL output"
        self._handle.write(lines)
        self._handle.flush()
        self.rows_written += count

    def write(self, rows: list[bytes] | list[dict[str, Any]]) -> None:
        """Append a batch of rows: JSON-encoded lines for JSONL, dicts for Parquet."""
        if not rows:
            return
        if self.format == "jsonl":
            assert self._handle is not None
            out = bytearray()
            for r in rows:
                # appended and dropped at once: keeping every encoded row alive until a join
                # costs fresh memory for each, several times the encoding itself
                out += r if isinstance(r, bytes) else dumps_row(r)
                out += b"\n"
            self._handle.write(out)
            self._handle.flush()
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            dict_rows = [orjson.loads(r) if isinstance(r, bytes) else dict(r) for r in rows]
            # Columns of known type are built explicitly: inferring them per batch
            # fails for empty maps and all-null batches.
            typed = {
                name: pa.array([r.pop(name, None) for r in dict_rows], type=kind)
                for name, kind in self.column_types.items()
                if any(name in r for r in dict_rows)
            }
            table = pa.Table.from_pylist(dict_rows)
            for name, array in typed.items():
                table = table.append_column(name, array)
            index = len(self._part_files())
            final = self.parts / f"part-{index:06d}.parquet"
            tmp = final.with_suffix(".tmp")
            pq.write_table(table, tmp)
            os.replace(tmp, final)
        self.rows_written += len(rows)

    def close(self, *, finished: bool = True) -> None:
        """Finish the file. Parquet parts are joined into the output (and removed when ``finished``)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            return
        if self.format != "parquet":
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = self._part_files()
        if not parts:
            pq.write_table(pa.table({}), self.path)
        else:
            schema = pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive")
            tmp = Path(str(self.path) + ".tmp")
            with pq.ParquetWriter(tmp, schema) as writer:
                for part in parts:
                    writer.write_table(pq.read_table(part).cast(schema))
            os.replace(tmp, self.path)
        if finished:
            shutil.rmtree(self.parts, ignore_errors=True)


class BadRowLog:
    """Records skipped input rows (line, error, raw text) as JSONL, crash-safe like `RowWriter`."""

    def __init__(self, path: str | Path, *, resume: bool) -> None:
        self.path = Path(path)
        if not resume and self.path.exists():
            self.path.unlink()
        self.count = _truncate_partial_line(self.path) if resume else 0
        self._handle: BinaryIO | None = None
        self._resume = resume

    def record(self, error: DataError, raw: RawRow) -> None:
        if self._handle is None:
            self._handle = open(self.path, "ab" if self._resume else "wb")  # noqa: SIM115
        text = raw.data.decode("utf-8", "replace") if isinstance(raw.data, bytes) else raw.data
        entry = {"file": error.path, "line": error.line, "field": error.field, "error": error.message, "raw": text}
        self._handle.write(dumps_row(entry) + b"\n")
        self._handle.flush()
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
