"""Every model reward goes through ``rewardlab score`` and ``rewardlab audit`` as it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

from typer.testing import CliRunner  # noqa: E402

import _tiny_models as tiny  # noqa: E402
import rewardlab  # noqa: E402
from rewardlab.cli import app  # noqa: E402

ROWS = [
    {
        "id": "a",
        "prompt": "what is six times seven?",
        "completion": "six times seven\n\nis \\boxed{42}",
        "reference": "42",
    },
    {
        "id": "b",
        "prompt": "tell me about cats",
        "completion": "the cat sat on the mat\n\n\\boxed{cats}",
        "reference": "cats",
    },
    {"id": "c", "prompt": "how do I bake bread?", "completion": "go away\n\n\\boxed{no}", "reference": "bread"},
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("cli-models")
    classifier = tiny.build_classifier(root / "rm", train_steps=5)
    policy = tiny.build_causal(root / "policy", seed=1)
    reference = tiny.build_causal(root / "reference", seed=2)
    from rewardlab.models import Pair, train_embedding_rm

    pairs = [Pair(p, g, b) for p in tiny.PROMPTS for g, b in zip(tiny.GOOD, tiny.BAD, strict=True)]
    train_embedding_rm(pairs, root / "erm", ensemble=2, holdout=0.0, steps=20)
    return {
        "rm": {"model": str(classifier)},
        "dpo_implicit": {"policy": str(policy), "reference": str(reference)},
        "likelihood": {"model": str(policy)},
        "prm": {"model": str(policy)},
        "embedding_rm": {"model": str(root / "erm")},
    }


def _rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def _params(params: dict[str, Any]) -> list[str]:
    return [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]


NAMES = ["rm", "dpo_implicit", "likelihood", "prm", "embedding_rm"]


@pytest.mark.parametrize("name", NAMES)
def test_score_command(name: str, models: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["score", str(_rows(tmp_path)), "-r", name, *_params(models[name]), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in written] == ["a", "b", "c"]
    assert all(r["reward_status"] == "ok" for r in written), [r["reward_reason"] for r in written]
    with rewardlab.load(name, **models[name]) as reward:
        direct = reward.score(ROWS)
    for row, score in zip(written, direct, strict=True):
        assert row["reward"] == pytest.approx(score.value, abs=1e-6)
        assert row["reward_signature"] == score.signature
        assert rewardlab.load(row["reward_signature"]).params == reward.params


@pytest.mark.parametrize("name", NAMES)
def test_audit_command(name: str, models: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    report = tmp_path / "audit.json"
    full_credit = [] if name == "likelihood" else ["--full-credit", "10"]
    result = CliRunner().invoke(
        app,
        ["audit", "-r", name, *_params(models[name]), "-d", str(_rows(tmp_path)), *full_credit, "--json", str(report)],
    )
    assert result.exit_code in (0, 1), result.output  # 1 is a failing verdict, not a crash
    data = json.loads(report.read_text())
    assert data["reward"]["name"] == name
    probes = {p["name"]: p for p in data["probes"]} if isinstance(data["probes"], list) else data["probes"]
    assert probes, "no probe ran"
    assert "setup failed" not in json.dumps(data)


def test_score_with_workers_keeps_the_resident_model_in_this_process(
    models: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    args = ["score", str(_rows(tmp_path)), "-r", "rm", *_params(models["rm"]), "-o", str(out), "--workers", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["reward_status"] for line in out.read_text().splitlines()] == ["ok"] * 3
