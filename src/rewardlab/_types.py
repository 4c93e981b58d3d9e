"""Core value types: what a reward reads (`Sample`) and what it returns (`Score`)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

Message = Mapping[str, Any]
"""A chat message: a mapping with at least ``role`` and ``content``."""

Text = str | Sequence[Message]
"""Either plain text or a list of chat messages."""


class Status(str, Enum):
    """Outcome of scoring one sample.

    Only ``OK`` carries a value. The other statuses are kept end to end so the
    caller decides at the edge what a failure means (drop, NaN, None, raise);
    no code path in rewardlab turns them into ``0.0``.
    """

    OK = "ok"
    """The reward was computed; ``Score.value`` holds it."""
    ABSTAIN = "abstain"
    """The reward does not apply or cannot judge (e.g. the reference is unparsable)."""
    ERROR = "error"
    """The verifier itself failed (exception, crashed worker, memory limit)."""
    TIMEOUT = "timeout"
    """The verifier overran its deadline and was killed from outside."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Score:
    """The result of scoring one sample.

    Attributes:
        value: The reward, a finite float when ``status`` is ``ok``, else ``None``.
        status: ``ok``, ``abstain``, ``error`` or ``timeout``.
        components: Named sub-scores (for composite rewards or diagnostics).
        reason: Short human-readable explanation, mostly for non-ok statuses.
        signature: Reward name, parameters and library version, e.g.
            ``exact_match|ignore_case:yes|version:0.1.0``; ``rewardlab.load``
            accepts it back.

    Example:
        >>> Score.ok(1.0).value
        1.0
        >>> Score.error("verifier crashed").value is None
        True
    """

    value: float | None
    status: Status = Status.OK
    components: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""
    signature: str = ""

    def __post_init__(self) -> None:
        status = self.status if type(self.status) is Status else Status(self.status)
        object.__setattr__(self, "status", status)
        if status is Status.OK:
            if self.value is None:
                raise ValueError("a Score with status 'ok' needs a value")
            value = self.value if type(self.value) is float else float(self.value)
            if not math.isfinite(value):
                raise ValueError(f"a Score with status 'ok' needs a finite value, got {value!r}")
            object.__setattr__(self, "value", value)
        elif self.value is not None:
            raise ValueError(f"only status 'ok' carries a value; got value={self.value!r} with {status}")
        if self.components:
            object.__setattr__(self, "components", {str(k): float(v) for k, v in self.components.items()})

    @classmethod
    def ok(cls, value: float, *, components: Mapping[str, float] | None = None, reason: str = "") -> Score:
        """A computed reward."""
        return cls(value, Status.OK, dict(components or {}), reason)

    @classmethod
    def abstain(cls, reason: str, *, components: Mapping[str, float] | None = None) -> Score:
        """The reward does not apply to this sample."""
        return cls(None, Status.ABSTAIN, dict(components or {}), reason)

    @classmethod
    def error(cls, reason: str) -> Score:
        """The verifier failed; this says nothing about the completion."""
        return cls(None, Status.ERROR, {}, reason)

    @classmethod
    def timeout(cls, reason: str) -> Score:
        """The verifier overran its deadline."""
        return cls(None, Status.TIMEOUT, {}, reason)

    @property
    def is_ok(self) -> bool:
        return self.status is Status.OK

    def with_signature(self, signature: str) -> Score:
        """The same score, signed. (Skips re-validation: this score is already valid.)"""
        signed = object.__new__(Score)
        for name, value in (
            ("value", self.value),
            ("status", self.status),
            ("components", self.components),
            ("reason", self.reason),
            ("signature", signature),
        ):
            object.__setattr__(signed, name, value)
        return signed

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as written to output files."""
        return {
            "value": self.value,
            "status": self.status.value,
            "components": dict(self.components),
            "reason": self.reason,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Score:
        return cls(
            data.get("value"),
            Status(data.get("status", "ok")),
            dict(data.get("components") or {}),
            data.get("reason", ""),
            data.get("signature", ""),
        )


def _text_of(value: Text | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    for message in reversed(value):
        if message.get("role", "assistant") == "assistant":
            return _content_text(message.get("content"))
    return _content_text(value[-1].get("content")) if value else ""


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    # OpenAI-style content parts: [{"type": "text", "text": "..."}]
    parts = [part.get("text", "") for part in content if isinstance(part, Mapping)]
    return "".join(str(p) for p in parts)


@dataclass(frozen=True, slots=True)
class Sample:
    """One thing to score.

    Attributes:
        completion: The model output, as text or as chat messages.
        prompt: The input, as text or chat messages (optional).
        reference: The expected answer or task data (optional).
        extras: Every other field of the row (tests, database, task, ...).
        id: Optional identifier carried through for bookkeeping.

    Example:
        >>> s = Sample(completion="The answer is 4", reference="4")
        >>> s.completion_text
        'The answer is 4'
    """

    completion: Text
    prompt: Text | None = None
    reference: Any = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None

    @property
    def completion_text(self) -> str:
        """The completion as text (the last assistant message for chats)."""
        return _text_of(self.completion)

    @property
    def prompt_text(self) -> str:
        """The prompt as text (the last user message for chats)."""
        if self.prompt is None or isinstance(self.prompt, str):
            return self.prompt or ""
        for message in reversed(self.prompt):
            if message.get("role") == "user":
                return _content_text(message.get("content"))
        return _content_text(self.prompt[-1].get("content")) if self.prompt else ""

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the sample, looking in the named fields first, then ``extras``."""
        if key in ("completion", "prompt", "reference", "id"):
            value = getattr(self, key)
            return default if value is None else value
        return self.extras.get(key, default)

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any], fields: FieldMap | None = None) -> Sample:
        """Build a sample from a data row, renaming fields with ``fields``.

        Raises:
            SampleError: the row has no completion field.
        """
        if cls is Sample:
            default = fields is None or fields is DEFAULT_FIELDS
            return (_default_sample_maker() if default else sample_maker(fields))(row)
        fields = fields or DEFAULT_FIELDS
        if fields.completion not in row:
            raise SampleError(f"missing field {fields.completion!r}", field=fields.completion)
        named = {fields.completion, fields.prompt, fields.reference, fields.id}
        extras = {k: v for k, v in row.items() if k not in named}
        sample_id = row.get(fields.id)
        return cls(
            row[fields.completion],
            row.get(fields.prompt),
            row.get(fields.reference),
            extras,
            None if sample_id is None else str(sample_id),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extras)
        out["completion"] = self.completion
        if self.prompt is not None:
            out["prompt"] = self.prompt
        if self.reference is not None:
            out["reference"] = self.reference
        if self.id is not None:
            out["id"] = self.id
        return out


@functools.lru_cache(maxsize=32)
def sample_maker(fields: FieldMap) -> Callable[[Mapping[str, Any]], Sample]:
    """``Sample.from_mapping(row, fields)`` as a one-argument function, for building many samples.

    The score job builds one sample per row: the sample is filled slot by slot, at a fraction
    of the cost of the frozen dataclass's ``__init__`` (which would validate nothing more).
    """
    completion, prompt, reference, id_field = fields.completion, fields.prompt, fields.reference, fields.id
    new = object.__new__
    set_completion, set_prompt, set_reference, set_extras, set_id = (
        Sample.__dict__[name].__set__ for name in ("completion", "prompt", "reference", "extras", "id")
    )

    def make(row: Mapping[str, Any]) -> Sample:
        if completion not in row:
            raise SampleError(f"missing field {completion!r}", field=completion)
        extras = dict(row)
        pop = extras.pop
        pop(completion, None)
        pop(prompt, None)
        pop(reference, None)
        pop(id_field, None)
        sample_id = row.get(id_field)
        sample: Sample = new(Sample)
        set_completion(sample, row[completion])
        set_prompt(sample, row.get(prompt))
        set_reference(sample, row.get(reference))
        set_extras(sample, extras)
        set_id(sample, None if sample_id is None else str(sample_id))
        return sample

    return make


@dataclass(frozen=True, slots=True)
class FieldMap:
    """Which row fields hold the completion, prompt, reference and id."""

    completion: str = "completion"
    prompt: str = "prompt"
    reference: str = "reference"
    id: str = "id"


DEFAULT_FIELDS = FieldMap()


def _default_sample_maker() -> Callable[[Mapping[str, Any]], Sample]:
    global _DEFAULT_MAKER
    if _DEFAULT_MAKER is None:
        _DEFAULT_MAKER = sample_maker(DEFAULT_FIELDS)
    return _DEFAULT_MAKER


_DEFAULT_MAKER: Callable[[Mapping[str, Any]], Sample] | None = None


class SampleError(ValueError):
    """A data row cannot be turned into a `Sample`."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def as_sample(item: Sample | Mapping[str, Any]) -> Sample:
    """Accept a `Sample` or a plain mapping (``{"completion": ..., ...}``)."""
    if isinstance(item, Sample):
        return item
    if isinstance(item, Mapping):
        return Sample.from_mapping(item)
    if isinstance(item, str):
        return Sample(completion=item)
    raise TypeError(f"expected a Sample or a mapping, got {type(item).__name__}")
