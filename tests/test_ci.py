"""`.ci/run` itself: the README's test command, then ruff and mypy; every failure fails CI.

The script runs for real, with `pip` and `python` replaced by stubs on PATH that record
their arguments and exit with the status each scenario needs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

STUB = """#!/bin/bash
echo "$(basename "$0") $*" >> "$STUB_LOG"
case "$(basename "$0") $*" in
  "pip install"*) exit "${PIP_RC:-0}" ;;
  "python -m pytest"*) exit "${PYTEST_RC:-0}" ;;
  "python -m ruff"*) exit "${RUFF_RC:-0}" ;;
  "python -m mypy"*) exit "${MYPY_RC:-0}" ;;
esac
exit 0
"""


def run_ci(tmp_path: Path, **codes: int) -> tuple[int, list[str]]:
    repo, bin_dir = tmp_path / "repo", tmp_path / "bin"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    bin_dir.mkdir()
    for name in ("pip", "python"):
        (bin_dir / name).write_text(STUB)
        (bin_dir / name).chmod(0o755)
    for tool in ("dirname", "basename"):  # what the script and the stubs need; no apt-get
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    log = tmp_path / "log"
    env = {"PATH": str(bin_dir), "STUB_LOG": str(log), **{k.upper(): str(v) for k, v in codes.items()}}
    bash = shutil.which("bash") or "/bin/bash"
    done = subprocess.run([bash, str(repo / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, log.read_text().splitlines() if log.exists() else []


def test_the_test_command_is_exactly_the_readmes() -> None:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"Install and run the tests \(what CI runs\):\s+```bash\n(.+)\n```", readme)
    assert command is not None
    assert f"{command.group(1)} || status=$?" in (ROOT / ".ci" / "run").read_text().splitlines()


def test_a_clean_run_runs_tests_then_ruff_then_mypy(tmp_path: Path) -> None:
    code, calls = run_ci(tmp_path)
    assert code == 0
    assert calls == [
        "pip install -e .[test]",
        "python -m pytest -q",
        "python -m ruff check src tests benchmarks",
        "python -m mypy",
    ]


@pytest.mark.parametrize(
    ("codes", "ran"),
    [
        ({"pytest_rc": 5}, 2),  # no tests collected is a failure
        ({"pytest_rc": 1}, 2),
        ({"pip_rc": 1}, 1),  # a failed install stops CI before the tests
        ({"ruff_rc": 1}, 3),
        ({"mypy_rc": 1}, 4),
    ],
)
def test_every_failure_fails_ci(tmp_path: Path, codes: dict[str, int], ran: int) -> None:
    code, calls = run_ci(tmp_path, **codes)
    assert code == next(iter(codes.values()))
    assert len(calls) == ran, calls


def test_strict_mode_is_set_for_the_tests() -> None:
    text = (ROOT / ".ci" / "run").read_text()
    assert "export REWARDLAB_STRICT_TESTS=1" in text.split("pip install -e")[0]
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_strict_mode_turns_every_skip_into_a_failure(tmp_path: Path) -> None:
    import sys

    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import pytest\n"
        "def test_optional_package():\n"
        "    pytest.importorskip('no_such_package_anywhere')\n"
        "@pytest.mark.skipif(True, reason='tool missing')\n"
        "def test_tool():\n"
        "    pass\n"
        "@pytest.mark.xfail(strict=True)\n"
        "def test_known_bug():\n"
        "    assert False\n"
    )
    module = tmp_path / "test_module_skip.py"
    module.write_text("import pytest\npytest.importorskip('no_such_package_anywhere')\n")

    def run(strict: bool, target: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "REWARDLAB_STRICT_TESTS": "1" if strict else "0"}
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "conftest", "-q", "-p", "no:cacheprovider", "-rA", str(target)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    relaxed = run(False, tmp_path)
    assert relaxed.returncode == 0, relaxed.stdout
    assert "3 skipped, 1 xfailed" in relaxed.stdout
    strict = run(True, probe)
    assert strict.returncode == 1
    # One report body per skipped test (the short summary repeats them, width permitting).
    bodies = [line for line in strict.stdout.splitlines() if line.startswith("skipped, which REWARDLAB_STRICT_TESTS=1")]
    assert len(bodies) == 2, strict.stdout
    assert "test_optional_package" in strict.stdout and "test_tool" in strict.stdout
    assert "1 xfailed" in strict.stdout  # an expected failure is not a skip
    # A doctest whose every example is skipped is a skip too, wherever the module lives
    # (doctests from src/ are outside tests/, out of reach of conftest-level hooks).
    doc_dir = tmp_path / "pkg"
    doc_dir.mkdir()
    (doc_dir / "documented.py").write_text('def f():\n    """\n    >>> f()  # doctest: +SKIP\n    """\n')
    doc_env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "REWARDLAB_STRICT_TESTS": "1"}
    doctested = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conftest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--doctest-modules",
            str(doc_dir),
        ],
        env=doc_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert doctested.returncode == 1, doctested.stdout
    assert "skipped, which REWARDLAB_STRICT_TESTS=1 does not allow" in doctested.stdout, doctested.stdout
    collected = run(True, module)
    assert collected.returncode != 0
    assert "skipped, which REWARDLAB_STRICT_TESTS=1 does not allow" in collected.stdout, collected.stdout
