"""What the audit needs to know about the QA family: the answer spray and how a gold answer is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rewardlab._probe import ProbeInput, probe, register_gold_renderer, register_task_fields

QA_REWARDS = ("qa_f1", "qa_em")
"""Reward names the QA probes apply to."""


@probe("answer_spray", "several answers in answer tags or one tag, the gold among them", rewards=QA_REWARDS)
def _answer_spray(row: ProbeInput) -> Iterable[tuple[str, str]]:
    candidates = [row.reference, *row.wrong[:4]]
    row.rng.shuffle(candidates)
    yield "many_tags", "".join(f"<answer>{c}</answer>" for c in candidates)
    yield "one_tag_list", f"<answer>{', '.join(candidates)}</answer>"
    yield "boxed_many", " or ".join(f"\\boxed{{{c}}}" for c in candidates)


def _qa_gold(reference: str, fields: Mapping[str, Any]) -> str:
    return f"<think>\nI looked it up.\n</think>\n<answer>{reference}</answer>"


register_gold_renderer(QA_REWARDS, _qa_gold)
register_task_fields(QA_REWARDS, [])
