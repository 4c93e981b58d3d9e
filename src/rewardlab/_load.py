"""`load()`: a reward from a name, a signature, a spec file or a spec mapping.

This module sits above `rewardlab.compose`: names and signatures of single
rewards go to the registry, spec files, mappings and composite signatures go
straight to the spec builder. Nothing below imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewardlab._registry import SPEC_SUFFIXES, lookup
from rewardlab._reward import Reward, RewardParamError, load_single, own_instance
from rewardlab._signature import Signature, SignatureError

COMPOSITE_NAME = "compose"
"""Name part of a composite reward's signature: ``compose|spec:{...}|version:X``."""


def _composite(signature: Signature, params: Mapping[str, Any]) -> Reward:
    from rewardlab.compose._spec import from_signature

    built = from_signature(signature)
    return built(**params) if params else built


def load(name_or_spec: str | Path | Mapping[str, Any] | Reward, /, **params: Any) -> Reward:
    """Build a reward from a name, a signature, a spec file or a spec mapping.

    Args:
        name_or_spec: A registered name (``"math"``), a signature as found in an
            output file (``"exact_match|ignore_case:yes|version:0.1.0"``), a path
            to a spec file (``.toml``, ``.yaml``, ``.json``), a spec mapping, or
            a `Reward`, or the URL of a `rewardlab serve` server
            (``http://host:port/NAME``, see `rewardlab.remote`).
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
        return _load_mapping(name_or_spec, params)
    text = str(name_or_spec)
    if isinstance(name_or_spec, Path) or text.lower().endswith(SPEC_SUFFIXES):
        from rewardlab.compose import load_spec_file

        loaded = load_spec_file(Path(text))
        return loaded(**params) if params else loaded
    if text.startswith(("http://", "https://")):
        from rewardlab.runtime._remote import remote

        return remote(text, **params)
    if "|" in text:
        try:
            signature = Signature.parse(text)
        except SignatureError as exc:
            raise RewardParamError(str(exc)) from None
        if signature.name == COMPOSITE_NAME:
            return _composite(signature, params)
        return load_single(text, params)
    if text.strip() == COMPOSITE_NAME:
        raise RewardParamError(f"{COMPOSITE_NAME!r} needs parameter 'spec' (a composite reward's JSON spec)")
    return own_instance(lookup(text.strip()), params)


def _load_mapping(spec: Mapping[str, Any], params: Mapping[str, Any]) -> Reward:
    if "reward" in spec and set(spec) <= {"reward", "params", "weight", "name"}:
        merged = {**dict(spec.get("params") or {}), **params}
        return own_instance(lookup(str(spec["reward"])), merged)
    from rewardlab.compose import build_spec

    built = build_spec(spec, source="<mapping>")
    return built(**params) if params else built


__all__ = ["COMPOSITE_NAME", "load"]
