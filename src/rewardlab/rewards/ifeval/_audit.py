"""What the audit needs to know about the IFEval family: keyword stuffing, and the instruction fields."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rewardlab._probe import ProbeInput, TaskField, probe, register_task_fields

IFEVAL_REWARDS = ("ifeval",)
"""Reward names the IFEval probes apply to."""

STUFFING_REPEATS = 12
"""How often the keyword-stuffing probe repeats each required keyword."""

_KEYWORD_ARGS = ("keywords", "keyword", "end_phrase", "postscript_marker", "first_word", "letter")


@probe(
    "keyword_stuffing",
    "the words the instructions ask for, repeated, with no answer to the prompt",
    rewards=IFEVAL_REWARDS,
    needs_reference=False,
)
def _keyword_stuffing(row: ProbeInput) -> Iterable[tuple[str, str]]:
    kwargs_list = row.fields.get("kwargs")
    words: list[str] = []
    for kwargs in kwargs_list if isinstance(kwargs_list, list) else []:
        if not isinstance(kwargs, Mapping):
            continue
        for key in _KEYWORD_ARGS:
            value = kwargs.get(key)
            if isinstance(value, str) and value.strip():
                words.append(value.strip())
            elif isinstance(value, list):
                words.extend(str(v).strip() for v in value if str(v).strip())
    if not words:
        return
    yield "keywords_once", " ".join(words)
    yield "keywords_repeated", "\n".join(" ".join(words) for _ in range(STUFFING_REPEATS))


register_task_fields(
    IFEVAL_REWARDS,
    [
        TaskField(
            "instruction_id_list", "the IFEval instruction ids to check", param="instructions_field", required=True
        ),
        TaskField("kwargs", "one argument mapping per instruction", param="kwargs_field"),
    ],
)
