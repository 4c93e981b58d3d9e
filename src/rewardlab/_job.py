"""The `rewardlab score` job: stream a row file through a reward into an output file."""

from __future__ import annotations

import contextlib
import gc
import itertools
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rewardlab._executor import CallResult
from rewardlab._io import (
    BadRowLog,
    DataError,
    RawBlock,
    RawRow,
    RowWriter,
    count_rows_hint,
    drop_trailing_group,
    dumps_row,
    file_format,
    first_jsonl_row,
    iter_raw_blocks,
    iter_raw_rows,
    parse_row,
)
from rewardlab._reward import Reward
from rewardlab._types import DEFAULT_FIELDS, FieldMap, Sample, SampleError, Score, Status, sample_maker
from rewardlab.runtime._runner import Progress, Runner


@dataclass
class JobSummary:
    """What a scoring run did."""

    rows: int = 0
    resumed_from: int = 0
    bad_rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    value_sum: float = 0.0
    seconds: float = 0.0
    usage: dict[str, float] = field(default_factory=dict)
    """Totals of the usage components of judge rewards (`USAGE_COMPONENTS`), when the reward has any."""

    @property
    def mean(self) -> float | None:
        ok = self.statuses.get(Status.OK.value, 0)
        return self.value_sum / ok if ok else None


Batch = RawBlock | list[RawRow]
"""A batch of input rows: a block of JSONL lines, or rows one by one (Parquet, --group-by, --limit, resume)."""


@dataclass
class _ChunkResult:
    rows: list[Any]
    """Output rows (dicts) for Parquet; empty for JSONL, whose rows are in ``lines``."""
    bad: list[tuple[DataError, RawRow]]
    stop: DataError | None
    statuses: Counter[str]
    value_sum: float
    usage: dict[str, float]
    lines: bytes = b""
    """JSONL output: the rows encoded, joined and newline-terminated (one object to send back)."""
    count: int = 0
    """Number of output rows."""


USAGE_COMPONENTS = ("judge_requests", "judge_cached", "judge_prompt_tokens", "judge_completion_tokens", "judge_cost")
"""Score components that count resources (a judge's requests, tokens, cost), summed over a run."""


def output_column_types(output_field: str) -> dict[str, Any]:
    """Arrow types of the columns the job adds (for Parquet output)."""
    import pyarrow as pa

    return {
        output_field: pa.float64(),
        f"{output_field}_status": pa.string(),
        f"{output_field}_reason": pa.string(),
        f"{output_field}_components": pa.map_(pa.string(), pa.float64()),
        f"{output_field}_signature": pa.string(),
    }


def _to_sample(path: str, raw: RawRow, fields: FieldMap) -> tuple[dict[str, Any], Sample]:
    row = parse_row(path, raw)
    try:
        sample = Sample.from_mapping(row, fields)
    except SampleError as exc:
        raise DataError(path, raw.line, str(exc), field=exc.field) from None
    return row, sample


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (while a batch is parsed: see `process_chunk`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_batch(
    raws: Iterable[RawRow], path: str, fields: FieldMap, skip_bad: bool
) -> tuple[list[dict[str, Any]], list[Sample], list[tuple[DataError, RawRow]], DataError | None]:
    """Rows and samples of a batch; the bad rows (with ``skip_bad``) or the first one (``stop``)."""
    rows: list[dict[str, Any]] = []
    samples: list[Sample] = []
    bad: list[tuple[DataError, RawRow]] = []
    if isinstance(raws, RawBlock):
        # the hot loop: a well-formed line is parsed as it is (JSON allows the whitespace around
        # it); anything else takes the general path below, so errors read exactly the same
        loads, make_sample = orjson.loads, sample_maker(fields)
        for number, line in enumerate(raws.data.split(b"\n"), raws.first_line):
            try:
                row = loads(line)
                if type(row) is dict:
                    sample = make_sample(row)
                    rows.append(row)
                    samples.append(sample)
                    continue
            except (orjson.JSONDecodeError, SampleError):
                pass
            stripped = line.strip()
            if not stripped:
                continue
            raw = RawRow(number, stripped, len(line) + 1)
            try:
                row, sample = _to_sample(path, raw, fields)
            except DataError as exc:
                if not skip_bad:
                    return rows, samples, bad, exc
                bad.append((exc, raw))
                continue
            rows.append(row)  # e.g. a form feed after the JSON: not JSON whitespace, but stripped
            samples.append(sample)
        return rows, samples, bad, None
    for raw in raws:
        try:
            row, sample = _to_sample(path, raw, fields)
        except DataError as exc:
            if not skip_bad:
                return rows, samples, bad, exc
            bad.append((exc, raw))
            continue
        rows.append(row)
        samples.append(sample)
    return rows, samples, bad, None


def process_chunk(
    reward: Reward,
    raws: Iterable[RawRow],
    path: str,
    fields: FieldMap,
    output_field: str,
    encode_jsonl: bool,
    skip_bad: bool,
    executor: Any = None,
) -> _ChunkResult:
    """Parse, score and merge one batch of rows. Runs in the caller or in a worker.

    The cyclic garbage collector is paused while the batch is parsed: parsing makes thousands
    of dicts and samples that stay alive until the batch is written and form no reference
    cycles, and the collector would otherwise scan them again and again as they accumulate.
    Reward code never runs paused.
    """
    with _collector_paused():
        rows, samples, bad, stop = _parse_batch(raws, path, fields, skip_bad)
    return _score_and_merge(reward, rows, samples, bad, stop, output_field, encode_jsonl, executor)


def _score_and_merge(
    reward: Reward,
    rows: list[dict[str, Any]],
    samples: list[Sample],
    bad: list[tuple[DataError, RawRow]],
    stop: DataError | None,
    output_field: str,
    encode_jsonl: bool,
    executor: Any,
) -> _ChunkResult:
    scores = reward.score(samples, executor=executor) if samples else []
    statuses: Counter[str] = Counter()
    usage: dict[str, float] = {}
    ok = 0
    value_sum = 0.0
    added: dict[int, tuple[dict[str, Any], bytes]] = {}  # per score: its columns, and them encoded
    k0, k1, k2, k3, k4 = _column_names(output_field)
    merged: list[dict[str, Any]] = []
    lines = bytearray()
    for row, score in zip(rows, scores, strict=True):
        found = added.get(id(score))  # by identity: every score stays alive in ``scores`` meanwhile
        if found is None:
            columns = _score_columns(score, output_field)
            # ``"reward":1.0,...}`` and the newline: appended to a row's own encoding minus its "}"
            found = added[id(score)] = (columns, dumps_row(columns)[1:] + b"\n")
        columns, tail = found
        if score.components:
            for key, amount in score.components.items():
                # a composite's term components arrive as "term.judge_requests"
                name = key.rsplit(".", 1)[-1]
                if name in USAGE_COMPONENTS:
                    usage[name] = usage.get(name, 0.0) + amount
        if score.status is Status.OK:
            ok += 1
            value_sum += score.value  # type: ignore[operator]
        else:
            statuses[score.status.value] += 1
        if not encode_jsonl:
            merged.append({**row, **columns})
        elif row and k0 not in row and k1 not in row and k2 not in row and k3 not in row and k4 not in row:
            # encoded at once and dropped: the allocator reuses one buffer (keeping 2,048 encoded
            # rows alive until a join costs fresh memory for each, several times the encoding itself)
            lines += dumps_row(row)
            lines[-1] = _COMMA  # the row's closing "}" becomes the separator before the added columns
            lines += tail
        else:  # the row already has a column of that name: it is replaced where it stands
            lines += dumps_row({**row, **columns})
            lines += b"\n"
    if ok:
        statuses[Status.OK.value] += ok
    return _ChunkResult(merged, bad, stop, statuses, value_sum, usage, bytes(lines), len(rows))


_COMMA = ord(",")


def _column_names(output_field: str) -> tuple[str, str, str, str, str]:
    """The five columns the job adds, in order."""
    return (
        output_field,
        f"{output_field}_status",
        f"{output_field}_reason",
        f"{output_field}_components",
        f"{output_field}_signature",
    )


def _score_columns(score: Score, output_field: str) -> dict[str, Any]:
    """The columns a score adds to its row."""
    return {
        output_field: score.value,
        f"{output_field}_status": score.status.value,
        f"{output_field}_reason": score.reason,
        f"{output_field}_components": dict(score.components),
        f"{output_field}_signature": score.signature,
    }


def _encode_lines(rows: list[dict[str, Any]]) -> bytes:
    """The rows as JSONL, each line ending in a newline."""
    out = bytearray()
    for row in rows:
        out += dumps_row(row)
        out += b"\n"
    return bytes(out)


def _chunks(
    rows: Iterator[RawRow], size: int, group_key: Callable[[RawRow], Any] | None = None
) -> Iterator[list[RawRow]]:
    """Batches of ``size`` rows; with ``group_key``, a batch ends only where the key changes.

    Group rewards (pairwise win rate, difficulty-weighted code credit) see a whole
    group at once as long as its rows are contiguous in the file.
    """
    chunk: list[RawRow] = []
    last: Any = _NO_KEY
    for raw in rows:
        if len(chunk) >= size:
            key = group_key(raw) if group_key is not None else _NO_KEY
            if group_key is None or key != last:
                yield chunk
                chunk = []
            last = key
        elif group_key is not None:
            last = group_key(raw)
        chunk.append(raw)
    if chunk:
        yield chunk


_NO_KEY = object()


def _group_key(path: str, field: str) -> Callable[[RawRow], Any]:
    def key(raw: RawRow) -> Any:
        try:
            row = parse_row(path, raw)
        except DataError:
            return _NO_KEY  # a bad row is reported where it is scored
        raw.data = row  # parsed once: scoring the batch reuses it
        return repr(row.get(field))

    return key


class _Skipper:
    """Recognises the rows a previous run already wrote (good ones) or logged (bad ones).

    Good and bad rows are counted separately, so the order in which the two
    files were flushed before a crash does not matter.
    """

    def __init__(self, path: str, fields: FieldMap, good_done: int, bad_done: int) -> None:
        self.path, self.fields = path, fields
        self.good_left, self.bad_left = good_done, bad_done

    @property
    def done(self) -> bool:
        return self.good_left <= 0 and self.bad_left <= 0

    def skip(self, raw: RawRow) -> bool:
        """Whether ``raw`` was handled by the previous run (and is now counted as such)."""
        try:
            _to_sample(self.path, raw, self.fields)
            is_good = True
        except DataError:
            is_good = False
        if is_good and self.good_left > 0:
            self.good_left -= 1
            return True
        if not is_good and self.bad_left > 0:
            self.bad_left -= 1
            return True
        return False


def _skip_done(rows: Iterator[RawRow], skipper: _Skipper, on_skip: Callable[[RawRow], None]) -> Iterator[RawRow]:
    """The rows that remain to be scored."""
    for raw in rows:
        if not skipper.done and skipper.skip(raw):
            on_skip(raw)
        else:
            yield raw


def _skip_done_blocks(
    blocks: Iterator[RawBlock], skipper: _Skipper, on_skip: Callable[[RawRow], None]
) -> Iterator[RawBlock | list[RawRow]]:
    """The batches that remain to be scored: the first one is cut where the previous run stopped."""
    for block in blocks:
        if skipper.done:
            yield block
            continue
        rest = list(_skip_done(iter(block), skipper, on_skip))
        if rest:
            yield rest


def _check_resumable(writer: RowWriter, reward: Reward, output_field: str) -> None:
    if writer.rows_written == 0:
        return
    key = f"{output_field}_signature"
    if writer.format == "jsonl":
        first = first_jsonl_row(writer.path)
        found = None if first is None else first.get(key)
    else:
        import pyarrow.parquet as pq

        part = sorted(writer.parts.glob("part-*.parquet"))[0]
        table = pq.read_table(part, columns=[key]) if key in pq.read_schema(part).names else None
        found = table.column(key)[0].as_py() if table is not None and table.num_rows else None
    if found is not None and found != reward.signature:
        raise ValueError(
            f"{writer.path}: cannot resume: it was scored with {found!r}, not {reward.signature!r}; "
            "use another output file or drop --resume"
        )


def _refuse_split_state(reward: Reward, output_path: str | Path, *, workers: int, resume: bool) -> None:
    """A reward with running state equals one uninterrupted run only when one object sees every batch in order."""
    if not reward.stateful:
        return
    what = "it keeps running state between batches (a running normaliser)"
    if workers > 1:
        raise ValueError(
            f"reward {reward.name!r} cannot be scored with --workers {workers}: {what}, and each worker would "
            "keep its own statistics; use --workers 1"
        )
    output = Path(output_path)
    if file_format(output) == "jsonl":
        written = output.exists() and output.stat().st_size > 0
    else:
        written = any(Path(f"{output}.parts").glob("part-*.parquet"))
    if resume and written:
        raise ValueError(
            f"{output}: cannot resume reward {reward.name!r}: {what}, and the statistics of the rows already "
            "written are not saved, so the rest would be scored differently from an uninterrupted run; "
            "re-run without --resume (the output is then rewritten from the start)"
        )


class _Progress:
    """The runner's bar, counted in rows, or in bytes when the row count is not known ahead."""

    def __init__(self, path: str, enabled: bool) -> None:
        total, self.unit = count_rows_hint(path) if enabled else (None, "rows")
        self.bar = Progress(total, "scoring", enabled=enabled, unit=self.unit)

    def advance(self, raws: Batch) -> None:
        if isinstance(raws, RawBlock):
            self.bar.advance(raws.size)
        else:
            self.bar.advance(len(raws) if self.unit == "rows" else sum(r.size for r in raws))

    def close(self) -> None:
        self.bar.close()


class JobOutput:
    """What every way of running the score job shares: the checks, the output and bad-row
    files, the resume state, the progress bar and the summary.

    The local job (`score_file`) and the job on Ray Data (`rewardlab.ray`) differ only in
    where batches are parsed and scored; both hand each batch's `_ChunkResult` to
    `consume`, in input order, so they write the same bytes.
    """

    def __init__(
        self,
        input_path: str | Path,
        output_path: str | Path,
        reward: Reward,
        *,
        fields: FieldMap,
        workers: int,
        resume: bool,
        skip_bad_rows: bool,
        bad_rows_path: str | Path | None,
        output_field: str,
        progress: bool | None,
        group_by: str | None,
    ) -> None:
        path = str(input_path)
        file_format(path)
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: no such file")
        _refuse_split_state(reward, output_path, workers=workers, resume=resume)
        self.path, self.fields, self.output_field = path, fields, output_field
        self.started = time.monotonic()
        parquet_out = file_format(output_path) == "parquet"  # (pyarrow is imported only for Parquet)
        column_types = output_column_types(output_field) if parquet_out else None
        self.writer = writer = RowWriter(output_path, resume=resume, column_types=column_types)
        try:
            _check_resumable(writer, reward, output_field)
        except ValueError:
            writer.close(finished=False)
            raise
        if resume and group_by and writer.format == "jsonl" and writer.rows_written:
            writer.rows_written -= drop_trailing_group(writer.path, group_by)
        self.bad_log = BadRowLog(bad_rows_path or f"{output_path}.bad.jsonl", resume=resume) if skip_bad_rows else None
        self.summary = JobSummary(resumed_from=writer.rows_written)
        show = sys.stderr.isatty() if progress is None else progress
        self.bar = _Progress(path, show)
        self.encode = writer.format == "jsonl"
        self.skip_bad = skip_bad_rows
        self.skipper = _Skipper(path, fields, writer.rows_written, self.bad_log.count if self.bad_log else 0)

    def consume(self, result: _ChunkResult) -> DataError | None:
        """Write one batch's rows (and log its bad rows); the error that stops the job, if any."""
        if result.lines:
            self.writer.write_lines(result.lines, result.count)
        else:
            self.writer.write(result.rows)
        if self.bad_log is not None:
            for error, raw in result.bad:
                self.bad_log.record(error, raw)
        summary = self.summary
        summary.rows += result.count
        summary.bad_rows += len(result.bad)
        summary.statuses.update(result.statuses)
        summary.value_sum += result.value_sum
        for name, amount in result.usage.items():
            summary.usage[name] = summary.usage.get(name, 0.0) + amount
        return result.stop

    def close(self, *, finished: bool) -> None:
        """Finish the output (Parquet parts are joined) and the bad-row log; stop the bar."""
        self.bar.close()
        self.writer.close(finished=finished)
        if self.bad_log is not None:
            self.bad_log.close()
        self.summary.seconds = time.monotonic() - self.started


def score_file(
    input_path: str | Path,
    output_path: str | Path,
    reward: Reward,
    *,
    fields: FieldMap = DEFAULT_FIELDS,
    workers: int = 1,
    resume: bool = False,
    skip_bad_rows: bool = False,
    bad_rows_path: str | Path | None = None,
    output_field: str = "reward",
    chunk_rows: int | None = None,
    progress: bool | None = None,
    timeout: float | None = None,
    group_by: str | None = None,
    limit: int | None = None,
    batch_executor: Any = None,
) -> JobSummary:
    """Score every row of ``input_path`` into ``output_path`` (JSONL or Parquet).

    Rows keep their order and fields and gain ``reward``, ``reward_status``,
    ``reward_reason``, ``reward_components`` and ``reward_signature`` (prefix set
    by ``output_field``). Memory stays flat: rows stream through in batches.

    ``limit`` scores only the first rows of the input (a quick look before a full run).
    ``batch_executor`` (e.g. `rewardlab.ray.RewardActorPool`) runs whole batches where it
    holds its own copies of the reward; the output is the same as a local run's.
    With ``group_by``, batches break only between groups of rows sharing that
    field (contiguous in the file), so group rewards see whole groups.
    `rewardlab.ray.score_file_on_ray` runs the same job on Ray Data.

    Raises:
        DataError: a malformed row (unless ``skip_bad_rows``); every row before
            it has been written, and ``resume=True`` continues after a fix.
    """
    job = JobOutput(
        input_path,
        output_path,
        reward,
        fields=fields,
        workers=workers,
        resume=resume,
        skip_bad_rows=skip_bad_rows,
        bad_rows_path=bad_rows_path,
        output_field=output_field,
        progress=progress,
        group_by=group_by,
    )
    path, bar, encode, skip_bad = job.path, job.bar, job.encode, job.skip_bad
    stop: DataError | None = None
    finished = False
    runner: Runner | None = None
    try:
        runner = Runner(
            reward,
            workers=workers,
            timeout=timeout,  # no --timeout: the pool's default (a process reward's own timeout still wins per call)
            ship=workers > 1,
            batch_size=chunk_rows,
            batch_executor=batch_executor,
        )
        size = chunk_rows or runner.batch_size
        batches = input_batches(path, size, job.skipper, bar, group_by=group_by, limit=limit)

        def failed(raws: Batch, outcome: CallResult) -> _ChunkResult:
            return _failed_chunk(raws, outcome, reward, path, fields, output_field, encode, skip_bad)

        results = runner.run_batches(
            batches, process_chunk, (path, fields, output_field, encode, skip_bad), on_failure=failed
        )
        try:
            for raws, result in results:
                stop = job.consume(result)
                bar.advance(raws)
                if stop is not None:
                    break
        finally:
            results.close()
        finished = stop is None
    finally:
        job.close(finished=finished)
        if runner is not None:
            runner.close()
    if stop is not None:
        raise stop
    return job.summary


def input_batches(
    path: str, size: int, skipper: _Skipper, bar: _Progress, *, group_by: str | None, limit: int | None
) -> Iterator[Batch]:
    """The batches the local job scores, the rows a resumed run already handled left out."""
    if file_format(path) == "jsonl" and not group_by and limit is None:
        # whole lines, unparsed: a batch travels to a worker as one bytes object
        return _skip_done_blocks(iter_raw_blocks(path, size), skipper, lambda raw: bar.advance([raw]))
    rows = _skip_done(itertools.islice(iter_raw_rows(path), limit), skipper, lambda raw: bar.advance([raw]))
    return _chunks(rows, size, _group_key(path, group_by) if group_by else None)


def _failed_chunk(
    raws: Batch,
    outcome: Any,
    reward: Reward,
    path: str,
    fields: FieldMap,
    output_field: str,
    encode: bool,
    skip_bad: bool,
) -> _ChunkResult:
    """A batch whose worker died or overran: its rows keep a status, never a silent zero."""
    failed = _ChunkResult([], [], None, Counter(), 0.0, {})
    status = Status.TIMEOUT if outcome.status is Status.TIMEOUT else Status.ERROR
    for raw in raws:
        try:
            row, _ = _to_sample(path, raw, fields)
        except DataError as exc:
            if not skip_bad:
                failed.stop = exc
                break
            failed.bad.append((exc, raw))
            continue
        row.update(
            {
                output_field: None,
                f"{output_field}_status": status.value,
                f"{output_field}_reason": f"batch failed: {outcome.reason}",
                f"{output_field}_components": {},
                f"{output_field}_signature": reward.signature,
            }
        )
        failed.rows.append(row)
        failed.statuses[status.value] += 1
    failed.count = len(failed.rows)
    if encode:
        failed.lines, failed.rows = _encode_lines(failed.rows), []
    return failed


__all__ = ["JobSummary", "process_chunk", "score_file"]
