"""`Signature`: the one reproducibility string of a reward, formatted and parsed in one place.

Shaped like sacrebleu's ``nrefs:1|case:mixed|tok:13a|version:2.0.0``: the reward's
name, then ``key:value`` parts for its parameters, then the fields that say where
and with what it ran (``backend``, ``model``), then the library version::

    exact_match|ignore_case:yes|ignore_punctuation:no|version:0.1.0
    code|credit:all|timeout:10.0|backend:bwrap|version:0.1.0
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardlab._version import __version__

FIELDS = ("backend", "model", "version")
"""Parts of a signature that describe the run, not a parameter: they come last, in this order."""

MAX_SIGNATURE_CHARS = 1_000_000
"""A signature is read back from output files (hostile input): longer ones are refused."""


class SignatureError(ValueError):
    """A signature string that cannot be read."""


def format_value(value: Any) -> str:
    """Render a parameter value: booleans as yes/no, None as none, plain strings as they are, others as JSON."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and value and value.strip() == value and not any(c in value for c in '|:\n"'):
        return value
    # "|" separates parts: escaped inside JSON, where json.loads reads it back
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).replace("|", "\\u007c")


def _read_value(text: str) -> str:
    """A part's value as a string: JSON strings are unquoted, other JSON stays text for the parameter's type."""
    if text.startswith('"'):
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            return text
        return decoded if isinstance(decoded, str) else text
    return text


@dataclass(frozen=True)
class Signature:
    """What a score was computed with: reward name, parameters and the run's fields.

    Attributes:
        name: Registered reward name (``compose`` for a composite, whose spec is its one parameter).
        params: Parameter values (as given, or as strings when parsed back).
        backend: Where the work ran when that changes results (a sandbox backend, an inference engine).
        model: Which model weights or endpoint scored it (model and judge rewards).
        version: The rewardlab version.

    Example:
        >>> s = Signature("exact_match", {"ignore_case": True})
        >>> text = s.format()
        >>> text.startswith("exact_match|ignore_case:yes|version:")
        True
        >>> Signature.parse(text).params
        {'ignore_case': 'yes'}
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    backend: str | None = None
    model: str | None = None
    version: str = __version__

    def format(self) -> str:
        """``name|key:value|...|backend:X|model:Y|version:V``.

        A field that is also a parameter's name is shown once, as the field.
        """
        fields = {"backend": self.backend, "model": self.model}
        parts = [self.name]
        parts.extend(f"{k}:{format_value(v)}" for k, v in self.params.items() if fields.get(k) is None)
        parts.extend(f"{k}:{format_value(v)}" for k, v in fields.items() if v is not None)
        parts.append(f"version:{self.version}")
        return "|".join(parts)

    def __str__(self) -> str:
        return self.format()

    @classmethod
    def parse(cls, text: str) -> Signature:
        """Read a signature back; parameter values stay strings (the reward's loader converts them).

        Raises:
            SignatureError: an empty name, a part that is not ``key:value``, or a repeated key.
        """
        if len(text) > MAX_SIGNATURE_CHARS:
            raise SignatureError(f"signature longer than {MAX_SIGNATURE_CHARS} characters")
        name, *parts = text.split("|")
        name = name.strip()
        if not name:
            raise SignatureError(f"signature {text[:80]!r} has no reward name")
        params: dict[str, str] = {}
        fields: dict[str, str] = {}
        for part in parts:
            key, sep, value = part.partition(":")
            if not sep or not key:
                raise SignatureError(f"signature part {part[:80]!r} is not key:value")
            target = fields if key in FIELDS else params
            if key in target:
                raise SignatureError(f"signature repeats {key!r}")
            target[key] = _read_value(value)
        return cls(
            name,
            params,
            backend=fields.get("backend"),
            model=fields.get("model"),
            version=fields.get("version", __version__),
        )


__all__ = ["FIELDS", "Signature", "SignatureError", "format_value"]
