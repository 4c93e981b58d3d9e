"""Declarative reward specs (TOML, YAML, JSON or a mapping): parse, validate with every problem at once, build."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab._registry import SPEC_SUFFIXES
from rewardlab._reward import Reward, RewardParamError
from rewardlab._signature import Signature
from rewardlab.compose._base import SIGNATURE_NAME, set_spec_loader

MAX_SPEC_BYTES = 1_000_000
"""Largest spec file read: specs are hand-written configuration, not data."""

MAX_SPEC_DEPTH = 32
"""Deepest nesting of nodes (and of spec files including spec files): deeper is a cycle or a mistake."""

Path_ = tuple[Any, ...]


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


def _too_deep(data: Any, path: Path_ = ()) -> Path_ | None:
    """The first path nested deeper than `MAX_SPEC_DEPTH` levels (checked before validation recurses)."""
    if len(path) > MAX_SPEC_DEPTH * 4:
        return path
    children = data.items() if isinstance(data, Mapping) else enumerate(data) if isinstance(data, list) else ()
    for key, child in children:
        found = _too_deep(child, (*path, key))
        if found is not None:
            return found
    return None


def _build(data: Any, source: str, lines: Mapping[Path_, int] | None, base_dir: Path | None, depth: int) -> Reward:
    lines = lines or {}

    def problem(path: Path_, message: str) -> SpecProblem:
        line = next((lines[path[:cut]] for cut in range(len(path), -1, -1) if path[:cut] in lines), None)
        return SpecProblem(source, path, message, line)

    if not isinstance(data, Mapping):
        raise SpecError([problem((), f"a spec is a table/mapping at the top level, got {type(data).__name__}")])
    deep = _too_deep(data)
    if deep is not None:
        raise SpecError([problem(deep, f"nested deeper than {MAX_SPEC_DEPTH} levels")])

    # pydantic and the node models load on the first spec built, not when rewardlab.compose is imported
    from pydantic import ValidationError

    from rewardlab.compose._spec_nodes import NODE, IncludeFailed, spec_problems

    def include(text: str) -> Reward:
        target = Path(text)
        if not target.is_absolute() and base_dir is not None:
            target = base_dir / target
        if depth >= MAX_SPEC_DEPTH:
            raise IncludeFailed([f"spec files include each other more than {MAX_SPEC_DEPTH} deep (a cycle?)"])
        try:
            return _build_file(target, depth + 1)
        except SpecError as exc:
            raise IncludeFailed([f"in included spec: {p}" for p in exc.problems]) from None

    try:
        node = NODE.validate_python(data, context={"include": include})
    except ValidationError as exc:
        problems = [problem(path, message) for path, message in spec_problems(exc, data)]
        # in the order they stand in the file (pydantic reports a node's unknown keys after its fields)
        raise SpecError(sorted(problems, key=lambda p: p.line if p.line is not None else 0)) from None
    return node.built


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
