from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))

STRICT = os.environ.get("REWARDLAB_STRICT_TESTS") == "1"

# CI explores the same examples every run (a new counterexample is found locally, then
# becomes a regression row), and keeps no example database in the clean checkout.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def need(condition: bool, reason: str) -> None:
    """Skip when something external is missing, or fail under REWARDLAB_STRICT_TESTS=1 (CI)."""
    if condition:
        return
    if STRICT:
        pytest.fail(f"required for CI: {reason}")
    pytest.skip(reason)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} is not installed")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    need(SHARED_DATA.is_dir(), f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pool():
    from rewardlab.runtime import WorkerPool

    with WorkerPool(2, timeout=5.0) as p:
        yield p
