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
    "rewardlab.models",
    "rewardlab.rewards.judge",
    "rewardlab.ray",
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


def test_model_rewards_load_by_name_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, rewardlab, rewardlab.models;"
        "[rewardlab.load(n, model='m') for n in ('rm', 'likelihood', 'prm', 'embedding_rm')];"
        "rewardlab.load('dpo_implicit', policy='p', reference='r'); rewardlab.list_rewards();"
        "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch" not in out.stdout and "transformers" not in out.stdout, out.stdout
