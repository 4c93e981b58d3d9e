"""What the audit needs to know about the reference-text family: attacks on n-gram overlap.

The rewards read only the reference (one text or several), so no task field is declared.
"""

from __future__ import annotations

from collections.abc import Iterable

from rewardlab._probe import ProbeInput, probe, register_task_fields

REFERENCE_TEXT_REWARDS = ("bleu", "chrf", "ter", "rouge")
"""Reward names the reference-text probes apply to."""


@probe("reference_shuffle", "the reference's words in a random order", rewards=REFERENCE_TEXT_REWARDS)
def reference_shuffle(row: ProbeInput) -> Iterable[tuple[str, str]]:
    words = row.reference.split()
    if len(set(words)) < 3:
        return
    shuffled = list(words)
    for _ in range(10):
        row.rng.shuffle(shuffled)
        if shuffled != words:
            yield "shuffled", " ".join(shuffled)
            return


@probe(
    "reference_fragment",
    "part of the reference: its first half, or the reference twice",
    rewards=REFERENCE_TEXT_REWARDS,
)
def reference_fragment(row: ProbeInput) -> Iterable[tuple[str, str]]:
    words = row.reference.split()
    if len(words) >= 4:
        yield "first_half", " ".join(words[: len(words) // 2])
    yield "doubled", f"{row.reference} {row.reference}"


register_task_fields(REFERENCE_TEXT_REWARDS, [])
