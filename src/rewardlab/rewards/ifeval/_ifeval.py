"""``ifeval``: IFEval's verifiable instructions, checked by the reference checkers.

The checkers are those of IFEval (Zhou et al., 2023) as shipped in
lm-evaluation-harness (``lm_eval/tasks/ifeval/instructions_registry.py``), used
as they are: this module builds each instruction from the row's
``instruction_id_list`` and ``kwargs`` exactly as the harness does and asks it
``check_following``, so verdicts equal the harness's (the tests compare them).
What is added is what a reward needs around them: a malformed row is
``abstain`` instead of an exception, missing arguments are refused instead of
being replaced by random ones (the checkers pick random values for arguments
they are not given), a missing NLTK resource is an ``error`` that says what to
install, and the checkers are never handed more than ``MAX_IFEVAL_CHARS``.

Install with ``pip install 'rewardlab[ifeval]'`` (lm-eval with its ifeval extra:
langdetect, immutabledict, nltk). Two instructions tokenise with NLTK's Punkt
model (``length_constraints:number_sentences``, ``change_case:capital_word_frequency``)
and need its data: ``python -m nltk.downloader punkt_tab``.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rewardlab._reward import reward
from rewardlab._types import Sample, Score
from rewardlab.rewards._optional import require

MAX_IFEVAL_CHARS = 100_000
"""A response longer than this is not checked (scores 0): several checkers run
regular expressions and sentence splitting whose cost grows with the text."""

_LOCK = threading.Lock()
_REGISTRY: dict[str, Any] | None = None


def instruction_registry() -> dict[str, Any]:
    """IFEval's instruction id -> checker class, from lm-eval (imported once per process).

    The harness's utility module downloads NLTK data when it is imported and the
    data is missing; rewardlab never downloads at run time, so the download is
    suppressed during the import (the instructions that need the data then
    report it as an error when checked).
    """
    global _REGISTRY
    with _LOCK:
        if _REGISTRY is None:
            nltk: Any = require("nltk", extra="ifeval", reward="ifeval")
            langdetect = require("langdetect", extra="ifeval", reward="ifeval")
            real_download = nltk.download
            nltk.download = lambda *args, **kwargs: False
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    module = require("lm_eval.tasks.ifeval.instructions_registry", extra="ifeval", reward="ifeval")
            finally:
                nltk.download = real_download
            # langdetect is randomised; a fixed seed makes the language check reproducible.
            langdetect.DetectorFactory.seed = 0
            _REGISTRY = dict(module.INSTRUCTION_DICT)
        return _REGISTRY


class IfevalRowError(ValueError):
    """The row's instruction list or arguments cannot be used."""


def _decoded(value: Any) -> Any:
    """A list stored as JSON text (JSONL and Parquet exports often do) as the list."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise IfevalRowError(f"not valid JSON: {exc}") from None
    return value


def build_instructions(instruction_ids: Any, kwargs_list: Any, prompt: str) -> list[tuple[str, Any]]:
    """The checker objects for a row, built the way lm-eval's ``test_instruction_following_*`` build them.

    Raises:
        IfevalRowError: unknown id, list lengths differ, or arguments missing or wrong.
    """
    registry = instruction_registry()
    instruction_ids, kwargs_list = _decoded(instruction_ids), _decoded(kwargs_list)
    if isinstance(instruction_ids, str) or not isinstance(instruction_ids, Sequence) or not instruction_ids:
        raise IfevalRowError("instruction_id_list must be a non-empty list of instruction ids")
    if kwargs_list is None:
        kwargs_list = [{} for _ in instruction_ids]
    if not isinstance(kwargs_list, Sequence) or len(kwargs_list) != len(instruction_ids):
        raise IfevalRowError("kwargs must be a list with one mapping per instruction")
    built = []
    for instruction_id, kwargs in zip(instruction_ids, kwargs_list, strict=True):
        cls = registry.get(str(instruction_id))
        if cls is None:
            raise IfevalRowError(f"unknown instruction {instruction_id!r}")
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, Mapping):
            raise IfevalRowError(f"{instruction_id}: kwargs is not a mapping")
        instruction = cls(instruction_id)
        # As the harness does: falsy values (None, "", 0) are dropped before building.
        given = {k: v for k, v in kwargs.items() if v}
        needed = [k for k in instruction.get_instruction_args_keys() if k != "prompt"]
        missing = [k for k in needed if k not in given]
        if missing:
            raise IfevalRowError(
                f"{instruction_id}: missing {', '.join(missing)} (the checker would choose a random value)"
            )
        try:
            instruction.build_description(**given)
            args = instruction.get_instruction_args()
            if args and "prompt" in args:
                instruction.build_description(prompt=prompt)
        except (TypeError, ValueError, KeyError) as exc:
            raise IfevalRowError(f"{instruction_id}: {type(exc).__name__}: {exc}") from None
        built.append((str(instruction_id), instruction))
    return built


def loose_variants(response: str) -> list[str]:
    """IFEval's loose mode: the response, without its first and/or last line, and without ``*``."""
    lines = response.split("\n")
    remove_first = "\n".join(lines[1:]).strip()
    remove_last = "\n".join(lines[:-1]).strip()
    remove_both = "\n".join(lines[1:-1]).strip()
    variants = [response, response.replace("*", ""), remove_first, remove_last, remove_both]
    variants += [remove_first.replace("*", ""), remove_last.replace("*", ""), remove_both.replace("*", "")]
    return variants


def check_instructions(built: list[tuple[str, Any]], response: str, mode: str) -> list[bool]:
    """The verdict of each instruction, as lm-eval's strict or loose test gives it."""
    candidates = [response] if mode == "strict" else loose_variants(response)
    verdicts = []
    for _, instruction in built:
        verdicts.append(any(c.strip() and bool(instruction.check_following(c)) for c in candidates))
    return verdicts


@reward(name="ifeval", range=(0.0, 1.0))
def ifeval(
    sample: Sample,
    *,
    mode: Literal["strict", "loose"] = "strict",
    aggregate: Literal["fraction", "all"] = "fraction",
    instructions_field: str = "instruction_id_list",
    kwargs_field: str = "kwargs",
) -> Score:
    """IFEval instruction following: the share (or all) of the row's instructions the response follows.

    The row lists instruction ids in ``instruction_id_list`` (e.g.
    ``"detectable_format:title"``, ``"length_constraints:number_words"``) and
    their arguments in ``kwargs`` (one mapping each), as in the IFEval data
    (either may also be JSON text).
    ``mode="strict"`` checks the response as is; ``"loose"`` also accepts it
    without its first or last line or without ``*`` (IFEval's loose accuracy).
    ``aggregate="fraction"`` is the instruction-level score, ``"all"`` the
    prompt-level one. Components: one 0/1 per instruction, by id.
    A row without instructions, or with unknown ids or missing arguments, is ``abstain``.
    """
    ids = sample.get(instructions_field)
    if ids is None:
        return Score.abstain(f"no {instructions_field!r} field")
    try:
        built = build_instructions(ids, sample.get(kwargs_field), sample.prompt_text)
    except IfevalRowError as exc:
        return Score.abstain(str(exc))
    response = sample.completion_text
    if len(response) > MAX_IFEVAL_CHARS:
        return Score.ok(0.0, reason=f"response longer than {MAX_IFEVAL_CHARS} characters")
    try:
        verdicts = check_instructions(built, response, mode)
    except LookupError as exc:  # NLTK data the checker needs is not installed
        lines = str(exc).strip().splitlines()
        found = next((line.strip() for line in lines if "Resource" in line), "an NLTK resource is missing")
        return Score.error(f"NLTK data not installed ({found}); install it with: python -m nltk.downloader punkt_tab")
    components: dict[str, float] = {}
    for (instruction_id, _), ok in zip(built, verdicts, strict=True):
        key, n = instruction_id, 2
        while key in components:
            key, n = f"{instruction_id}#{n}", n + 1
        components[key] = float(ok)
    failed = [i for (i, _), ok in zip(built, verdicts, strict=True) if not ok]
    value = sum(verdicts) / len(verdicts) if aggregate == "fraction" else float(all(verdicts))
    reason = f"not followed: {', '.join(failed)}" if failed else ""
    return Score.ok(value, components=components, reason=reason[:500])


__all__ = ["build_instructions", "check_instructions", "ifeval", "instruction_registry"]
