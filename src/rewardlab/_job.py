"""The `rewardlab score` job: stream a row file through a reward into an output file."""

from __future__ import annotations

import itertools
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab._executor import CallResult
from rewardlab._io import (
    BadRowLog,
    DataError,
    RawRow,
    RowWriter,
    count_rows_hint,
    drop_trailing_group,
    dumps_row,
    file_format,
    first_jsonl_row,
    iter_raw_rows,
    parse_row,
)
from rewardlab._reward import Reward
from rewardlab._types import DEFAULT_FIELDS, FieldMap, Sample, SampleError, Status
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


@dataclass
class _ChunkResult:
    rows: list[Any]
    bad: list[tuple[DataError, RawRow]]
    stop: DataError | None
    statuses: Counter[str]
    value_sum: float
    usage: dict[str, float]


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


def process_chunk(
    reward: Reward,
    raws: list[RawRow],
    path: str,
    fields: FieldMap,
    output_field: str,
    encode_jsonl: bool,
    skip_bad: bool,
    pool: Any = None,
) -> _ChunkResult:
    """Parse, score and merge one batch of rows. Runs in the caller or in a worker."""
    rows: list[dict[str, Any]] = []
    samples: list[Sample] = []
    bad: list[tuple[DataError, RawRow]] = []
    stop: DataError | None = None
    for raw in raws:
        try:
            row, sample = _to_sample(path, raw, fields)
        except DataError as exc:
            if not skip_bad:
                stop = exc
                break
            bad.append((exc, raw))
            continue
        rows.append(row)
        samples.append(sample)
    scores = reward.score(samples, pool=pool) if samples else []
    statuses: Counter[str] = Counter()
    usage: dict[str, float] = {}
    value_sum = 0.0
    out: list[Any] = []
    key_status, key_reason = f"{output_field}_status", f"{output_field}_reason"
    key_components, key_signature = f"{output_field}_components", f"{output_field}_signature"
    for row, score in zip(rows, scores, strict=True):
        row[output_field] = score.value
        row[key_status] = score.status.value
        row[key_reason] = score.reason
        row[key_components] = dict(score.components)
        row[key_signature] = score.signature
        statuses[score.status.value] += 1
        if score.value is not None:
            value_sum += score.value
        for key, amount in score.components.items():
            # a composite's term components arrive as "term.judge_requests"
            name = key.rsplit(".", 1)[-1]
            if name in USAGE_COMPONENTS:
                usage[name] = usage.get(name, 0.0) + amount
        out.append(dumps_row(row) if encode_jsonl else row)
    return _ChunkResult(out, bad, stop, statuses, value_sum, usage)


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


def _skip_done(
    rows: Iterator[RawRow],
    path: str,
    fields: FieldMap,
    good_done: int,
    bad_done: int,
    on_skip: Callable[[RawRow], None],
) -> Iterator[RawRow]:
    """Skip the rows a previous run already wrote (good ones) or logged (bad ones).

    Good and bad rows are counted separately, so the order in which the two
    files were flushed before a crash does not matter.
    """
    good = bad = 0
    for raw in rows:
        if good >= good_done and bad >= bad_done:
            yield raw
            continue
        try:
            _to_sample(path, raw, fields)
            is_good = True
        except DataError:
            is_good = False
        if is_good and good < good_done:
            good += 1
            on_skip(raw)
        elif not is_good and bad < bad_done:
            bad += 1
            on_skip(raw)
        else:
            yield raw


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


class _Progress:
    """The runner's bar, counted in rows, or in bytes when the row count is not known ahead."""

    def __init__(self, path: str, enabled: bool) -> None:
        total, self.unit = count_rows_hint(path) if enabled else (None, "rows")
        self.bar = Progress(total, "scoring", enabled=enabled, unit=self.unit)

    def advance(self, raws: list[RawRow]) -> None:
        self.bar.advance(len(raws) if self.unit == "rows" else sum(r.size for r in raws))

    def close(self) -> None:
        self.bar.close()


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

    Raises:
        DataError: a malformed row (unless ``skip_bad_rows``); every row before
            it has been written, and ``resume=True`` continues after a fix.
    """
    path = str(input_path)
    file_format(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file")
    started = time.monotonic()
    writer = RowWriter(output_path, resume=resume, column_types=output_column_types(output_field))
    _check_resumable(writer, reward, output_field)
    if resume and group_by and writer.format == "jsonl" and writer.rows_written:
        writer.rows_written -= drop_trailing_group(writer.path, group_by)
    bad_log = BadRowLog(bad_rows_path or f"{output_path}.bad.jsonl", resume=resume) if skip_bad_rows else None
    summary = JobSummary(resumed_from=writer.rows_written)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(path, show)
    encode = writer.format == "jsonl"
    runner = Runner(
        reward,
        workers=workers,
        timeout=timeout,  # no --timeout: the pool's default (a process reward's own timeout still wins per call)
        ship=workers > 1,
        batch_size=chunk_rows,
        batch_executor=batch_executor,
    )
    size = chunk_rows or runner.batch_size
    rows = _skip_done(
        itertools.islice(iter_raw_rows(path), limit),
        path,
        fields,
        writer.rows_written,
        bad_log.count if bad_log else 0,
        lambda raw: bar.advance([raw]),
    )
    stop: DataError | None = None
    finished = False
    grouping = _group_key(path, group_by) if group_by else None

    def consume(raws: list[RawRow], result: _ChunkResult) -> DataError | None:
        writer.write(result.rows)
        if bad_log is not None:
            for error, raw in result.bad:
                bad_log.record(error, raw)
        summary.rows += len(result.rows)
        summary.bad_rows += len(result.bad)
        summary.statuses.update(result.statuses)
        summary.value_sum += result.value_sum
        for name, amount in result.usage.items():
            summary.usage[name] = summary.usage.get(name, 0.0) + amount
        bar.advance(raws)
        return result.stop

    try:
        skip_bad = bool(bad_log)
        batches = _chunks(rows, size, grouping)

        def failed(raws: list[RawRow], outcome: CallResult) -> _ChunkResult:
            return _failed_chunk(raws, outcome, reward, path, fields, output_field, encode, skip_bad)

        results = runner.run_batches(
            batches, process_chunk, (path, fields, output_field, encode, skip_bad), on_failure=failed
        )
        try:
            for raws, result in results:
                stop = consume(raws, result)
                if stop is not None:
                    break
        finally:
            results.close()
        finished = stop is None
    finally:
        bar.close()
        writer.close(finished=finished)
        if bad_log is not None:
            bad_log.close()
        runner.close()
    summary.seconds = time.monotonic() - started
    if stop is not None:
        raise stop
    return summary


def _failed_chunk(
    raws: list[RawRow],
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
        failed.rows.append(dumps_row(row) if encode else row)
        failed.statuses[status.value] += 1
    return failed


__all__ = ["JobSummary", "process_chunk", "score_file"]
