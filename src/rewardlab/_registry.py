"""Where rewards are found by name: built-ins, decorated functions, entry points."""

from __future__ import annotations

import difflib
import importlib
import json
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from rewardlab._reward import FunctionReward, Reward, RewardParamError, coerce_param

ENTRY_POINT_GROUP = "rewardlab.rewards"
"""Third-party packages add rewards by naming a module or a `Reward` object under this group."""

# Built-in rewards are imported on first use, so `import rewardlab` stays cheap
# and heavy verifiers (sympy, sqlglot) load only when asked for.
_BUILTIN_MODULES: dict[str, str] = {
    "exact_match": "rewardlab.rewards._text",
    "contains": "rewardlab.rewards._text",
    "length": "rewardlab.rewards._text",
    "repetition": "rewardlab.rewards._text",
    "format": "rewardlab.rewards._format",
    "overlong": "rewardlab.rewards._format",
    "code": "rewardlab.rewards._code",
    "compose": "rewardlab.compose._spec",
    "sql": "rewardlab.rewards._sql",
    "sql_partial_match": "rewardlab.rewards._sql",
    "sql_syntax": "rewardlab.rewards._sql",
    "sql_schema_link": "rewardlab.rewards._sql",
    "sql_ngram": "rewardlab.rewards._sql",
    "math": "rewardlab.rewards._math",
    "rm": "rewardlab.models._rewards",
    "dpo_implicit": "rewardlab.models._rewards",
    "likelihood": "rewardlab.models._rewards",
    "prm": "rewardlab.models._rewards",
    "embedding_rm": "rewardlab.models._rewards",
}

_REGISTRY: dict[str, Reward] = {}
_LOCK = threading.RLock()
_ENTRY_POINTS_LOADED = False
SPEC_SUFFIXES = (".toml", ".yaml", ".yml", ".json")


class RewardNotFound(KeyError):
    """No reward is registered under this name."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(reward: Reward, *, replace: bool = False) -> Reward:
    """Add a reward to the registry under ``reward.name``.

    Registering the same function again (a module imported twice) replaces the
    entry; a different reward under a taken name is refused unless ``replace``.
    """
    with _LOCK:
        existing = _REGISTRY.get(reward.name)
        if existing is not None and not replace and not _same_origin(existing, reward):
            raise ValueError(f"a different reward is already registered as {reward.name!r}")
        _REGISTRY[reward.name] = reward
    return reward


def _same_origin(a: Reward, b: Reward) -> bool:
    if isinstance(a, FunctionReward) and isinstance(b, FunctionReward):
        strip = {"__main__": "", "__mp_main__": ""}
        return (strip.get(a.fn.__module__, a.fn.__module__), a.fn.__qualname__) == (
            strip.get(b.fn.__module__, b.fn.__module__),
            b.fn.__qualname__,
        )
    return False


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if isinstance(obj, Reward):
            register(obj, replace=True)


def lookup(name: str) -> Reward:
    """The registered reward called ``name`` (with its default parameters)."""
    with _LOCK:
        if name in _REGISTRY:
            return _REGISTRY[name]
        module = _BUILTIN_MODULES.get(name)
    if module is not None:
        importlib.import_module(module)
    else:
        _load_entry_points()
    with _LOCK:
        if name in _REGISTRY:
            return _REGISTRY[name]
    close = difflib.get_close_matches(name, list_names(), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `rewardlab list` shows them all"
    raise RewardNotFound(f"no reward named {name!r}{hint}")


def lookup_in_worker(name: str, module: str) -> FunctionReward:
    """Find a reward inside a worker process, importing its defining module if needed."""
    with _LOCK:
        found = _REGISTRY.get(name)
    if found is None:
        if module in ("__main__", "__mp_main__"):
            from rewardlab.runtime._pool import load_parent_main

            load_parent_main()
        else:
            importlib.import_module(module)
        found = lookup(name)
    if not isinstance(found, FunctionReward):
        raise TypeError(f"{name!r} is not a function reward")
    return found


def list_names() -> list[str]:
    with _LOCK:
        return sorted(set(_REGISTRY) | set(_BUILTIN_MODULES))


def list_rewards() -> list[Reward]:
    """Every registered reward (built-ins and entry points included), by name."""
    for module in sorted(set(_BUILTIN_MODULES.values())):
        importlib.import_module(module)
    _load_entry_points()
    with _LOCK:
        return [_REGISTRY[n] for n in sorted(_REGISTRY)]


def parse_signature(signature: str) -> tuple[str, dict[str, str]]:
    """Split ``name|key:value|...`` into the name and raw parameter strings (version dropped)."""
    name, *parts = signature.split("|")
    params: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition(":")
        if not sep:
            raise RewardParamError(f"signature part {part!r} is not key:value")
        if key == "version":
            continue
        if value.startswith(("{", "[", '"')):
            try:
                decoded = json.loads(value)
                value = decoded if isinstance(decoded, str) else value
            except json.JSONDecodeError:
                pass
        params[key] = value
    return name.strip(), params


def load(name_or_spec: str | Path | Mapping[str, Any] | Reward, /, **params: Any) -> Reward:
    """Build a reward from a name, a signature, a spec file or a spec mapping.

    Args:
        name_or_spec: A registered name (``"math"``), a signature as found in an
            output file (``"exact_match|ignore_case:yes|version:0.1.0"``), a path
            to a spec file (``.toml``, ``.yaml``, ``.json``), a spec mapping, or
            a `Reward`.
        **params: Parameters of the reward; strings are converted to the
            declared types, so command-line values work as they are.

    Raises:
        RewardNotFound: no reward has that name.
        RewardParamError: an unknown parameter or a value of the wrong type.

    Example:
        >>> import rewardlab
        >>> r = rewardlab.load("exact_match", ignore_case=True)
        >>> r.score([{"completion": "Paris", "reference": "paris"}])[0].value
        1.0
    """
    if isinstance(name_or_spec, Reward):
        return name_or_spec(**params) if params else name_or_spec
    if isinstance(name_or_spec, Mapping):
        return _load_mapping(name_or_spec, params, source="<mapping>")
    text = str(name_or_spec)
    if isinstance(name_or_spec, Path) or text.lower().endswith(SPEC_SUFFIXES):
        from rewardlab.compose import load_spec_file

        loaded = load_spec_file(Path(text))
        return loaded(**params) if params else loaded
    if "|" in text:
        name, raw = parse_signature(text)
        return lookup(name)(**{**raw, **params})
    base = lookup(text.strip())
    return base(**params) if params else base


def _load_mapping(spec: Mapping[str, Any], params: Mapping[str, Any], *, source: str) -> Reward:
    if "reward" in spec and set(spec) <= {"reward", "params", "weight", "name"}:
        merged = {**dict(spec.get("params") or {}), **params}
        base = lookup(str(spec["reward"]))
        return base(**merged) if merged else base
    from rewardlab.compose import build_spec

    built = build_spec(spec, source=source)
    return built(**params) if params else built


__all__ = ["load", "register", "lookup", "list_rewards", "RewardNotFound", "coerce_param"]
