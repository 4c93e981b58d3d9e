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


def _strict_skip_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Under REWARDLAB_STRICT_TESTS=1 a skip (``importorskip``, ``skipif``, a doctest whose every
    example is skipped) is a failure: CI must run everything, not report it as skipped."""
    if not STRICT or not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped, which REWARDLAB_STRICT_TESTS=1 does not allow: {reason}"


class _StrictSkips:
    """Registered as a global plugin (not as conftest hooks, which only reach items under
    ``tests/``), so the doctests collected from ``src/rewardlab`` are held to it as well."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
        outcome = yield
        _strict_skip_failure(outcome.get_result())

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector):  # type: ignore[no-untyped-def]
        outcome = yield
        _strict_skip_failure(outcome.get_result())


def pytest_configure(config: pytest.Config) -> None:
    if STRICT and not config.pluginmanager.has_plugin("rewardlab-strict-skips"):
        config.pluginmanager.register(_StrictSkips(), "rewardlab-strict-skips")


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
