"""What reward families know about themselves: probes, gold-answer writers, reference readers, task fields.

A probe turns one data row into completions that must *not* earn full credit;
a gold-answer writer turns a reference into a well-formed full-credit answer;
a reference reader splits a worked solution into answer and solution; task
fields are the row fields (beyond completion, prompt and reference) a family's
rewards read. All live in registries at the bottom of the package, so a reward
family registers its own (``rewardlab/rewards/code/_audit.py``) without
importing the audit, and the audit, the score job and the CLI know no family by
name. Family modules and third-party packages are found through the
``rewardlab.probes`` entry-point group (a module, imported on first use, or a
`Probe` object).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardlab._registry import NotRegistered, Registry

PROBE_ENTRY_POINT_GROUP = "rewardlab.probes"
"""Entry-point group of modules that register probes, gold-answer writers, reference readers and task fields."""

TASK_FIELD_ENTRY_POINT_GROUP = "rewardlab.task_fields"
"""Entry-point group naming, per reward, the module that registers its task fields: asking for one
reward's fields imports that family's module only, not every family's."""


@dataclass(frozen=True)
class ProbeInput:
    """What a probe sees of one data row.

    Attributes:
        prompt: The row's prompt as text ("" when there is none).
        reference: The reference answer as text.
        solution: A worked solution when the data has one (e.g. GSM8K's
            ``answer`` text before ``####``), else ``None``.
        fields: Every field of the row, for family probes (``entry_point``, ``tests``...).
        wrong: Wrong answers of the same kind as the reference (numbers near a
            numeric reference, other rows' references otherwise); never equal
            to the reference and, where possible, not containing it.
        rng: A random generator seeded per row, so probes are reproducible.
    """

    prompt: str
    reference: str
    solution: str | None
    fields: Mapping[str, Any]
    wrong: Sequence[str]
    rng: random.Random


ProbeFn = Callable[[ProbeInput], Iterable[tuple[str, str]]]
"""A probe generator: yields ``(variant, completion)`` pairs for one row."""


@dataclass(frozen=True)
class Probe:
    """One kind of attack.

    Attributes:
        name: Short identifier, used in reports and in ``--fail-on probe_fpr[NAME]``.
        description: One line saying what the attack is.
        generate: Yields ``(variant, completion)`` pairs for a row; nothing when
            the probe does not apply to that row.
        rewards: Names of the rewards it applies to; ``None`` for every reward.
        needs_reference: Runs only on rows that have a reference (most attacks
            are built around it); ``False`` for attacks like the empty answer.
    """

    name: str
    description: str
    generate: ProbeFn = field(repr=False)
    rewards: tuple[str, ...] | None = None
    needs_reference: bool = True

    def applies_to(self, reward_name: str) -> bool:
        return self.rewards is None or reward_name in self.rewards


GoldRenderer = Callable[[str, Mapping[str, Any]], str]
"""Turns ``(reference, row fields)`` into a well-formed answer."""

PROBES: Registry[Probe] = Registry("probe", PROBE_ENTRY_POINT_GROUP, accepts=lambda obj: isinstance(obj, Probe))
"""Every probe by name: generic ones (`rewardlab.audit`), family ones and third-party ones (entry points)."""

GOLD: Registry[GoldRenderer] = Registry("gold-answer writer", PROBE_ENTRY_POINT_GROUP, accepts=lambda obj: False)
"""Reward name -> how its reference is written as a full-credit answer (filled by the same modules)."""


def _load_plugins() -> None:
    """Import every module of the probe entry-point group (families' and third parties'): they register."""
    PROBES.all()


def register_probe(probe: Probe, *, replace: bool = False) -> Probe:
    """Add a probe to the registry.

    Raises:
        ValueError: another probe already has this name (unless ``replace``).
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", probe.name):
        raise ValueError(f"probe name {probe.name!r}: use letters, digits, '_', '.' or '-'")
    if not replace and PROBES.find(probe.name) not in (None, probe):
        raise ValueError(f"a probe named {probe.name!r} is already registered")
    return PROBES.register(probe.name, probe, replace=True)


def probe(
    name: str, description: str, *, rewards: Sequence[str] | None = None, needs_reference: bool = True
) -> Callable[[ProbeFn], Probe]:
    """Decorator form of `register_probe`.

    Example:
        >>> @probe("shout", "the reference in capitals, then a wrong answer", rewards=["my_reward"])
        ... def shout(row):
        ...     yield "caps", f"{row.reference.upper()}! no, {row.wrong[0]}"
    """

    def wrap(fn: ProbeFn) -> Probe:
        scope = None if rewards is None else tuple(rewards)
        return register_probe(Probe(name, description, fn, scope, needs_reference), replace=True)

    return wrap


def list_probes(reward_name: str | None = None) -> list[Probe]:
    """Registered probes, in registration order; only those for ``reward_name`` when given."""
    _load_plugins()
    return [p for p in PROBES.items() if reward_name is None or p.applies_to(reward_name)]


def select_probes(reward_name: str, names: Sequence[str] | None = None) -> list[Probe]:
    """The probes to run for a reward: all that apply, or the named ones.

    Raises:
        ValueError: a name is not a registered probe.
    """
    available = list_probes()
    if names is None:
        return [p for p in available if p.applies_to(reward_name)]
    by_name = {p.name: p for p in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown probe(s): {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def register_gold_renderer(reward_names: Sequence[str], renderer: GoldRenderer) -> None:
    """Say how a reference is written as a well-formed answer for these rewards."""
    for name in reward_names:
        GOLD.register(name, renderer, replace=True)


def render_gold(reward_name: str, reference: str, fields: Mapping[str, Any] | None = None) -> str:
    """The reference as a well-formed answer for ``reward_name``.

    Rewards without a writer of their own get the reference text unchanged,
    which is what string-comparing rewards (``exact_match``, ``contains``) expect.
    """
    _load_plugins()
    renderer = GOLD.find(reward_name)
    if renderer is None:
        return reference
    return renderer(reference, fields or {})


ReferenceReader = Callable[[str], "tuple[str, str | None] | None"]
"""Reads a worked-solution reference: ``(answer, solution)``, or ``None`` when the text is not of its kind."""

READERS: Registry[ReferenceReader] = Registry("reference reader", PROBE_ENTRY_POINT_GROUP, accepts=lambda obj: False)
"""Family readers of worked-solution references (the math family reads ``\\boxed{}`` solutions)."""


def register_reference_reader(name: str, reader: ReferenceReader) -> None:
    """Add a reader of worked-solution references (tried in registration order)."""
    READERS.register(name, reader, replace=True)


def read_reference(raw: str) -> tuple[str, str | None] | None:
    """The first registered reader's ``(answer, solution)`` for ``raw``, or ``None`` when none applies."""
    _load_plugins()
    for reader in READERS.items():
        found = reader(raw)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class TaskField:
    """A row field a reward reads besides ``completion``, ``prompt``, ``reference`` and ``id``.

    Task fields define the task itself (tests, a database, a tool schema): two
    rows that differ in them are different tasks even with the same prompt.

    Attributes:
        name: The field's default name; ``None`` when only a parameter names it
            (``length(length_field=...)``).
        description: What the field holds, one line.
        param: The reward parameter that renames the field (``db_field``), if any.
        required: A row needs this field, or another required field of the same
            reward, to be scored at all (without any, the reward abstains): the
            code reward needs one of ``test``, ``tests``, ``calls`` or ``io``.
    """

    name: str | None
    description: str
    param: str | None = None
    required: bool = False

    def resolve(self, params: Mapping[str, Any]) -> str | None:
        """The field's name for a reward built with ``params`` (``None``: the reward reads no such field)."""
        if self.param is not None and self.param in params:
            value = params[self.param]
            return value if isinstance(value, str) and value else None
        return self.name


FIELDS: Registry[tuple[TaskField, ...]] = Registry(
    "task-field list", TASK_FIELD_ENTRY_POINT_GROUP, accepts=lambda obj: False
)
"""Reward name -> the task fields it reads (filled by the families' modules, found by reward name)."""


def register_task_fields(reward_names: Sequence[str], fields: Sequence[TaskField]) -> None:
    """Say which task fields these rewards read.

    Example:
        >>> register_task_fields(["my_reward"], [TaskField("schema", "the JSON schema the answer must follow")])
        >>> task_fields("my_reward")
        ('schema',)
    """
    for name in reward_names:
        FIELDS.register(name, tuple(fields), replace=True)


def declared_task_fields(reward_name: str) -> tuple[TaskField, ...]:
    """The task fields registered for ``reward_name`` (none for a reward no family declared).

    The module the task-field entry point of that name points to is imported;
    only when there is none are all the probe group's modules (which may
    register task fields too) imported.
    """
    found = FIELDS.find(reward_name)
    if found is None:
        try:
            found = FIELDS.get(reward_name)
        except NotRegistered:
            _load_plugins()
            found = FIELDS.find(reward_name)
    return found or ()


def task_fields(reward_name: str, params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The names of the task fields ``reward_name`` reads when built with ``params`` (renames applied)."""
    names = (field.resolve(params or {}) for field in declared_task_fields(reward_name))
    return tuple(dict.fromkeys(n for n in names if n is not None))


def unmet_task_fields(
    reward_name: str, params: Mapping[str, Any] | None, row: Mapping[str, Any]
) -> tuple[tuple[str, str | None], ...]:
    """The required task fields of ``reward_name`` as ``(field, renaming parameter)`` when ``row`` has none
    of them (so the reward can only abstain on it); ``()`` when it has one or the reward requires none."""
    required = [(f.resolve(params or {}), f.param) for f in declared_task_fields(reward_name) if f.required]
    named = [(name, param) for name, param in required if name is not None]
    if not named or any(row.get(name) is not None for name, _ in named):
        return ()
    return tuple(named)


def all_task_fields() -> tuple[str, ...]:
    """Every task field any registered reward reads under its default name, in registration order."""
    _load_plugins()
    return tuple(dict.fromkeys(f.name for fields in FIELDS.all() for f in fields if f.name is not None))
