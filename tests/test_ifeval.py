"""ifeval: verdicts identical to lm-eval's IFEval registry on IFEval-style rows, and the reward around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rewardlab
from rewardlab import Sample, Status
from rewardlab.rewards.ifeval._ifeval import instruction_registry

ABBREVIATIONS = ["dr", "mr", "mrs", "ms", "prof", "e.g", "i.e", "etc", "vs", "u.s"]


@pytest.fixture(scope="module", autouse=True)
def punkt_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small English Punkt model in NLTK's punkt_tab layout, built here (the machine has no NLTK data).

    Two IFEval checkers tokenise with Punkt. Both the reward and the reference
    registry load the model through NLTK's search path, so they see the same one.
    """
    import nltk

    root = tmp_path_factory.mktemp("nltk_data")
    model = root / "tokenizers" / "punkt_tab" / "english"
    model.mkdir(parents=True)
    (model / "abbrev_types.txt").write_text("\n".join(ABBREVIATIONS) + "\n", encoding="utf-8")
    (model / "collocations.tab").write_text("", encoding="utf-8")
    (model / "sent_starters.txt").write_text("however\nbut\n", encoding="utf-8")
    (model / "ortho_context.tab").write_text("", encoding="utf-8")
    nltk.data.path.insert(0, str(root))
    yield root
    nltk.data.path.remove(str(root))


def _kw(**kwargs: object) -> dict:
    return kwargs


LOREM = (
    "Rivers shape the land over long spans of time. They carry sediment from the mountains to the sea. "
    "Floods spread rich soil across the plains. People have settled beside them for thousands of years."
)

# IFEval-style rows: (id, prompt, instruction ids, kwargs, [responses])
ROWS = [
    (
        "keywords",
        "Write about rivers. Include the keywords delta and silt.",
        ["keywords:existence"],
        [_kw(keywords=["delta", "silt"])],
        ["The delta fills with silt.", "The river reaches the sea.", "DELTA and SILT."],
    ),
    (
        "keyword-frequency",
        "Use the word water at least 3 times.",
        ["keywords:frequency"],
        [_kw(keyword="water", frequency=3, relation="at least")],
        ["water water water", "water, Water and more water!", "water"],
    ),
    (
        "keyword-frequency-less",
        "Use the word very less than 2 times.",
        ["keywords:frequency"],
        [_kw(keyword="very", frequency=2, relation="less than")],
        ["It is very good.", "very very good"],
    ),
    (
        "forbidden",
        "Do not use the words flood or storm.",
        ["keywords:forbidden_words"],
        [_kw(forbidden_words=["flood", "storm"])],
        [LOREM, "A calm day with no storm.", "Stormy weather."],
    ),
    (
        "letter-frequency",
        "Use the letter q at least 3 times.",
        ["keywords:letter_frequency"],
        [_kw(letter="q", let_frequency=3, let_relation="at least")],
        ["quick quiet quest", "quick"],
    ),
    (
        "language",
        "Answer in French.",
        ["language:response_language"],
        [_kw(language="fr")],
        ["Les rivières façonnent le paysage au fil du temps et transportent les sédiments vers la mer.", LOREM],
    ),
    (
        "sentences",
        "Answer in less than 3 sentences.",
        ["length_constraints:number_sentences"],
        [_kw(num_sentences=3, relation="less than")],
        ["One. Two.", LOREM, "Dr. Smith went home. He slept."],
    ),
    (
        "sentences-at-least",
        "Answer in at least 4 sentences.",
        ["length_constraints:number_sentences"],
        [_kw(num_sentences=4, relation="at least")],
        [LOREM, "Short answer."],
    ),
    (
        "paragraphs",
        "Write 2 paragraphs separated by ***.",
        ["length_constraints:number_paragraphs"],
        [_kw(num_paragraphs=2)],
        ["First part.\n***\nSecond part.", "Only one.", "A\n***\n\n***\nB"],
    ),
    (
        "words",
        "Answer with at least 20 words.",
        ["length_constraints:number_words"],
        [_kw(num_words=20, relation="at least")],
        [LOREM, "Too short."],
    ),
    (
        "words-less",
        "Answer with less than 10 words.",
        ["length_constraints:number_words"],
        [_kw(num_words=10, relation="less than")],
        ["Short answer here.", LOREM],
    ),
    (
        "nth-paragraph",
        "3 paragraphs separated by two new lines; the 2nd starts with 'however'.",
        ["length_constraints:nth_paragraph_first_word"],
        [_kw(num_paragraphs=3, nth_paragraph=2, first_word="however")],
        ["Intro.\n\nHowever, rivers flood.\n\nEnd.", "Intro.\n\nBut rivers flood.\n\nEnd.", "Intro.\n\nHowever, x."],
    ),
    (
        "placeholders",
        "Include at least 2 placeholders like [name].",
        ["detectable_content:number_placeholders"],
        [_kw(num_placeholders=2)],
        ["Dear [name], see you at [place].", "Dear [name]."],
    ),
    (
        "postscript",
        "End with a postscript starting with P.S.",
        ["detectable_content:postscript"],
        [_kw(postscript_marker="P.S.")],
        [LOREM + "\n\nP.S. Bring boots.", LOREM],
    ),
    (
        "bullets",
        "Use exactly 3 bullet points.",
        ["detectable_format:number_bullet_lists"],
        [_kw(num_bullets=3)],
        ["* one\n* two\n* three", "* one\n* two", "- a\n- b\n- c"],
    ),
    (
        "constrained",
        "Answer with one of: My answer is yes./no./maybe.",
        ["detectable_format:constrained_response"],
        [_kw()],
        ["My answer is yes.", "Yes."],
    ),
    (
        "highlights",
        "Highlight at least 2 sections with markdown, i.e. *highlighted section*.",
        ["detectable_format:number_highlighted_sections"],
        [_kw(num_highlights=2)],
        ["*one* and *two*", "*one* only", "**bold one** and *two*"],
    ),
    (
        "sections",
        "Your response must have 2 sections. Mark each with SECTION X.",
        ["detectable_format:multiple_sections"],
        [_kw(section_spliter="SECTION", num_sections=2)],
        ["SECTION 1\nA\nSECTION 2\nB", "SECTION 1\nA"],
    ),
    (
        "json",
        "Wrap the whole output in JSON.",
        ["detectable_format:json_format"],
        [_kw()],
        ['{"a": 1}', '```json\n{"a": 1}\n```', "not json {"],
    ),
    (
        "title",
        "Include a title wrapped in double angular brackets.",
        ["detectable_format:title"],
        [_kw()],
        ["<<Rivers>>\n" + LOREM, LOREM, "<<>> empty"],
    ),
    (
        "two-responses",
        "Give two different responses separated by 6 asterisks.",
        ["combination:two_responses"],
        [_kw()],
        ["First answer.\n******\nSecond answer.", "Same.\n******\nSame.", "Only one."],
    ),
    (
        "repeat-prompt",
        "Repeat the request first: Tell me about rivers. Then answer.",
        ["combination:repeat_prompt"],
        [_kw(prompt_to_repeat="Tell me about rivers.")],
        ["Tell me about rivers. " + LOREM, LOREM],
    ),
    (
        "end-phrase",
        "Finish with the exact phrase 'Is there anything else I can help with?'",
        ["startend:end_checker"],
        [_kw(end_phrase="Is there anything else I can help with?")],
        [LOREM + " Is there anything else I can help with?", LOREM],
    ),
    (
        "capital-words",
        "Use fully capitalised words at least 2 times.",
        ["change_case:capital_word_frequency"],
        [_kw(capital_frequency=2, capital_relation="at least")],
        ["The NASA and ESA missions.", "No capitals here."],
    ),
    (
        "english-capital",
        "Respond in English, all capital letters.",
        ["change_case:english_capital"],
        [_kw()],
        ["RIVERS SHAPE THE LAND OVER TIME AND CARRY SEDIMENT.", "Rivers shape the land."],
    ),
    (
        "english-lowercase",
        "Respond in English, all lowercase.",
        ["change_case:english_lowercase"],
        [_kw()],
        ["rivers shape the land over time and carry sediment.", "Rivers Shape The Land."],
    ),
    ("no-comma", "Do not use any commas.", ["punctuation:no_comma"], [_kw()], ["No commas here.", "Well, one."]),
    (
        "quotation",
        "Wrap your entire response in double quotation marks.",
        ["startend:quotation"],
        [_kw()],
        ['"' + LOREM + '"', LOREM],
    ),
    (
        "combined",
        "Write about rivers in lowercase, no commas, at least 15 words, include silt.",
        [
            "change_case:english_lowercase",
            "punctuation:no_comma",
            "length_constraints:number_words",
            "keywords:existence",
        ],
        [_kw(), _kw(), _kw(num_words=15, relation="at least"), _kw(keywords=["silt"])],
        [LOREM.lower().replace(",", "") + " silt too.", LOREM, "silt silt silt", "* silt *\n" + LOREM.lower()],
    ),
    # the HF dataset stores every kwargs key, None where it does not apply
    (
        "none-padded-kwargs",
        "Answer in at least 5 words; no commas.",
        ["length_constraints:number_words", "punctuation:no_comma"],
        [
            {"num_words": 5, "relation": "at least", "keywords": None, "language": None},
            {"num_words": None, "keywords": None},
        ],
        ["This has more than five words in it.", "Too, short."],
    ),
    # loose mode differs: a first line of chatter, markdown stars
    ("loose-first-line", "Wrap in JSON.", ["detectable_format:json_format"], [_kw()], ['Sure, here it is:\n{"a": 1}']),
    ("loose-stars", "All lowercase.", ["change_case:english_lowercase"], [_kw()], ["**Answer**: rivers carry silt."]),
]

CASES = [(row[0], i, row) for row in ROWS for i in range(len(row[4]))]


def _reference_verdicts(prompt: str, ids: list[str], kwargs: list[dict], response: str, mode: str) -> list[bool]:
    instruction_registry()  # import through rewardlab first: no download attempt at import
    from lm_eval.tasks.ifeval import utils

    example = utils.InputExample(key=0, instruction_id_list=ids, prompt=prompt, kwargs=kwargs)
    test = utils.test_instruction_following_strict if mode == "strict" else utils.test_instruction_following_loose
    return list(test(example, response).follow_instruction_list)


@pytest.mark.parametrize("mode", ["strict", "loose"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_verdicts_identical_to_lm_eval(case: tuple, mode: str) -> None:
    _, index, (_, prompt, ids, kwargs, responses) = case
    response = responses[index]
    expected = _reference_verdicts(prompt, ids, kwargs, response, mode)
    row = Sample(completion=response, prompt=prompt, extras={"instruction_id_list": ids, "kwargs": kwargs})
    fraction = rewardlab.load("ifeval", mode=mode).score_one(row)
    every = rewardlab.load("ifeval", mode=mode, aggregate="all").score_one(row)
    assert fraction.status is Status.OK, fraction.reason
    assert [bool(v) for v in fraction.components.values()] == expected
    assert fraction.value == pytest.approx(sum(expected) / len(expected))
    assert every.value == float(all(expected))


def test_rows_exercise_both_verdicts() -> None:
    """The table is only evidence if it holds followed and broken instructions of every family."""
    seen: dict[str, set[bool]] = {}
    for _, index, (_, prompt, ids, kwargs, responses) in CASES:
        for instruction, verdict in zip(
            ids, _reference_verdicts(prompt, ids, kwargs, responses[index], "strict"), strict=True
        ):
            seen.setdefault(instruction, set()).add(verdict)
    assert set(seen) == set(instruction_registry())
    one_sided = [i for i, v in seen.items() if v != {True, False}]
    assert not one_sided, one_sided


def test_loose_accepts_what_strict_refuses() -> None:
    row = {
        "completion": 'Sure, here it is:\n{"a": 1}',
        "instruction_id_list": ["detectable_format:json_format"],
        "kwargs": [{}],
    }
    assert rewardlab.load("ifeval").score_one(row).value == 0.0
    assert rewardlab.load("ifeval", mode="loose").score_one(row).value == 1.0


# (id, completion, ids, kwargs, expected value or status)
REWARD_ROWS = [
    (
        "all-followed",
        "rivers carry silt to the sea",
        ["change_case:english_lowercase", "punctuation:no_comma"],
        [{}, {}],
        1.0,
    ),
    ("half", "Rivers carry silt", ["change_case:english_lowercase", "punctuation:no_comma"], [{}, {}], 0.5),
    ("empty-response", "", ["punctuation:no_comma"], [{}], 0.0),
    ("whitespace-response", "  \n ", ["punctuation:no_comma"], [{}], 0.0),
    # keyword stuffing: the checkers only look for the words, so stuffing passes them; every
    # other constraint on the row still fails it (the audit's keyword_stuffing probe measures this)
    ("stuffing-keyword-only", "silt delta silt delta", ["keywords:existence"], [{"keywords": ["silt", "delta"]}], 1.0),
    (
        "stuffing-with-length",
        "silt delta silt delta",
        ["keywords:existence", "length_constraints:number_words"],
        [{"keywords": ["silt", "delta"]}, {"num_words": 50, "relation": "at least"}],
        0.5,
    ),
    (
        "stuffing-frequency",
        "water " * 50,
        ["keywords:frequency", "length_constraints:number_sentences"],
        [{"keyword": "water", "frequency": 3, "relation": "at least"}, {"num_sentences": 3, "relation": "at least"}],
        0.5,
    ),
    ("too-long", "a" * 100_001, ["punctuation:no_comma"], [{}], 0.0),
    ("no-instructions-field", "text", None, None, Status.ABSTAIN),
    ("empty-instruction-list", "text", [], [], Status.ABSTAIN),
    ("unknown-instruction", "text", ["keywords:telepathy"], [{}], Status.ABSTAIN),
    ("kwargs-length-mismatch", "text", ["punctuation:no_comma", "detectable_format:title"], [{}], Status.ABSTAIN),
    ("missing-argument-not-randomised", "text", ["keywords:existence"], [{}], Status.ABSTAIN),
    (
        "zero-argument-dropped-like-harness",
        "text",
        ["detectable_format:number_bullet_lists"],
        [{"num_bullets": 0}],
        Status.ABSTAIN,
    ),
    ("unexpected-argument", "text", ["punctuation:no_comma"], [{"colour": "red"}], Status.ABSTAIN),
    ("ids-as-string", "text", "punctuation:no_comma", [{}], Status.ABSTAIN),
    ("json-text-fields", "no commas here", '["punctuation:no_comma"]', "[{}]", 1.0),
    ("bad-json-text", "text", '["punctuation:no_comma"', "[{}]", Status.ABSTAIN),
]


@pytest.mark.parametrize("row", REWARD_ROWS, ids=[r[0] for r in REWARD_ROWS])
def test_reward_rows(row: tuple) -> None:
    _, completion, ids, kwargs, expected = row
    extras = {} if ids is None else {"instruction_id_list": ids, "kwargs": kwargs}
    score = rewardlab.load("ifeval").score_one(Sample(completion=completion, extras=extras))
    if isinstance(expected, Status):
        assert score.status is expected, score
        assert score.reason
        return
    assert score.status is Status.OK, score.reason
    assert score.value == pytest.approx(expected)


def test_repeated_instruction_ids_get_distinct_components() -> None:
    row = {
        "completion": "silt and delta",
        "instruction_id_list": ["keywords:existence", "keywords:existence"],
        "kwargs": [{"keywords": ["silt"]}, {"keywords": ["loam"]}],
    }
    score = rewardlab.load("ifeval").score_one(row)
    assert score.components == {"keywords:existence": 1.0, "keywords:existence#2": 0.0}
    assert "keywords:existence" in score.reason


def test_missing_punkt_data_is_an_error_naming_the_download(punkt_model: Path) -> None:
    import nltk
    from lm_eval.tasks.ifeval import instructions_util

    nltk.data.path.remove(str(punkt_model))
    instructions_util._get_sentence_tokenizer.cache_clear()
    try:
        row = {
            "completion": "One. Two.",
            "instruction_id_list": ["length_constraints:number_sentences"],
            "kwargs": [{"num_sentences": 3, "relation": "less than"}],
        }
        score = rewardlab.load("ifeval").score_one(row)
    finally:
        nltk.data.path.insert(0, str(punkt_model))
        instructions_util._get_sentence_tokenizer.cache_clear()
    assert score.status is Status.ERROR
    assert "nltk.downloader punkt_tab" in score.reason


def test_fields_are_parameters() -> None:
    row = {"completion": "no commas", "ids": ["punctuation:no_comma"], "args": json.loads("[{}]")}
    score = rewardlab.load("ifeval", instructions_field="ids", kwargs_field="args").score_one(row)
    assert score.value == 1.0
