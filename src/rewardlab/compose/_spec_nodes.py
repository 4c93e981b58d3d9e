"""The nodes of a reward spec as pydantic models: one model per kind, told apart by the key naming the kind.

A node is a mapping with exactly one kind key (``reward``, ``combine``, ``gate``, ``route``,
``transform``, ``group``) or a string naming a reward or a spec file. `Node` is the
discriminated union of the kinds; ``combine`` and ``transform`` nodes are further told apart by
their value (an ``lsc_and`` combination takes other term options; each transform has its own
options). Validation is strict (no coercion: ``weight = "2"`` is an error, not 2.0) and
collects every problem of the whole tree at once.

Validating a node also builds its reward: the registry lookups, parameter checks and included
spec files are checked by the same pass, so a typo in a reward name and a wrong type three
terms later are reported together. The build needs a validation context with ``include``, a
function that builds an included spec file (`rewardlab.compose._spec` provides it).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Strict,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import Self

from rewardlab._registry import SPEC_SUFFIXES, RewardNotFound, lookup
from rewardlab._reward import FunctionReward, Reward, RewardParamError, own_instance
from rewardlab.compose._base import as_reward
from rewardlab.compose._combinators import Combination, Gate, Route, Term
from rewardlab.compose._group import PairwiseWinRate, import_preference
from rewardlab.compose._shaping import (
    Affine,
    Clip,
    GatedAccumulation,
    LengthPenalty,
    LogSigmoidCentering,
    LSCAnd,
    PreferenceAsReward,
    RunningNormalize,
)

KIND_KEYS = ("reward", "combine", "gate", "route", "transform", "group")
COMBINE_MODES = ("sum", "mean", "min", "max", "product", "lsc_and")
TERM_KEYS = frozenset({"weight", "optional"})
LSC_TERM_KEYS = frozenset({"weight", "reference", "reference_field"})
NODE_FIELD = "<node>"
"""Field of a term holding its node (a name no spec key can clash with); dropped from reported paths."""


def spec_error(message: str) -> PydanticCustomError:
    """One problem with a message of our own (the message is data, never a format string)."""
    return PydanticCustomError("spec", "{message}", {"message": message})


def problems_at(items: Sequence[tuple[tuple[Any, ...], str]], value: Any) -> ValidationError:
    """Several problems, each at a path below the value being validated."""
    return ValidationError.from_exception_data(
        "spec", [InitErrorDetails(type=spec_error(message), loc=loc, input=value) for loc, message in items]
    )


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise PydanticCustomError("finite_number", "not a finite number")
    return value


Number = Annotated[float, Strict(), AfterValidator(_finite)]
"""A finite number (an integer is accepted; a boolean or a string is not)."""
Integer = Annotated[int, Strict()]
Text = Annotated[str, Strict(), StringConstraints(min_length=1)]
"""A non-empty string."""
Flag = Annotated[bool, Strict()]


def _include(info: ValidationInfo) -> Callable[[str], Reward]:
    context = info.context or {}
    include: Callable[[str], Reward] = context["include"]
    return include


class IncludeFailed(Exception):
    """An included spec file did not build; ``messages`` say why, each with its own place."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def _included(text: str, info: ValidationInfo) -> Reward:
    """Build an included spec file; its problems are reported at the including key."""
    try:
        return _include(info)(text)
    except IncludeFailed as exc:
        raise problems_at([(("reward",), message) for message in exc.messages], text) from None


def _labelled(reward: Reward, label: str | None) -> Reward:
    """Attach a component label to a plain reward without changing it."""
    if label is None or getattr(reward, "label", None) == label:
        return reward
    clone = copy.copy(reward)
    clone.label = label  # type: ignore[attr-defined]
    return clone


def _merged(exc: ValidationError | None, extra: Sequence[tuple[tuple[Any, ...], str]], value: Any) -> ValidationError:
    """The errors of a validation together with problems found in the raw data beside it."""
    details: list[InitErrorDetails] = []
    seen = set()
    for error in exc.errors(include_url=False) if exc is not None else ():
        context = {**error.get("ctx", {}), "message": error["msg"]}
        seen.add((tuple(error["loc"]), error["msg"]))
        details.append(
            InitErrorDetails(
                type=PydanticCustomError(error["type"], "{message}", context), loc=error["loc"], input=error["input"]
            )
        )
    # a recursive model's validator can wrap its own validation: a problem already reported is not repeated
    fresh = [(loc, message) for loc, message in extra if (loc, message) not in seen]
    details += [InitErrorDetails(type=spec_error(message), loc=loc, input=value) for loc, message in fresh]
    return ValidationError.from_exception_data("spec", details)


class _SpecModel(BaseModel):
    """A part of a spec: strict, no unknown keys, and cross-key rules checked even when a field is wrong."""

    model_config = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)

    @classmethod
    def raw_problems(cls, data: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        """Problems between keys, found in the raw mapping (so they are reported beside any other)."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        extra = cls.raw_problems(data) if isinstance(data, Mapping) else []
        try:
            validated = handler(data)
        except ValidationError as exc:
            raise (_merged(exc, extra, data) if extra else exc) from None
        if extra:
            raise _merged(None, extra, data)
        return validated


class SpecNode(_SpecModel):
    """What every node may carry: a ``name`` (its component label) and a ``description``."""

    kind: ClassVar[str]
    what: ClassVar[str]
    """How problems name the node: ``a gate``."""

    name: Optional[Text] = None  # noqa: UP045 - pydantic evaluates these annotations on Python 3.10
    description: Optional[str] = None  # noqa: UP045
    _built: Reward | None = PrivateAttr(default=None)

    @property
    def built(self) -> Reward:
        """The reward this node describes (set when the node validated)."""
        assert self._built is not None, "the node did not validate"
        return self._built

    def _finish(self, build: Callable[[], Reward]) -> Self:
        try:
            self._built = build()
        except (ValueError, TypeError) as exc:
            raise problems_at([((), str(exc))], None) from None
        return self


class RewardNode(SpecNode):
    """A registered reward (``reward = "math"`` with ``params``), a signature, or an included spec file.

    A bare string node is this node with only ``reward``.
    """

    kind = "reward"
    what = "a reward"

    reward: Any
    params: Optional[dict[Any, Any]] = None  # noqa: UP045

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"reward": data} if isinstance(data, str) else data

    @field_validator("reward")
    @classmethod
    def _name(cls, value: Any) -> str:
        if isinstance(value, Mapping):
            raise spec_error("expected a reward name or a spec file; nest nodes under terms/of/then")
        if not isinstance(value, str) or not value:
            raise spec_error(f"expected a reward name, got {value!r}")
        if not value.lower().endswith(SPEC_SUFFIXES):
            _registered(value)
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[Any, Any] | None, info: ValidationInfo) -> dict[Any, Any] | None:
        """Each parameter checked on its own, so every wrong one is reported (even beside an unknown key)."""
        name = info.data.get("reward")
        if not value or name is None:
            return value
        if name.lower().endswith(SPEC_SUFFIXES):
            raise spec_error("an included spec file takes parameters as '<term>.<param>' keys")
        base = _registered(name)
        wrong = []
        for key, param in value.items():
            try:
                base(**{key: param})
            except (RewardParamError, ValueError, TypeError) as exc:
                wrong.append(((key,), str(exc)))
        if wrong:
            raise problems_at(wrong, value)
        return value

    @model_validator(mode="after")
    def _build(self, info: ValidationInfo) -> Self:
        name, params = self.reward, self.params or {}
        if name.lower().endswith(SPEC_SUFFIXES):
            included = _included(name, info)
            return self._finish(lambda: _labelled(included, self.name))
        base = _registered(name)
        built = own_instance(base, params)
        if isinstance(built, FunctionReward):
            missing = [p.name for p in built.declared.values() if p.required and p.name not in built.params]
            if missing:
                raise problems_at([(("params",), f"reward {name!r} needs parameter(s): {', '.join(missing)}")], params)
        return self._finish(lambda: _labelled(built, self.name))


def _registered(name: str) -> Reward:
    """The reward a name or a signature stands for (a spec error when there is none)."""
    try:
        return lookup(name) if "|" not in name else as_reward(name)
    except (RewardNotFound, RewardParamError, ValueError) as exc:
        raise spec_error(str(exc)) from None


class TermSpec(_SpecModel):
    """A term of a combination: a node, with its ``weight`` and whether it is ``optional``."""

    options: ClassVar[frozenset[str]] = TERM_KEYS

    node: Node = Field(alias="<node>")  # NODE_FIELD
    weight: Number = 1.0
    optional: Flag = False

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        """Term options and the node share one mapping in a spec; split them."""
        if not isinstance(data, Mapping):
            return {NODE_FIELD: data}
        return {NODE_FIELD: {k: v for k, v in data.items() if k not in cls.options}} | {
            k: v for k, v in data.items() if k in cls.options
        }


class LSCTermSpec(TermSpec):
    """A term of ``lsc_and``: a node, its ``weight``, and the centre: ``reference`` or ``reference_field``."""

    options: ClassVar[frozenset[str]] = LSC_TERM_KEYS

    reference: Optional[Number] = None  # noqa: UP045
    reference_field: Optional[Text] = None  # noqa: UP045

    @classmethod
    def raw_problems(cls, data: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        if (data.get("reference") is None) == (data.get("reference_field") is None):
            return [((), "an lsc_and term needs exactly one of reference or reference_field")]
        return []


def _duplicate_term_names(data: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    terms = data.get("terms")
    first: dict[str, int] = {}
    duplicates: list[tuple[tuple[Any, ...], str]] = []
    for index, term in enumerate(terms if isinstance(terms, list) else ()):
        name = term.get("name") if isinstance(term, Mapping) else None
        if not isinstance(name, str):
            continue
        if name in first:
            duplicates.append(
                (("terms", index, "name"), f"duplicate term name {name!r} (first at terms[{first[name]}])")
            )
        else:
            first[name] = index
    return duplicates


class CombineNode(SpecNode):
    """``combine = "sum" | "mean" | "min" | "max" | "product"`` over weighted ``terms``."""

    kind = "combine"
    what = "a combination"

    combine: Literal["sum", "mean", "min", "max", "product"]
    terms: list[TermSpec] = Field(min_length=1)

    @classmethod
    def raw_problems(cls, data: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        return _duplicate_term_names(data)

    @model_validator(mode="after")
    def _build(self) -> Self:
        terms = [Term(t.node.built, t.weight, t.node.name, t.optional) for t in self.terms]
        return self._finish(lambda: Combination(self.combine, terms, label=self.name))


class LSCAndNode(SpecNode):
    """``combine = "lsc_and"``: the log-sigmoid-centred AND of its terms."""

    kind = "combine"
    what = "a combination"

    combine: Literal["lsc_and"]
    terms: list[LSCTermSpec] = Field(min_length=1)

    @classmethod
    def raw_problems(cls, data: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        return _duplicate_term_names(data)

    @model_validator(mode="after")
    def _build(self) -> Self:
        terms = [(Term(t.node.built, t.weight, t.node.name), t.reference, t.reference_field) for t in self.terms]
        return self._finish(lambda: LSCAnd(terms, label=self.name))


class GateNode(SpecNode):
    """``gate``: ``then`` counts when the gate scores at least ``threshold``, else ``otherwise``."""

    kind = "gate"
    what = "a gate"

    gate: Node
    then: Node
    threshold: Number = 1.0
    otherwise: Number = 0.0

    @model_validator(mode="after")
    def _build(self) -> Self:
        return self._finish(
            lambda: Gate(
                self.gate.built, self.then.built, threshold=self.threshold, otherwise=self.otherwise, label=self.name
            )
        )


class RouteNode(SpecNode):
    """``route = FIELD``: the reward in ``routes`` named by the sample's field, else ``default``."""

    kind = "route"
    what = "a route"

    route: Text
    routes: dict[Any, Node] = Field(min_length=1)
    default: Optional[Node] = None  # noqa: UP045

    @model_validator(mode="after")
    def _build(self) -> Self:
        routes = {str(k): v.built for k, v in self.routes.items()}
        default = self.default.built if self.default is not None else None
        return self._finish(lambda: Route(self.route, routes, default=default, label=self.name))


class TransformNode(SpecNode):
    """``transform = KIND`` of the reward ``of``, with the options of that kind."""

    kind = "transform"
    what = "a transform"
    shaping: ClassVar[type]
    """The reward class the transform builds; its options are the node's other fields."""

    of: Node

    @model_validator(mode="after")
    def _build(self) -> Self:
        options = {k: getattr(self, k) for k in self.model_fields_set if k in self.option_names()}
        return self._finish(lambda: self.shaping(self.of.built, **options, label=self.name))

    @classmethod
    def option_names(cls) -> set[str]:
        return set(cls.model_fields) - set(TransformNode.model_fields) - {"transform"}


class ClipNode(TransformNode):
    """``clip``: the value held within [``low``, ``high``]."""

    shaping = Clip
    transform: Literal["clip"]
    low: Optional[Number] = None  # noqa: UP045
    high: Optional[Number] = None  # noqa: UP045


class AffineNode(TransformNode):
    """``affine``: ``scale * value + shift``."""

    shaping = Affine
    transform: Literal["affine"]
    scale: Optional[Number] = None  # noqa: UP045
    shift: Optional[Number] = None  # noqa: UP045


class NormalizeNode(TransformNode):
    """``normalize``: running mean/std normalisation."""

    shaping = RunningNormalize
    transform: Literal["normalize"]
    eps: Optional[Number] = None  # noqa: UP045
    clip: Optional[Number] = None  # noqa: UP045


class ParNode(TransformNode):
    """``par``: preference-as-reward against reference rewards or completions."""

    shaping = PreferenceAsReward
    transform: Literal["par"]
    k: Optional[Number] = None  # noqa: UP045
    reference_rewards_field: Optional[Text] = None  # noqa: UP045
    reference_completions_field: Optional[Text] = None  # noqa: UP045


class LSCNode(TransformNode):
    """``lsc``: log-sigmoid centring at ``reference`` or at the sample's ``reference_field``."""

    shaping = LogSigmoidCentering
    transform: Literal["lsc"]
    reference: Optional[Number] = None  # noqa: UP045
    reference_field: Optional[Text] = None  # noqa: UP045


class GatedAccumulationNode(TransformNode):
    """``gated_accumulation``: step rewards accumulated while above ``threshold``."""

    shaping = GatedAccumulation
    transform: Literal["gated_accumulation"]
    threshold: Optional[Number] = None  # noqa: UP045
    steps_field: Optional[Text] = None  # noqa: UP045
    step_weight: Optional[Number] = None  # noqa: UP045


class LengthPenaltyNode(TransformNode):
    """``length_penalty``: a penalty for length beyond ``target``."""

    shaping = LengthPenalty
    transform: Literal["length_penalty"]
    target: Integer
    coef: Optional[Number] = None  # noqa: UP045
    max_penalty: Optional[Number] = None  # noqa: UP045
    unit: Optional[Text] = None  # noqa: UP045
    length_field: Optional[Text] = None  # noqa: UP045


TRANSFORM_NODES: dict[str, type[TransformNode]] = {
    "clip": ClipNode,
    "affine": AffineNode,
    "normalize": NormalizeNode,
    "par": ParNode,
    "lsc": LSCNode,
    "gated_accumulation": GatedAccumulationNode,
    "length_penalty": LengthPenaltyNode,
}


class GroupNode(SpecNode):
    """``group = "pairwise_win_rate"``: each completion's win rate against its group under ``preference``."""

    kind = "group"
    what = "a group reward"

    group: Literal["pairwise_win_rate"]
    preference: Any
    group_by: Text = "prompt"
    symmetric: Flag = False
    temperature: Number = 1.0

    @field_validator("preference")
    @classmethod
    def _preference(cls, value: Any, info: ValidationInfo) -> Any:
        """``package.module:function`` names a preference function; anything else is a node."""
        if isinstance(value, str) and ":" in value and "|" not in value:
            try:
                import_preference(value)
            except (ImportError, AttributeError, ValueError) as exc:
                raise spec_error(f"cannot import {value!r}: {exc}") from None
            return value
        return NODE.validate_python(value, context=info.context)

    @model_validator(mode="after")
    def _build(self) -> Self:
        preference = self.preference.built if isinstance(self.preference, SpecNode) else self.preference
        return self._finish(
            lambda: PairwiseWinRate(
                preference,
                group_by=self.group_by,
                symmetric=self.symmetric,
                temperature=self.temperature,
                label=self.name,
            )
        )


def _not_a_node(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise spec_error(f"expected a table/mapping or a reward name, got {type(value).__name__}")
    kinds = [k for k in KIND_KEYS if k in value]
    found = f"found {', '.join(kinds)}" if kinds else "found none"
    raise spec_error(f"a node needs exactly one of the keys {', '.join(KIND_KEYS)} ({found})")


def _unknown_transform(value: Any) -> Any:
    choices = ", ".join(TRANSFORM_NODES)
    raise problems_at([(("transform",), f"unknown transform {value['transform']!r}; choose one of {choices}")], value)


def node_tag(value: Any) -> str:
    """Which model validates a node: the kind key present (and, for combine and transform, its value)."""
    if isinstance(value, str):
        return "<reward>"
    if isinstance(value, SpecNode):
        return f"<{value.kind}>"
    if not isinstance(value, Mapping):
        return "<invalid>"
    kinds = [k for k in KIND_KEYS if k in value]
    if len(kinds) != 1:
        return "<invalid>"
    kind = kinds[0]
    if kind == "combine":
        return "<lsc_and>" if value["combine"] == "lsc_and" else "<combine>"
    if kind == "transform":
        name = value["transform"]
        return f"<transform:{name}>" if isinstance(name, str) and name in TRANSFORM_NODES else "<transform:?>"
    return f"<{kind}>"


Node = Annotated[
    Union[  # noqa: UP007
        Annotated[RewardNode, Tag("<reward>")],
        Annotated[CombineNode, Tag("<combine>")],
        Annotated[LSCAndNode, Tag("<lsc_and>")],
        Annotated[GateNode, Tag("<gate>")],
        Annotated[RouteNode, Tag("<route>")],
        Annotated[ClipNode, Tag("<transform:clip>")],
        Annotated[AffineNode, Tag("<transform:affine>")],
        Annotated[NormalizeNode, Tag("<transform:normalize>")],
        Annotated[ParNode, Tag("<transform:par>")],
        Annotated[LSCNode, Tag("<transform:lsc>")],
        Annotated[GatedAccumulationNode, Tag("<transform:gated_accumulation>")],
        Annotated[LengthPenaltyNode, Tag("<transform:length_penalty>")],
        Annotated[GroupNode, Tag("<group>")],
        Annotated[Any, BeforeValidator(_unknown_transform), Tag("<transform:?>")],
        Annotated[Any, BeforeValidator(_not_a_node), Tag("<invalid>")],
    ],
    Discriminator(node_tag),
]
"""Any node of a spec: the kind is told by its key, so a problem is reported against that kind only."""

SYNTHETIC_LOC = {NODE_FIELD, "<reward>", "<combine>", "<lsc_and>", "<gate>", "<route>", "<group>", "<invalid>",
                 "<transform:?>", *(f"<transform:{k}>" for k in TRANSFORM_NODES)}  # fmt: skip
"""Path parts pydantic adds (union tags, the term's node field) that a spec does not have."""

_MODELS: tuple[type[BaseModel], ...] = (TermSpec, LSCTermSpec, CombineNode, LSCAndNode, GateNode, RouteNode, GroupNode)
for _model in (*_MODELS, *TRANSFORM_NODES.values()):
    _model.model_rebuild()
NODE: TypeAdapter[Any] = TypeAdapter(Node)


def model_of(value: Any) -> type[SpecNode] | None:
    """The node model a raw node would be validated by (``None`` when it is no valid kind)."""
    tag = node_tag(value)
    models: dict[str, type[SpecNode]] = {
        "<reward>": RewardNode,
        "<combine>": CombineNode,
        "<lsc_and>": LSCAndNode,
        "<gate>": GateNode,
        "<route>": RouteNode,
        "<group>": GroupNode,
        **{f"<transform:{k}>": v for k, v in TRANSFORM_NODES.items()},
    }
    return models.get(tag)


# -- problems in the words of a spec -------------------------------------------------------------

SpecPath = tuple[Any, ...]


def _spec_path(loc: Sequence[Any], data: Any) -> tuple[SpecPath, Any, Any]:
    """A validation error's location as the spec's key path; with the node holding the key, and the value."""
    path: SpecPath = ()
    parent: Any = None
    value: Any = data
    for part in loc:
        if isinstance(value, Mapping) and part in value:
            parent, value = value, value[part]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            parent, value = value, value[part]
        elif part in SYNTHETIC_LOC:
            continue  # a union tag or a term's node field: not in the spec
        elif isinstance(value, str):
            break  # a bare reward name stands for {reward = NAME}: the problem is the name itself
        else:
            parent, value = value, None  # a missing or unknown key
        path = (*path, part)
    return path, parent, value


def _term_keys(path: SpecPath, data: Any) -> frozenset[str]:
    """The term options a node at ``path`` may also carry (none unless it is a term of a combination)."""
    if len(path) < 2 or path[-2] != "terms" or not isinstance(path[-1], int):
        return frozenset()
    owner: Any = data
    for part in path[:-2]:
        owner = owner[part]
    return LSC_TERM_KEYS if owner.get("combine") == "lsc_and" else TERM_KEYS


def _what(node: Any) -> tuple[str, type[SpecNode] | None]:
    model = model_of(node)
    if model is not None and issubclass(model, TransformNode):
        return f"transform {node['transform']!r}", model
    return (model.what if model is not None else "a node"), model


def _message(error: Mapping[str, Any], path: SpecPath, node: Any, value: Any, data: Any) -> str:
    """One pydantic error in the words of a spec: what is wrong, with what was found."""
    kind = error["type"]
    key = path[-1] if path else None
    if kind == "spec":
        return str(error["ctx"]["message"])
    if kind == "missing":
        what, model = _what(node)
        if model is GateNode and key == "then":
            return "a gate needs 'then': the reward that counts when the gate passes"
        if model is not None and issubclass(model, TransformNode):
            return f"{what} needs 'of': the reward it transforms" if key == "of" else f"{what} needs {key!r}"
        if model is GroupNode and key == "preference":
            return "needs 'preference': a reward, or 'package.module:function'"
        if key == "terms":
            return "expected a non-empty list of terms"
        if key == "routes":
            return "expected a table mapping field values to rewards"
        return f"{what} needs {key!r}"
    if kind == "extra_forbidden":
        what, model = _what(node)
        allowed = set(model.model_fields) if model is not None else set()
        allowed |= _term_keys(path[:-1], data)
        return f"unknown key for {what} (allowed: {', '.join(sorted(allowed))})"
    if key == "terms":
        return "expected a non-empty list of terms"
    if key == "routes":
        return "expected a table mapping field values to rewards"
    if key == "params":
        return f"expected a table of parameters, got {type(value).__name__}"
    if kind == "literal_error":
        if key == "combine":
            return f"unknown combination {value!r}; choose one of {', '.join(COMBINE_MODES)}"
        if key == "group":
            return f"unknown group reward {value!r}; choose one of pairwise_win_rate"
        return f"expected one of {error['ctx']['expected']}, got {value!r}"
    if kind in ("float_type", "finite_number"):
        return f"expected a finite number, got {value!r}"
    if kind == "int_type":
        return f"expected an integer, got {value!r}"
    if kind == "bool_type":
        return f"expected true or false, got {value!r}"
    if kind in ("string_type", "string_too_short"):
        return f"expected a non-empty string, got {value!r}"
    return str(error["msg"])


def spec_problems(exc: ValidationError, data: Any) -> list[tuple[SpecPath, str]]:
    """Every error of a failed validation as (key path in the spec, message)."""
    out = []
    for error in exc.errors(include_url=False):
        path, owner, value = _spec_path(error["loc"], data)
        out.append((path, _message(error, path, owner, value, data)))
    return out


__all__ = ["COMBINE_MODES", "KIND_KEYS", "NODE", "Node", "SpecNode", "TRANSFORM_NODES", "model_of", "node_tag",
           "spec_problems"]  # fmt: skip
