"""Optional dependencies: one place that imports them and says which extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """A reward needs a package that is not installed; the message names the extra to install."""


def require(module: str, *, extra: str, reward: str) -> ModuleType:
    """Import ``module`` or raise `MissingExtra` naming ``pip install 'rewardlab[extra]'``.

    Rewards call this when they score, never at import, so ``rewardlab.load`` and
    ``rewardlab list`` work without the extra and ``import rewardlab`` stays light.
    A missing extra surfaces as an ``error`` score whose reason says what to install.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"reward {reward!r} needs the {module.split('.')[0]!r} package: pip install 'rewardlab[{extra}]' "
            f"({type(exc).__name__}: {exc})"
        ) from exc
