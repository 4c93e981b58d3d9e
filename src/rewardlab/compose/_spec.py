"""Declarative reward specs (TOML, YAML, JSON or a mapping): parse, validate with every problem at once, build."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union

if TYPE_CHECKING:
    from pydantic import BaseModel

from rewardlab._registry import SPEC_SUFFIXES, RewardNotFound, lookup
from rewardlab._reward import FunctionReward, Reward, RewardParamError, own_instance
from rewardlab._signature import Signature
from rewardlab.compose._base import SIGNATURE_NAME, as_reward, set_spec_loader
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

MAX_SPEC_BYTES = 1_000_000
"""Largest spec file read: specs are hand-written configuration, not data."""

MAX_SPEC_DEPTH = 32
"""Deepest nesting of nodes (and of spec files including spec files): deeper is a cycle or a mistake."""

Path_ = tuple[Any, ...]

def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


KIND_KEYS = ("reward", "combine", "gate", "route", "transform", "group")
COMMON_KEYS = {"name", "description"}
TERM_KEYS = {"weight", "optional"}
LSC_TERM_KEYS = {"weight", "reference", "reference_field"}
COMBINE_MODES = ("sum", "mean", "min", "max", "product", "lsc_and")

# Options of each transform: name -> (expected type, required).
TRANSFORM_OPTIONS: dict[str, dict[str, tuple[str, bool]]] = {
    "clip": {"low": ("number", False), "high": ("number", False)},
    "affine": {"scale": ("number", False), "shift": ("number", False)},
    "normalize": {"eps": ("number", False), "clip": ("number", False)},
    "par": {
        "k": ("number", False),
        "reference_rewards_field": ("string", False),
        "reference_completions_field": ("string", False),
    },
    "lsc": {"reference": ("number", False), "reference_field": ("string", False)},
    "gated_accumulation": {
        "threshold": ("number", False),
        "steps_field": ("string", False),
        "step_weight": ("number", False),
    },
    "length_penalty": {
        "target": ("integer", True),
        "coef": ("number", False),
        "max_penalty": ("number", False),
        "unit": ("string", False),
        "length_field": ("string", False),
    },
}
TRANSFORMS: dict[str, type] = {
    "clip": Clip,
    "affine": Affine,
    "normalize": RunningNormalize,
    "par": PreferenceAsReward,
    "lsc": LogSigmoidCentering,
    "gated_accumulation": GatedAccumulation,
    "length_penalty": LengthPenalty,
}
GROUP_KINDS = ("pairwise_win_rate",)

@functools.cache
def transform_options_model(kind: str) -> type[BaseModel]:
    """The pydantic model of a transform's options (types from `TRANSFORM_OPTIONS`; strict: no coercion)."""
    # pydantic is imported here, on first use: loading a reward by name never needs it
    from pydantic import AfterValidator, StrictFloat, StrictInt, StrictStr, StringConstraints, create_model

    types: dict[str, Any] = {
        "number": Annotated[Union[StrictInt, StrictFloat], AfterValidator(_finite)],  # noqa: UP007
        "integer": StrictInt,
        "string": Annotated[StrictStr, StringConstraints(min_length=1)],
    }
    fields: dict[str, Any] = {
        key: (types[expected], ... if required else None)
        for key, (expected, required) in TRANSFORM_OPTIONS[kind].items()
    }
    return create_model(f"{kind}_options", **fields)


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec: where (file, line, key path) and what."""

    source: str
    path: Path_
    message: str
    line: int | None = None

    @property
    def key(self) -> str:
        """The key path as written in the spec: ``terms[1].params.tags``."""
        return format_path(self.path)

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        return f"{where}: {self.key}: {self.message}"


class SpecError(ValueError):
    """A spec has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in reward spec:\n" + "\n".join(map(str, problems))
        )


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


# -- reading files with line numbers --------------------------------------------------------------

_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_KEY_RE = re.compile(rf"^({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_ARRAY_TABLE_RE = re.compile(r"^\[\[\s*(.+?)\s*\]\]")
_TABLE_RE = re.compile(r"^\[\s*([^\[\]]+?)\s*\]")


def _split_key(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(rf"{_BARE_OR_QUOTED}", text)]


def toml_lines(text: str) -> dict[Path_, int]:
    """Line numbers of TOML keys and tables by key path (``("terms", 1, "weight")`` -> 12).

    A light scanner, not a parser: it follows ``[table]``, ``[[array]]`` and
    ``key = value`` lines; keys inside inline tables map to their parent's line.
    """
    lines: dict[Path_, int] = {}
    arrays: dict[Path_, int] = {}
    current: Path_ = ()

    def resolve(keys: Sequence[str]) -> Path_:
        path: Path_ = ()
        for key in keys:
            path = (*path, key)
            if path in arrays:
                path = (*path, arrays[path])
        return path

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ARRAY_TABLE_RE.match(line)
        if match:
            keys = _split_key(match.group(1))
            base = (*resolve(keys[:-1]), keys[-1])
            arrays[base] = arrays.get(base, -1) + 1
            current = (*base, arrays[base])
            lines.setdefault(base, number)
            lines[current] = number
            continue
        match = _TABLE_RE.match(line)
        if match:
            current = resolve(_split_key(match.group(1)))
            lines.setdefault(current, number)
            continue
        match = _KEY_RE.match(line)
        if match:
            lines.setdefault((*current, *_split_key(match.group(1))), number)
    return lines


def yaml_lines(text: str) -> dict[Path_, int]:
    """Line numbers of YAML (and most JSON) keys and items by key path."""
    import yaml

    lines: dict[Path_, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: Any, path: Path_) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                lines.setdefault(child, key.start_mark.line + 1)
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault((*path, index), item.start_mark.line + 1)
                walk(item, (*path, index))

    if root is not None:
        lines[()] = root.start_mark.line + 1
        walk(root, ())
    return lines


def read_spec_file(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse a spec file; returns the data and a key-path -> line table.

    Raises:
        SpecError: the file is missing, too large or not valid TOML/YAML/JSON.
    """
    source = str(path)
    if not path.is_file():
        raise SpecError([SpecProblem(source, (), "no such file")])
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError([SpecProblem(source, (), f"larger than {MAX_SPEC_BYTES} bytes; not a spec")])
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"line (\d+)", str(exc))
            if found is None and "end of document" in str(exc):
                found = re.match(r"(\d+)", str(max(1, len(text.splitlines()))))
            raise SpecError(
                [SpecProblem(source, (), f"invalid TOML: {exc}", int(found.group(1)) if found else None)]
            ) from None
        return data, toml_lines(text)
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise SpecError([SpecProblem(source, (), f"invalid YAML: {exc}".replace("\n", " "), line)]) from None
        return data, yaml_lines(text)
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError([SpecProblem(source, (), f"invalid JSON: {exc.msg}", exc.lineno)]) from None
        return data, yaml_lines(text)
    raise SpecError([SpecProblem(source, (), f"unknown spec file type {suffix!r}; use {', '.join(SPEC_SUFFIXES)}")])


# -- building ---------------------------------------------------------------------------------------


def _kind(value: Any, expected: str) -> bool:
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "string":
        return isinstance(value, str) and bool(value)
    if expected == "bool":
        return isinstance(value, bool)
    raise AssertionError(expected)


class _Builder:
    """Walks a spec, building rewards and collecting every problem instead of stopping at the first."""

    def __init__(self, source: str, lines: Mapping[Path_, int] | None, base_dir: Path | None, depth: int) -> None:
        self.source = source
        self.lines = lines or {}
        self.base_dir = base_dir
        self.depth = depth
        self.problems: list[SpecProblem] = []

    def problem(self, path: Path_, message: str) -> None:
        line = None
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                line = self.lines[path[:cut]]
                break
        self.problems.append(SpecProblem(self.source, path, message, line))

    def number(self, node: Mapping[str, Any], key: str, path: Path_, default: float) -> float:
        value = node.get(key, default)
        if not _kind(value, "number"):
            self.problem((*path, key), f"expected a finite number, got {value!r}")
            return default
        return float(value)

    def string(self, node: Mapping[str, Any], key: str, path: Path_, default: str | None) -> str | None:
        value = node.get(key, default)
        if value is not None and not _kind(value, "string"):
            self.problem((*path, key), f"expected a non-empty string, got {value!r}")
            return default
        return value

    def check_keys(self, node: Mapping[str, Any], path: Path_, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                self.problem((*path, key), f"unknown key for {what} (allowed: {', '.join(sorted(allowed))})")

    # A node is a mapping with exactly one kind key, or a string naming a reward.
    def build(self, node: Any, path: Path_, extra: set[str] = frozenset()) -> Reward | None:  # type: ignore[assignment]
        if len(path) > MAX_SPEC_DEPTH * 4:
            self.problem(path, f"nested deeper than {MAX_SPEC_DEPTH} levels")
            return None
        if isinstance(node, str):
            return self.leaf_reference(node, path)
        if not isinstance(node, Mapping):
            self.problem(path, f"expected a table/mapping or a reward name, got {type(node).__name__}")
            return None
        kinds = [k for k in KIND_KEYS if k in node]
        if len(kinds) != 1:
            found = f"found {', '.join(kinds)}" if kinds else "found none"
            self.problem(path, f"a node needs exactly one of the keys {', '.join(KIND_KEYS)} ({found})")
            return None
        label = self.string(node, "name", path, None)
        builder = getattr(self, f"build_{kinds[0]}")
        return builder(node, path, label, extra)

    def leaf_reference(self, text: str, path: Path_) -> Reward | None:
        if text.lower().endswith(SPEC_SUFFIXES):
            return self.include(text, path)
        try:
            return as_reward(text)
        except (RewardNotFound, RewardParamError, ValueError) as exc:
            self.problem(path, str(exc))
            return None

    def include(self, text: str, path: Path_) -> Reward | None:
        target = Path(text)
        if not target.is_absolute() and self.base_dir is not None:
            target = self.base_dir / target
        if self.depth >= MAX_SPEC_DEPTH:
            self.problem(path, f"spec files include each other more than {MAX_SPEC_DEPTH} deep (a cycle?)")
            return None
        try:
            return _build_file(target, self.depth + 1)
        except SpecError as exc:
            for p in exc.problems:
                self.problem(path, f"in included spec: {p}")
            return None

    def build_reward(self, node: Mapping[str, Any], path: Path_, label: str | None, extra: set[str]) -> Reward | None:
        self.check_keys(node, path, {"reward", "params"} | COMMON_KEYS | extra, "a reward")
        name = node["reward"]
        params = node.get("params") or {}
        if not isinstance(params, Mapping):
            self.problem((*path, "params"), f"expected a table of parameters, got {type(params).__name__}")
            params = {}
        if isinstance(name, Mapping):
            self.problem((*path, "reward"), "expected a reward name or a spec file; nest nodes under terms/of/then")
            return None
        if not _kind(name, "string"):
            self.problem((*path, "reward"), f"expected a reward name, got {name!r}")
            return None
        if name.lower().endswith(SPEC_SUFFIXES):
            if params:
                self.problem((*path, "params"), "an included spec file takes parameters as '<term>.<param>' keys")
            built = self.include(name, (*path, "reward"))
            if built is not None and params:
                try:
                    built = built(**params)
                except (RewardParamError, ValueError) as exc:
                    self.problem((*path, "params"), str(exc))
            return built
        try:
            base = lookup(name) if "|" not in name else as_reward(name)
        except (RewardNotFound, RewardParamError, ValueError) as exc:
            self.problem((*path, "reward"), str(exc))
            return None
        ok = True
        for key, value in params.items():
            try:
                base(**{key: value})
            except (RewardParamError, ValueError, TypeError) as exc:
                self.problem((*path, "params", key), str(exc))
                ok = False
        if not ok:
            return None
        built = own_instance(base, params)
        if isinstance(built, FunctionReward):
            missing = [p.name for p in built.declared.values() if p.required and p.name not in built.params]
            if missing:
                self.problem((*path, "params"), f"reward {name!r} needs parameter(s): {', '.join(missing)}")
                return None
        if label:
            built = _Labelled.wrap(built, label)
        return built

    def term_list(self, node: Mapping[str, Any], path: Path_, extra: set[str]) -> list[tuple[Any, Path_]] | None:
        terms = node.get("terms")
        if not isinstance(terms, list) or not terms:
            self.problem((*path, "terms"), "expected a non-empty list of terms")
            return None
        return [(term, (*path, "terms", i)) for i, term in enumerate(terms)]

    def build_combine(self, node: Mapping[str, Any], path: Path_, label: str | None, extra: set[str]) -> Reward | None:
        self.check_keys(node, path, {"combine", "terms"} | COMMON_KEYS | extra, "a combination")
        how = node["combine"]
        if how not in COMBINE_MODES:
            self.problem((*path, "combine"), f"unknown combination {how!r}; choose one of {', '.join(COMBINE_MODES)}")
            return None
        items = self.term_list(node, path, extra)
        if items is None:
            return None
        term_keys = LSC_TERM_KEYS if how == "lsc_and" else TERM_KEYS
        built: list[Any] = []
        names: dict[str, Path_] = {}
        failed = False
        for term, term_path in items:
            child = self.build(term, term_path, term_keys)
            options = term if isinstance(term, Mapping) else {}
            weight = self.number(options, "weight", term_path, 1.0)
            optional = options.get("optional", False)
            if not isinstance(optional, bool):
                self.problem((*term_path, "optional"), f"expected true or false, got {optional!r}")
            name = self.string(options, "name", term_path, None)
            if name is not None:
                if name in names:
                    self.problem(
                        (*term_path, "name"), f"duplicate term name {name!r} (first at {format_path(names[name])})"
                    )
                names[name] = term_path
            if how == "lsc_and":
                ref, field = options.get("reference"), options.get("reference_field")
                if (ref is None) == (field is None):
                    self.problem(term_path, "an lsc_and term needs exactly one of reference or reference_field")
                    failed = True
                elif ref is not None and not _kind(ref, "number"):
                    self.problem((*term_path, "reference"), f"expected a number, got {ref!r}")
                    failed = True
                elif field is not None and not _kind(field, "string"):
                    self.problem((*term_path, "reference_field"), f"expected a field name, got {field!r}")
                    failed = True
                if child is not None:
                    built.append((Term(child, weight, name), ref, field))
            elif child is not None:
                built.append(Term(child, weight, name, bool(optional) if isinstance(optional, bool) else False))
            failed = failed or child is None
        if failed:
            return None
        try:
            if how == "lsc_and":
                return LSCAnd(built, label=label)
            return Combination(how, built, label=label)
        except (ValueError, TypeError) as exc:
            self.problem(path, str(exc))
            return None

    def build_gate(self, node: Mapping[str, Any], path: Path_, label: str | None, extra: set[str]) -> Reward | None:
        self.check_keys(node, path, {"gate", "then", "threshold", "otherwise"} | COMMON_KEYS | extra, "a gate")
        gate = self.build(node["gate"], (*path, "gate"))
        if "then" not in node:
            self.problem((*path, "then"), "a gate needs 'then': the reward that counts when the gate passes")
            return None
        then = self.build(node["then"], (*path, "then"))
        threshold = self.number(node, "threshold", path, 1.0)
        otherwise = self.number(node, "otherwise", path, 0.0)
        if gate is None or then is None:
            return None
        return Gate(gate, then, threshold=threshold, otherwise=otherwise, label=label)

    def build_route(self, node: Mapping[str, Any], path: Path_, label: str | None, extra: set[str]) -> Reward | None:
        self.check_keys(node, path, {"route", "routes", "default"} | COMMON_KEYS | extra, "a route")
        field = self.string(node, "route", path, None)
        routes = node.get("routes")
        if not isinstance(routes, Mapping) or not routes:
            self.problem((*path, "routes"), "expected a table mapping field values to rewards")
            return None
        built = {str(k): self.build(v, (*path, "routes", k)) for k, v in routes.items()}
        default = self.build(node["default"], (*path, "default")) if "default" in node else None
        if field is None or any(v is None for v in built.values()) or ("default" in node and default is None):
            return None
        return Route(field, built, default=default, label=label)  # type: ignore[arg-type]

    def build_transform(
        self, node: Mapping[str, Any], path: Path_, label: str | None, extra: set[str]
    ) -> Reward | None:
        kind = node["transform"]
        if kind not in TRANSFORMS:
            self.problem((*path, "transform"), f"unknown transform {kind!r}; choose one of {', '.join(TRANSFORMS)}")
            return None
        options = TRANSFORM_OPTIONS[kind]
        self.check_keys(node, path, {"transform", "of"} | set(options) | COMMON_KEYS | extra, f"transform {kind!r}")
        if "of" not in node:
            self.problem((*path, "of"), f"transform {kind!r} needs 'of': the reward it transforms")
            return None
        inner = self.build(node["of"], (*path, "of"))
        from pydantic import ValidationError

        kwargs: dict[str, Any] = {}
        ok = True
        try:
            given = transform_options_model(kind).model_validate({k: node[k] for k in options if k in node})
            kwargs = given.model_dump(exclude_unset=True)
        except ValidationError as exc:
            ok = False
            reported: set[str] = set()
            for error in exc.errors():
                key = str(error["loc"][0])
                if key in reported:  # a union reports once per member: one problem per key is enough
                    continue
                reported.add(key)
                if error["type"] == "missing":
                    self.problem((*path, key), f"transform {kind!r} needs {key!r}")
                else:
                    expected = options[key][0]
                    article = "an" if expected == "integer" else "a"
                    self.problem((*path, key), f"expected {article} {expected}, got {node[key]!r}")
        if inner is None or not ok:
            return None
        try:
            return TRANSFORMS[kind](inner, **kwargs, label=label)
        except (ValueError, TypeError) as exc:
            self.problem(path, str(exc))
            return None

    def build_group(self, node: Mapping[str, Any], path: Path_, label: str | None, extra: set[str]) -> Reward | None:
        allowed = {"group", "preference", "group_by", "symmetric", "temperature"} | COMMON_KEYS | extra
        self.check_keys(node, path, allowed, "a group reward")
        if node["group"] not in GROUP_KINDS:
            self.problem(
                (*path, "group"), f"unknown group reward {node['group']!r}; choose one of {', '.join(GROUP_KINDS)}"
            )
            return None
        if "preference" not in node:
            self.problem((*path, "preference"), "needs 'preference': a reward, or 'package.module:function'")
            return None
        preference_node = node["preference"]
        preference: Any
        if isinstance(preference_node, str) and ":" in preference_node and "|" not in preference_node:
            try:
                preference = import_preference(preference_node)
            except (ImportError, AttributeError, ValueError) as exc:
                self.problem((*path, "preference"), f"cannot import {preference_node!r}: {exc}")
                return None
            preference = preference_node
        else:
            preference = self.build(preference_node, (*path, "preference"))
        group_by = self.string(node, "group_by", path, "prompt")
        symmetric = node.get("symmetric", False)
        if not isinstance(symmetric, bool):
            self.problem((*path, "symmetric"), f"expected true or false, got {symmetric!r}")
            symmetric = False
        temperature = self.number(node, "temperature", path, 1.0)
        if preference is None or group_by is None:
            return None
        try:
            return PairwiseWinRate(
                preference, group_by=group_by, symmetric=symmetric, temperature=temperature, label=label
            )
        except (ValueError, TypeError) as exc:
            self.problem(path, str(exc))
            return None


class _Labelled:
    """Attach a component label to a plain reward without changing it."""

    @staticmethod
    def wrap(reward: Reward, label: str) -> Reward:
        if getattr(reward, "label", None) == label:
            return reward
        import copy

        clone = copy.copy(reward)
        clone.label = label  # type: ignore[attr-defined]
        return clone


def _build(data: Any, source: str, lines: Mapping[Path_, int] | None, base_dir: Path | None, depth: int) -> Reward:
    builder = _Builder(source, lines, base_dir, depth)
    if not isinstance(data, Mapping):
        builder.problem((), f"a spec is a table/mapping at the top level, got {type(data).__name__}")
        raise SpecError(builder.problems)
    built = builder.build(data, ())
    if builder.problems or built is None:
        raise SpecError(builder.problems or [SpecProblem(source, (), "could not build the spec")])
    return built


def _build_file(path: Path, depth: int) -> Reward:
    data, lines = read_spec_file(path)
    return _build(data, str(path), lines, path.parent, depth)


def build_spec(mapping: Mapping[str, Any], source: str = "<mapping>") -> Reward:
    """Build a reward from a spec mapping (the Python form of a spec file).

    Relative spec-file references inside resolve against the current directory.

    Raises:
        SpecError: every problem found, each with its key path.

    Example:
        >>> r = build_spec({"combine": "sum", "terms": [
        ...     {"reward": "format", "weight": 0.2},
        ...     {"reward": "exact_match", "name": "answer"}]})
        >>> r.score([{"completion": "<think>a</think><answer>4</answer>", "reference": "4"}])[0].components
        {'format': 1.0, 'answer': 0.0}
    """
    return _build(mapping, source, None, None, 0)


def load_spec_file(path: str | Path) -> Reward:
    """Build a reward from a spec file (``.toml``, ``.yaml``/``.yml`` or ``.json``).

    Raises:
        SpecError: every problem found, each with file, line and key path.
    """
    return _build_file(Path(path), 0)


def check_spec(spec: str | Path | Mapping[str, Any]) -> list[SpecProblem]:
    """Validate a spec without scoring anything; returns every problem (empty when valid).

    Rewards are looked up and their parameters type-checked; nothing is run.
    """
    try:
        if isinstance(spec, Mapping):
            build_spec(spec)
        else:
            load_spec_file(spec)
    except SpecError as exc:
        return exc.problems
    return []


def from_signature(signature: str | Signature) -> Reward:
    """Rebuild a composite reward from its signature: ``compose|spec:{...}|version:X``.

    Raises:
        RewardParamError: not a composite signature, or its spec is not a JSON object.
        SpecError: the spec does not build.
    """
    parsed = Signature.parse(signature) if isinstance(signature, str) else signature
    if parsed.name != SIGNATURE_NAME:
        raise RewardParamError(f"not a composite signature: {parsed.name!r}")
    extra = set(parsed.params) - {"spec"}
    if extra:
        raise RewardParamError(f"{SIGNATURE_NAME!r} takes only 'spec' (got {', '.join(sorted(extra))})")
    spec = parsed.params.get("spec")
    if spec is None:
        raise RewardParamError(f"{SIGNATURE_NAME!r} needs parameter 'spec' (a composite reward's JSON spec)")
    try:
        data = json.loads(spec) if isinstance(spec, str) else spec
    except json.JSONDecodeError as exc:
        raise RewardParamError(f"{SIGNATURE_NAME!r}: spec is not JSON ({exc.msg})") from None
    if not isinstance(data, Mapping):
        raise RewardParamError(f"{SIGNATURE_NAME!r}: spec must be a JSON object")
    return build_spec(data, source="<signature>")


def _load_spec_like(value: str | Mapping[str, Any]) -> Reward:
    """A composite from a mapping, a spec file path or a composite signature (installed into `as_reward`)."""
    if isinstance(value, Mapping):
        return build_spec(value)
    if value.lower().endswith(SPEC_SUFFIXES):
        return load_spec_file(value)
    return from_signature(value)


set_spec_loader(_load_spec_like)
