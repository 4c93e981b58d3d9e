"""Every public namespace exports exactly what it declares, all documented, nothing private."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "rewardlab",
    "rewardlab.rewards",
    "rewardlab.runtime",
    "rewardlab.compose",
    "rewardlab.advantages",
    "rewardlab.audit",
    "rewardlab.integrations",
    "rewardlab.rewards.judge",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_unique_public_and_documented(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr} is declared but missing"
        assert not attr.startswith("_") or attr == "__version__"
        obj = getattr(module, attr)
        if callable(obj):
            assert (getattr(obj, "__doc__", None) or "").strip(), f"{name}.{attr} has no docstring"


def test_importing_rewardlab_does_not_load_heavy_dependencies() -> None:
    import subprocess
    import sys

    heavy = ("sympy", "torch", "sqlglot", "math_verify", "transformers")
    code = (
        "import sys, rewardlab; rewardlab.load('exact_match');"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
