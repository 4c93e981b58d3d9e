"""Registries: named things (rewards, probes, gold-answer writers) found by name, built-in or third-party alike.

A `Registry` holds what was registered in this process and knows one
entry-point group. Entries of that group are loaded on demand, one name at a
time: rewardlab's own rewards are entry points of the rewardlab package (see
``pyproject.toml``), found exactly like a third-party package's, so
``import rewardlab`` stays cheap and sympy loads only when ``math`` is asked for.
An entry point names a module (importing it registers what it defines) or an
object (registered as it is).

This module is the bottom of the package: it knows nothing about rewards.
"""

from __future__ import annotations

import difflib
import threading
import types
import warnings
from collections.abc import Callable
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

SPEC_SUFFIXES = (".toml", ".yaml", ".yml", ".json")
"""File suffixes `rewardlab.load` reads as spec files rather than names."""

REWARD_GROUP = "rewardlab.rewards"
"""Entry-point group of rewards (rewardlab's own built-ins included)."""


class NotRegistered(KeyError):
    """No entry of a registry has this name."""

    def __str__(self) -> str:
        return str(self.args[0])


class RewardNotFound(NotRegistered):
    """No reward is registered under this name."""


_OWN: dict[str, list[EntryPoint]] = {}


def _own_entry_points(group: str) -> list[EntryPoint]:
    """The entry points rewardlab's own distribution declares in ``group`` (its built-ins)."""
    if group not in _OWN:
        try:
            declared = list(distribution("rewardlab").entry_points)
        except PackageNotFoundError:  # a source tree that was never installed: its pyproject.toml says the same
            declared = _source_tree_entry_points()
        _OWN[group] = [ep for ep in declared if ep.group == group]
    return _OWN[group]


def _source_tree_entry_points() -> list[EntryPoint]:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if not pyproject.is_file():
        return []
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    groups = tomllib.loads(pyproject.read_text()).get("project", {}).get("entry-points", {})
    return [EntryPoint(name, value, group) for group, entries in groups.items() for name, value in entries.items()]


def _origin(item: Any) -> Any:
    """What identifies where an entry was defined (a module imported twice registers the same origin)."""
    origin = getattr(item, "origin", None)
    return origin() if callable(origin) else origin


class Registry(Generic[T]):
    """Names to objects of one kind, filled by ``register`` calls and by an entry-point group.

    Args:
        kind: What the entries are, for messages (``"reward"``).
        group: Entry-point group searched for names not registered yet.
        accepts: Whether an object loaded from an entry point is an entry (else it is ignored).
        not_found: Exception type raised by `get` for an unknown name.
    """

    def __init__(
        self,
        kind: str,
        group: str,
        *,
        accepts: Callable[[Any], bool],
        not_found: type[NotRegistered] = NotRegistered,
    ) -> None:
        self.kind = kind
        self.group = group
        self.accepts = accepts
        self.not_found = not_found
        self._items: dict[str, T] = {}
        self._lock = threading.RLock()
        self._loaded_all = False
        self._all_entry_points: list[EntryPoint] | None = None

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Add ``item`` as ``name``; the same origin again (a re-imported module) replaces it, another is refused."""
        with self._lock:
            existing = self._items.get(name)
            if existing is not None and existing is not item and not replace:
                same = _origin(existing)
                if same is None or same != _origin(item):
                    raise ValueError(f"a different {self.kind} is already registered as {name!r}")
            self._items[name] = item
        return item

    def _entry_points(self, name: str | None = None) -> list[EntryPoint]:
        """Entry points of the group, by name when given: rewardlab's own first (one package's
        metadata, read in milliseconds), every installed package's only when that finds nothing."""
        if name is not None:
            own = [ep for ep in _own_entry_points(self.group) if ep.name == name]
            if own:
                return own
        if self._all_entry_points is None:
            self._all_entry_points = list(entry_points(group=self.group))
        return [ep for ep in self._all_entry_points if name is None or ep.name == name]

    def _load_entry(self, ep: EntryPoint, *, strict: bool = True) -> None:
        """Register what ``ep`` names. One that gives nothing of this kind is reported with a
        warning naming its distribution, never dropped silently; one that fails to import
        raises when it was asked for by name (``strict``) and is reported otherwise."""
        try:
            obj = ep.load()
        except Exception as exc:
            if strict:
                raise
            _report(ep, f"could not be loaded: {type(exc).__name__}: {exc}")
            return
        if isinstance(obj, types.ModuleType):
            # importing the module registered what it defines; whether it defined anything
            # cannot be told reliably (it may have been imported, and so registered, earlier)
            return
        elif self.accepts(obj):
            self.register(getattr(obj, "name", ep.name), obj, replace=True)
        else:
            what = f"{type(obj).__name__} {getattr(obj, '__qualname__', obj)!r}"
            _report(ep, f"is {what}, not a {self.kind} or a module of {self.kind}s")

    def get(self, name: str) -> T:
        """The entry called ``name``, loading its entry point if needed.

        Raises:
            NotRegistered: (the registry's ``not_found`` type) with close names as a hint.
        """
        with self._lock:
            if name in self._items:
                return self._items[name]
        for ep in self._entry_points(name):
            self._load_entry(ep)
        with self._lock:
            if name in self._items:
                return self._items[name]
        close = difflib.get_close_matches(name, self.names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise self.not_found(f"no {self.kind} named {name!r}{hint}")

    def names(self) -> list[str]:
        """Every known name, registered or only declared by an entry point (nothing is imported)."""
        with self._lock:
            known = set(self._items)
        return sorted(known | {ep.name for ep in self._entry_points()})

    def all(self) -> list[T]:
        """Every entry, in registration order, after loading every entry point of the group."""
        if not self._loaded_all:
            for ep in self._entry_points():
                self._load_entry(ep, strict=False)
            self._loaded_all = True
        return self.items()

    def items(self) -> list[T]:
        """The entries registered so far, in registration order (no entry point is loaded)."""
        with self._lock:
            return list(self._items.values())

    def find(self, name: str) -> T | None:
        """The entry if it is registered already (no entry point is loaded)."""
        with self._lock:
            return self._items.get(name)


class EntryPointWarning(UserWarning):
    """An installed package's entry point did not give what its group holds."""


def _report(ep: EntryPoint, problem: str) -> None:
    dist = getattr(ep, "dist", None)
    owner = f"distribution {dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    warnings.warn(
        f"entry point {ep.name!r} = {ep.value!r} ({ep.group}) of {owner} {problem}; it is ignored",
        EntryPointWarning,
        stacklevel=3,
    )


REWARDS: Registry[Any] = Registry(
    "reward",
    REWARD_GROUP,
    accepts=lambda obj: hasattr(obj, "score") and hasattr(obj, "name"),
    not_found=RewardNotFound,
)
"""Every reward by name (the values are `rewardlab.Reward` objects with default parameters)."""


def register(reward: Any, *, replace: bool = False) -> Any:
    """Add a reward to the registry under ``reward.name``.

    Registering the same function again (a module imported twice) replaces the
    entry; a different reward under a taken name is refused unless ``replace``.
    """
    return REWARDS.register(reward.name, reward, replace=replace)


def lookup(name: str) -> Any:
    """The registered reward called ``name`` (with its default parameters)."""
    try:
        return REWARDS.get(name)
    except RewardNotFound as exc:
        if "did you mean" in str(exc):
            raise
        raise RewardNotFound(f"{exc}; `rewardlab list` shows them all") from None


def list_rewards() -> list[Any]:
    """Every registered reward (built-ins and entry points included), by name."""
    return sorted(REWARDS.all(), key=lambda r: r.name)


__all__ = [
    "REWARDS",
    "REWARD_GROUP",
    "SPEC_SUFFIXES",
    "NotRegistered",
    "Registry",
    "RewardNotFound",
    "list_rewards",
    "lookup",
    "register",
]
