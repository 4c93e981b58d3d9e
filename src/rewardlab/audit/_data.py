"""Reading audit data: which row field is the prompt, reference, completion, label, group."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab._io import DataError, iter_raw_rows, parse_row
from rewardlab._probe import read_reference
from rewardlab._types import DEFAULT_FIELDS, FieldMap, Sample

GSM8K_MARKER = "####"
"""A reference of the form ``<solution> #### <answer>`` uses the text after the last marker."""

MAX_REFERENCE_CHARS = 100_000
"""A reference longer than this is refused: it is a data error, not an answer."""

_CALCULATOR = re.compile(r"<<[^<>]*>>")
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")

_TRUE_LABELS = {"true", "yes", "1", "correct", "pass", "passed", "positive", "y", "t"}
_FALSE_LABELS = {"false", "no", "0", "incorrect", "wrong", "fail", "failed", "negative", "n", "f"}


@dataclass(frozen=True)
class AuditFields:
    """How the rows of an audit file map onto what the audit needs.

    Attributes:
        fields: Completion, prompt, reference and id fields (`rewardlab.FieldMap`).
        label_field: Field holding a correct/incorrect label for the completion.
        group_by: Field whose equal values form a group (several completions per prompt).
        reference_regex: A regular expression applied to the reference text;
            its first group (or the whole match when it has none) is the reference.
        solution_field: Field holding a worked solution (for the truncation probe).
    """

    fields: FieldMap = DEFAULT_FIELDS
    label_field: str | None = None
    group_by: str | None = None
    reference_regex: str | None = None
    solution_field: str | None = None


@dataclass
class AuditRow:
    """One row, with the reference already extracted."""

    index: int
    line: int
    id: str
    prompt: Any
    reference: Any
    reference_text: str | None
    solution: str | None
    completion: Any
    label: bool | None
    group: str | None
    extras: dict[str, Any] = field(default_factory=dict)

    def sample(self, completion: Any, suffix: str = "") -> Sample:
        """A sample of this row with another completion (probes, gold)."""
        return Sample(
            completion=completion,
            prompt=self.prompt,
            reference=self.reference,
            extras=self.extras,
            id=f"{self.id}{suffix}",
        )

    @property
    def prompt_text(self) -> str:
        return Sample(completion="", prompt=self.prompt).prompt_text


@dataclass
class AuditData:
    """Rows ready for an audit, and where they came from."""

    rows: list[AuditRow]
    source: str
    sha256: str | None
    fields: AuditFields

    @property
    def has_completions(self) -> bool:
        return any(r.completion is not None for r in self.rows)

    def describe(self) -> dict[str, Any]:
        f = self.fields
        return {
            "source": self.source,
            "sha256": self.sha256,
            "rows": len(self.rows),
            "with_completion": sum(r.completion is not None for r in self.rows),
            "with_reference": sum(r.reference_text is not None for r in self.rows),
            "with_label": sum(r.label is not None for r in self.rows),
            "fields": {
                "completion": f.fields.completion,
                "prompt": f.fields.prompt,
                "reference": f.fields.reference,
                "id": f.fields.id,
                "label": f.label_field,
                "group_by": f.group_by,
                "solution": f.solution_field,
            },
            "reference_rule": f"regex {f.reference_regex!r}"
            if f.reference_regex
            else "text after the last '####' if present, else the last \\boxed{} if present, else the whole reference",
        }


def split_reference(raw: str, regex: re.Pattern[str] | None) -> tuple[str | None, str | None]:
    """The reference answer and the worked solution (if any) in a reference text.

    Rules, in order:

    1. With ``regex``: the first group of its first match (the whole match if it
       has no group); no match means the reference cannot be read (``None``).
    2. A text containing ``####`` (GSM8K): the answer is the text after the last
       ``####``, stripped, with thousands separators removed (``1,000`` ->
       ``1000``); the solution is the text before it, without GSM8K's
       ``<<...>>`` calculator annotations.
    3. A worked solution a registered reference reader recognises (for
       example a MATH-style text with ``\\boxed{...}``, whose answer is the last
       box's content; the solution is the whole text).
    4. Otherwise the whole text, stripped, with no solution.
    """
    if regex is not None:
        match = regex.search(raw)
        if match is None:
            return None, None
        return (match.group(1) if regex.groups else match.group(0)).strip(), None
    if GSM8K_MARKER in raw:
        solution, _, answer = raw.rpartition(GSM8K_MARKER)
        return _DIGIT_COMMA.sub("", answer.strip()), _CALCULATOR.sub("", solution).strip() or None
    found = read_reference(raw)
    if found is not None:
        return found
    return raw.strip(), None


def parse_label(value: Any) -> bool | None:
    """A label as a bool: booleans, 0/1, and words like true/false, correct/incorrect, yes/no.

    Raises:
        ValueError: the value is none of those.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().casefold()
        if low in _TRUE_LABELS:
            return True
        if low in _FALSE_LABELS:
            return False
    raise ValueError(f"cannot read {value!r} as a label; use true/false, 1/0, yes/no or correct/incorrect")


def _reference_text(reference: Any) -> str | None:
    if reference is None:
        return None
    if isinstance(reference, str):
        return reference
    if isinstance(reference, (list, tuple)):
        first = next((r for r in reference if r is not None), None)
        return None if first is None else str(first)
    return str(reference)


def build_row(
    row: Mapping[str, Any], index: int, line: int, source: str, spec: AuditFields, regex: re.Pattern[str] | None
) -> AuditRow:
    """Turn one input row into an `AuditRow`, raising `DataError` that names file, line and field."""
    f = spec.fields
    for name in (spec.label_field, spec.group_by):
        if name is not None and name not in row:
            raise DataError(source, line, "missing field", field=name)
    raw_ref = row.get(f.reference)
    reference: Any = raw_ref
    text = _reference_text(raw_ref)
    solution = None
    if text is not None:
        if len(text) > MAX_REFERENCE_CHARS:
            raise DataError(source, line, f"reference longer than {MAX_REFERENCE_CHARS} characters", field=f.reference)
        answer, solution = split_reference(text, regex)
        if answer is None:
            raise DataError(
                source, line, f"reference does not match --reference-regex {spec.reference_regex!r}", field=f.reference
            )
        if isinstance(raw_ref, str):
            reference = answer
        text = answer
    if spec.solution_field is not None:
        value = row.get(spec.solution_field)
        solution = str(value) if value is not None else solution
    try:
        label = parse_label(row.get(spec.label_field)) if spec.label_field else None
    except ValueError as exc:
        raise DataError(source, line, str(exc), field=spec.label_field) from None
    group = None
    if spec.group_by is not None:
        value = row.get(spec.group_by)
        group = value if isinstance(value, str) else repr(value)
    named = {f.completion, f.prompt, f.reference, f.id}
    extras = {k: v for k, v in row.items() if k not in named}
    row_id = row.get(f.id)
    return AuditRow(
        index=index,
        line=line,
        id=str(row_id) if row_id is not None else f"row{line}",
        prompt=row.get(f.prompt),
        reference=reference,
        reference_text=text,
        solution=solution,
        completion=row.get(f.completion),
        label=label,
        group=group,
        extras=extras,
    )


def _compile(regex: str | None) -> re.Pattern[str] | None:
    if regex is None:
        return None
    try:
        return re.compile(regex)
    except re.error as exc:
        raise ValueError(f"--reference-regex {regex!r}: {exc}") from None


def load_audit_data(
    data: str | Path | Iterable[Mapping[str, Any]],
    spec: AuditFields | None = None,
    *,
    limit: int | None = None,
) -> AuditData:
    """Read rows from a JSONL/Parquet file (or take them from an iterable of mappings).

    Args:
        data: A path, or rows already in memory.
        spec: Field mapping and reference rule.
        limit: Read at most this many rows.

    Raises:
        DataError: a row is malformed (names file, line and field).
        FileNotFoundError: the file does not exist.
    """
    spec = spec or AuditFields()
    regex = _compile(spec.reference_regex)
    rows: list[AuditRow] = []
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        source = str(path)
        for raw in iter_raw_rows(path):
            if limit is not None and len(rows) >= limit:
                break
            rows.append(build_row(parse_row(path, raw), len(rows), raw.line, source, spec, regex))
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return AuditData(rows, source, digest.hexdigest(), spec)
    for number, row in enumerate(data, 1):
        if limit is not None and len(rows) >= limit:
            break
        if not isinstance(row, Mapping):
            raise DataError("<rows>", number, f"expected a mapping, got {type(row).__name__}")
        rows.append(build_row(row, len(rows), number, "<rows>", spec, regex))
    return AuditData(rows, "<rows>", None, spec)
