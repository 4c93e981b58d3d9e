"""The score job on Ray Data: read tasks read the input, an actor pool scores it, the driver writes.

The driver cuts the input into exactly the batches the local job would score (the same
reader, the same resume and ``--group-by`` rules) and records each as a *span*: where it
lies in the file and which of its rows a resumed run leaves out. A Ray Data datasource reads
the spans as raw rows, untouched (JSONL lines as bytes with their line numbers, Parquet rows
as Arrow), one block per span; ``map_batches`` on an actor pool parses, scores and encodes
each block with the local job's own function (`rewardlab._job.process_chunk`) on an actor
that built the reward once; the results stream back to the driver in input order
(``preserve_order``), where the local job's writer writes them. Same batches, same code,
same writer: the same bytes.

Failures: an actor that dies (killed, out of memory, node lost) is restarted by Ray and its
batch retried; a ledger actor counts the attempts at each batch, and the attempt after
`ACTOR_RETRIES` retries writes the batch as ``error`` rows instead of scoring it again (a row
that kills its actor every time cannot loop forever). A batch that never comes back at all
is written as ``error`` rows by the driver. No row is lost or duplicated.
"""

from __future__ import annotations

import functools
import math
import pickle
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab._executor import CallResult
from rewardlab._io import DataError, RawBlock, RawRow, file_format
from rewardlab._job import JobOutput, JobSummary, _ChunkResult, _failed_chunk, input_batches, process_chunk
from rewardlab._reward import Reward
from rewardlab._types import DEFAULT_FIELDS, FieldMap, Status
from rewardlab.ray._actors import _rebuild, _recipe, _require_ray, _short
from rewardlab.runtime._runner import INLINE_BATCH

DEFAULT_ACTOR_CPUS = 0.5
"""CPUs each scoring actor asks for by default: fractional, so the actors and the read
tasks can share a small machine."""

READ_TASK_CPUS = 0.1
"""CPUs each read task asks for: reading spans is light work, and a whole-CPU request
could wait forever behind actors holding every core of a small machine."""

READ_CONCURRENCY = 2
"""Read tasks at a time: reading a span is far quicker than scoring it, and every read task
running at once needs a Ray worker process of its own, slow to start on a busy machine."""

ACTOR_RETRIES = 2
"""Times a batch is scored again after the actor scoring it died (a transient loss: a node
preempted, the OOM killer); a batch that kills its actor every time then becomes
``error`` rows instead of stopping the job or looping forever."""


class _Attempts:
    """A Ray actor counting the attempts at each batch, across restarts of the scoring actors."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def start(self, span: int) -> int:
        self.counts[span] = self.counts.get(span, 0) + 1
        return self.counts[span]


SPAN_COLUMN = "__rewardlab_span"
ROW_COLUMN = "__rewardlab_row"
"""Columns the Parquet read tasks add to the user's columns (dropped before scoring)."""


@dataclass(frozen=True, slots=True)
class _Span:
    """One batch of the local job, located in the input file."""

    index: int
    first: int
    """Line (JSONL) or row (Parquet, 1-based) number of its first line or row."""
    start: int
    """Byte offset (JSONL) or 0-based row index (Parquet) where it starts."""
    end: int
    """Where it ends (exclusive; past the end of the file is fine)."""
    progress: int
    """What the progress bar advances by once it is written (bytes or rows, as the bar counts)."""
    skip: tuple[int, ...] = ()
    """Line or row numbers inside it that a resumed run already handled."""


def _plan(job: JobOutput, size: int, group_by: str | None, limit: int | None) -> list[_Span]:
    """The local job's batches for this input (see `rewardlab._job.input_batches`), as spans."""
    path = job.path
    spans: list[_Span] = []
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        names = set(pq.read_schema(path).names)
        taken = names & {SPAN_COLUMN, ROW_COLUMN}
        if taken:
            raise ValueError(f"{path}: column {sorted(taken)[0]!r} is reserved for the Ray job; rename it")
        if group_by is None and job.skipper.done:
            # the common case needs only the row count: no row is read here
            total = pq.ParquetFile(path).metadata.num_rows
            total = total if limit is None else min(total, limit)
            for start in range(0, total, size):
                end = min(start + size, total)
                spans.append(_Span(len(spans), start + 1, start, end, end - start))
            return spans
    rows_unit = job.bar.unit == "rows"
    for batch in input_batches(path, size, job.skipper, job.bar, group_by=group_by, limit=limit):
        if isinstance(batch, RawBlock):
            spans.append(_Span(len(spans), batch.first_line, batch.offset, batch.offset + batch.size, batch.size))
            continue
        if not batch:
            continue
        first, last = batch[0].line, batch[-1].line
        kept = {raw.line for raw in batch}
        skip = tuple(n for n in range(first, last + 1) if n not in kept) if len(kept) != last - first + 1 else ()
        progress = len(batch) if rows_unit else sum(raw.size for raw in batch)
        if batch[0].offset >= 0:  # JSONL
            start, end = batch[0].offset, batch[-1].offset + batch[-1].size
        else:  # Parquet
            start, end = first - 1, last
        spans.append(_Span(len(spans), first, start, end, progress, skip))
    return spans


# -- reading (in Ray's read tasks, and in the driver for a batch that failed) ----------------


def _jsonl_rows(path: str, span: _Span) -> tuple[list[int], list[bytes]]:
    """The span's non-blank lines, stripped, with their numbers."""
    with open(path, "rb") as handle:
        handle.seek(span.start)
        data = handle.read(span.end - span.start)
    skip = set(span.skip)
    numbers: list[int] = []
    lines: list[bytes] = []
    for number, line in enumerate(data.split(b"\n"), span.first):
        stripped = line.strip()
        if stripped and number not in skip:
            numbers.append(number)
            lines.append(stripped)
    return numbers, lines


def _read_jsonl(path: str, spans: list[_Span]) -> Iterator[Any]:
    import pyarrow as pa

    for span in spans:
        numbers, lines = _jsonl_rows(path, span)
        yield pa.table(
            {
                SPAN_COLUMN: pa.array([span.index] * len(numbers), pa.int64()),
                ROW_COLUMN: pa.array(numbers, pa.int64()),
                "raw": pa.array(lines, pa.large_binary()),
            }
        )


def _parquet_tables(path: str, spans: list[_Span]) -> Iterator[tuple[_Span, Any, Any]]:
    """Each span's rows as an Arrow table (the row groups they lie in are read once)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    bounds = [0]
    for i in range(parquet.metadata.num_row_groups):
        bounds.append(bounds[-1] + parquet.metadata.row_group(i).num_rows)
    lo, hi = spans[0].start, spans[-1].end
    groups = [i for i in range(len(bounds) - 1) if bounds[i] < hi and bounds[i + 1] > lo]
    table = parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()
    base = bounds[groups[0]] if groups else 0
    for span in spans:
        part = table.slice(span.start - base, span.end - span.start)
        numbers = pa.array(range(span.start + 1, span.start + 1 + part.num_rows), pa.int64())
        if span.skip:
            keep = pc.invert(pc.is_in(numbers, pa.array(span.skip, pa.int64())))
            part, numbers = part.filter(keep), numbers.filter(keep)
        yield span, part, numbers


def _read_parquet(path: str, spans: list[_Span]) -> Iterator[Any]:
    import pyarrow as pa

    for span, part, numbers in _parquet_tables(path, spans):
        part = part.append_column(SPAN_COLUMN, pa.array([span.index] * part.num_rows, pa.int64()))
        yield part.append_column(ROW_COLUMN, numbers)


def _raw_rows(path: str, span: _Span) -> list[RawRow]:
    """The span's rows as the local job sees them (for a batch scored in the driver)."""
    if file_format(path) == "jsonl":
        numbers, lines = _jsonl_rows(path, span)
        return [RawRow(n, line) for n, line in zip(numbers, lines, strict=True)]
    ((_, part, numbers),) = list(_parquet_tables(path, [span]))
    return [RawRow(n, row) for n, row in zip(numbers.to_pylist(), part.to_pylist(), strict=True)]


def _datasource(path: str, spans: list[_Span]) -> Any:
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    read = _read_jsonl if file_format(path) == "jsonl" else _read_parquet

    class _SpanSource(Datasource):
        """The input file's spans, one read task and one block each, in order."""

        def estimate_inmemory_data_size(self) -> int | None:
            return sum(s.end - s.start for s in spans) if file_format(path) == "jsonl" else None

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
        ) -> list[ReadTask]:
            # one task per span whatever the parallelism asked for: a task's blocks would be merged
            meta = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=(path,))
            return [ReadTask(functools.partial(read, path, [span]), meta) for span in spans]

        def get_name(self) -> str:
            return "RewardlabRows"

    return _SpanSource()


# -- scoring (in the actors) ---------------------------------------------------------------


class _GaveUp(Exception):
    """A batch is not scored again: it killed its actor too many times."""


class _ScoreBlocks:
    """A Ray Data actor: builds the reward once, then parses, scores and encodes blocks."""

    def __init__(
        self,
        recipe: tuple[str, Any],
        path: str,
        fields: FieldMap,
        output_field: str,
        encode: bool,
        skip_bad: bool,
        workers: int,
        timeout: float | None,
        attempts: Any,
    ) -> None:
        self.attempts = attempts
        self.reward = _rebuild(recipe)
        self.args = (path, fields, output_field, encode, skip_bad)
        self.executor = None
        if self.reward.needs_executor:  # a process reward's workers live beside the actor, sized by its CPUs
            from rewardlab.runtime import WorkerPool

            self.executor = WorkerPool(workers, timeout=timeout) if timeout else WorkerPool(workers)
            self.executor.start(warm=self.reward.worker_modules)

    def __call__(self, block: Any) -> Any:
        import pyarrow as pa
        import ray

        path, fields, output_field, encode, skip_bad = self.args
        spans = block.column(SPAN_COLUMN).to_pylist()
        numbers = block.column(ROW_COLUMN).to_pylist()
        if "raw" in block.column_names and file_format(path) == "jsonl":
            values: list[Any] = block.column("raw").to_pylist()
        else:
            values = block.drop_columns([SPAN_COLUMN, ROW_COLUMN]).to_pylist()
        out_spans: list[int] = []
        out: list[bytes] = []
        i = 0
        while i < len(spans):  # one span per block; a block split by Ray still scores part by part
            j = i
            while j < len(spans) and spans[j] == spans[i]:
                j += 1
            raws = [RawRow(n, v) for n, v in zip(numbers[i:j], values[i:j], strict=True)]
            attempt = ray.get(self.attempts.start.remote(spans[i]))
            try:
                if attempt > 1 + ACTOR_RETRIES:
                    raise _GaveUp(f"the Ray actor scoring this batch died {attempt - 1} times")
                result = process_chunk(self.reward, raws, path, fields, output_field, encode, skip_bad, self.executor)
            except Exception as exc:  # the reward raised: the batch's rows are errors, as a local worker's would be
                reason = str(exc) if isinstance(exc, _GaveUp) else f"{type(exc).__name__}: {_short(exc)}"
                failure = CallResult(Status.ERROR, reason=reason)
                result = _failed_chunk(raws, failure, self.reward, path, fields, output_field, encode, skip_bad)
            out_spans.append(spans[i])
            out.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            i = j
        return pa.table({SPAN_COLUMN: pa.array(out_spans, pa.int64()), "result": pa.array(out, pa.large_binary())})

    def __del__(self) -> None:
        executor = getattr(self, "executor", None)
        if executor is not None:
            executor.close()


# -- the driver ----------------------------------------------------------------------------


def score_file_on_ray(
    input_path: str | Path,
    output_path: str | Path,
    reward: Reward,
    *,
    fields: FieldMap = DEFAULT_FIELDS,
    actors: int = 2,
    actor_cpus: float = DEFAULT_ACTOR_CPUS,
    actor_gpus: float = 0.0,
    address: str | None = None,
    resume: bool = False,
    skip_bad_rows: bool = False,
    bad_rows_path: str | Path | None = None,
    output_field: str = "reward",
    chunk_rows: int | None = None,
    progress: bool | None = None,
    timeout: float | None = None,
    group_by: str | None = None,
    limit: int | None = None,
) -> JobSummary:
    """`rewardlab.score_file` on Ray Data: the same output, scored by an actor pool.

    Ray Data reads the input (read tasks on the driver's node, so only it needs the file),
    ``actors`` actors each build ``reward`` once (``actor_cpus``/``actor_gpus`` each; a
    ``process`` reward gets ``ceil(actor_cpus)`` worker processes beside each actor) and
    score whole batches, and the driver writes the results in input order with the local
    job's writer: same values, statuses, reasons, signatures and row order. Batches are the
    local job's (``chunk_rows``, default 2,048 rows; ``group_by`` keeps groups whole), and
    ``resume`` continues an interrupted output exactly as the local job does.

    An actor that dies is restarted and its batch retried (`ACTOR_RETRIES` times); a batch
    that still fails becomes ``error`` rows. Joins the Ray cluster at ``address`` (``auto``,
    ``ray://...``) or starts a local Ray when Ray is not initialised (and stops it after).

    Raises:
        DataError: a malformed row (unless ``skip_bad_rows``), as in `score_file`.
        ValueError: a reward with running state (it cannot be split over actors), or more
            CPUs or GPUs asked for than the cluster has.
        RuntimeError: Ray is not installed, or no Ray cluster answers at ``address``.
    """
    if actors < 1:
        raise ValueError("actors must be at least 1")
    if reward.stateful:
        raise ValueError(
            f"reward {reward.name!r} cannot be scored on Ray: it keeps running state between batches "
            "(a running normaliser), and each actor would keep its own statistics; score it without --ray"
        )
    ray = _require_ray()
    started_ray = not ray.is_initialized()
    if started_ray:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError) as exc:  # no cluster at that address
            raise RuntimeError(f"cannot join the Ray cluster at {address!r}: {_short(exc)}") from None
    try:
        _check_resources(ray, actors, actor_cpus, actor_gpus)
        return _run(
            ray,
            input_path,
            output_path,
            reward,
            fields=fields,
            actors=actors,
            actor_cpus=actor_cpus,
            actor_gpus=actor_gpus,
            resume=resume,
            skip_bad_rows=skip_bad_rows,
            bad_rows_path=bad_rows_path,
            output_field=output_field,
            size=chunk_rows or INLINE_BATCH,
            progress=progress,
            timeout=timeout,
            group_by=group_by,
            limit=limit,
        )
    finally:
        if started_ray:
            ray.shutdown()


def _check_resources(ray: Any, actors: int, cpus: float, gpus: float) -> None:
    """Refuse a pool the cluster can never hold (Ray would wait for it forever)."""
    have = ray.cluster_resources()
    need_cpus = actors * cpus + READ_TASK_CPUS
    if need_cpus > have.get("CPU", 0.0) + 1e-9:
        raise ValueError(
            f"{actors} actors x {cpus:g} CPUs (+ {READ_TASK_CPUS:g} for reading) need {need_cpus:g} CPUs, "
            f"but the Ray cluster has {have.get('CPU', 0.0):g}; lower --actors or --actor-cpus (fractions are fine)"
        )
    if actors * gpus > have.get("GPU", 0.0) + 1e-9:
        raise ValueError(
            f"{actors} actors x {gpus:g} GPUs need {actors * gpus:g} GPUs, "
            f"but the Ray cluster has {have.get('GPU', 0.0):g}"
        )


def _run(
    ray: Any,
    input_path: str | Path,
    output_path: str | Path,
    reward: Reward,
    *,
    fields: FieldMap,
    actors: int,
    actor_cpus: float,
    actor_gpus: float,
    resume: bool,
    skip_bad_rows: bool,
    bad_rows_path: str | Path | None,
    output_field: str,
    size: int,
    progress: bool | None,
    timeout: float | None,
    group_by: str | None,
    limit: int | None,
) -> JobSummary:
    job = JobOutput(
        input_path,
        output_path,
        reward,
        fields=fields,
        workers=1,
        resume=resume,
        skip_bad_rows=skip_bad_rows,
        bad_rows_path=bad_rows_path,
        output_field=output_field,
        progress=progress,
        group_by=group_by,
    )
    stop: DataError | None = None
    finished = False
    try:
        spans = _plan(job, size, group_by, limit)
        if spans:
            stop = _score_spans(ray, job, reward, spans, actors, actor_cpus, actor_gpus, timeout)
        finished = stop is None
    finally:
        job.close(finished=finished)
    if stop is not None:
        raise stop
    return job.summary


def _score_spans(
    ray: Any,
    job: JobOutput,
    reward: Reward,
    spans: list[_Span],
    actors: int,
    actor_cpus: float,
    actor_gpus: float,
    timeout: float | None,
) -> DataError | None:
    """Stream the spans through the actor pool; write each result (or a failed batch's errors) in order."""
    attempts = ray.remote(num_cpus=0)(_Attempts).remote()
    try:
        return _stream(ray, job, reward, spans, actors, actor_cpus, actor_gpus, timeout, attempts)
    finally:
        ray.kill(attempts)


def _stream(
    ray: Any,
    job: JobOutput,
    reward: Reward,
    spans: list[_Span],
    actors: int,
    actor_cpus: float,
    actor_gpus: float,
    timeout: float | None,
    attempts: Any,
) -> DataError | None:
    import ray.data

    with warnings.catch_warnings():
        # Ray Data's context warns about deprecated settings when it first builds its own defaults
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ray.data.DataContext.get_current()
    saved = (
        context.execution_options.preserve_order,
        context.max_errored_blocks,
        context.enable_progress_bars,
        context.target_max_block_size,
    )
    context.execution_options.preserve_order = True  # results reach the driver in input order
    context.max_errored_blocks = -1  # a batch lost after its retries is written as errors, not fatal
    context.enable_progress_bars = False  # the job's own bar counts rows written
    context.target_max_block_size = None  # a span's block is never sliced, however large
    try:
        here = ray.get_runtime_context().get_node_id()
        dataset = ray.data.read_datasource(
            _datasource(job.path, spans),
            # one read task per span, each one block: Ray then neither splits blocks to reach a
            # parallelism of its own choosing nor merges a task's blocks into one
            override_num_blocks=len(spans),
            num_cpus=READ_TASK_CPUS,
            concurrency=READ_CONCURRENCY,
            label_selector={"ray.io/node-id": here},  # read on the driver's node: only it needs the file
        )
        scored = dataset.map_batches(
            _ScoreBlocks,
            fn_constructor_args=(
                _recipe(reward),
                job.path,
                job.fields,
                job.output_field,
                job.encode,
                job.skip_bad,
                max(1, math.ceil(actor_cpus)),
                timeout,
                attempts,
            ),
            batch_size=None,  # a block (one span, one local batch) is a batch
            batch_format="pyarrow",
            zero_copy_batch=True,
            # one batch at a time per actor: an actor that dies takes only that batch down with it
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(spans)), max_tasks_in_flight_per_actor=1),
            num_cpus=actor_cpus,
            num_gpus=actor_gpus or None,
        )
        results = scored.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1)
    finally:
        (
            context.execution_options.preserve_order,
            context.max_errored_blocks,
            context.enable_progress_bars,
            context.target_max_block_size,
        ) = saved
    pending = iter(spans)
    last: _Span | None = None  # the span whose result came back last
    try:
        for table in results:
            indexes = table.column(SPAN_COLUMN).to_pylist()
            for index, blob in zip(indexes, table.column("result").to_pylist(), strict=True):
                if last is None or last.index != index:
                    span = next(pending, None)
                    while span is not None and span.index < index:  # these never came back
                        stop = _write_failed(job, reward, span)
                        if stop is not None:
                            return stop
                        span = next(pending, None)
                    if span is None or span.index != index:
                        raise RuntimeError(f"Ray returned batch {index} out of order")
                    last = span
                stop = job.consume(pickle.loads(blob))
                job.bar.bar.advance(last.progress)
                if stop is not None:
                    return stop
        for span in list(pending):  # the spans after the last one that came back
            stop = _write_failed(job, reward, span)
            if stop is not None:
                return stop
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    return None


def _write_failed(job: JobOutput, reward: Reward, span: _Span) -> DataError | None:
    """A batch that did not come back from Ray: its rows are ``error``, written in their place."""
    raws = _raw_rows(job.path, span)
    failure = CallResult(Status.ERROR, reason="it never came back from Ray (its task failed; see Ray's log)")
    result: _ChunkResult = _failed_chunk(
        raws, failure, reward, job.path, job.fields, job.output_field, job.encode, job.skip_bad
    )
    stop = job.consume(result)
    job.bar.bar.advance(span.progress)
    return stop


__all__ = ["score_file_on_ray"]
