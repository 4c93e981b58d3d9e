"""What the audit needs to know about the embedding family: the reference-text attacks apply to it too.

A sentence embedding of the reference's words shuffled, halved or doubled is
close to the reference's own, which is exactly what those probes measure.
"""

from __future__ import annotations

import dataclasses

from rewardlab._probe import register_probe, register_task_fields
from rewardlab.rewards.reference_text._audit import reference_fragment, reference_shuffle

EMBEDDING_REWARDS = ("embedding_similarity",)
"""Reward names of the family."""

for _probe in (reference_shuffle, reference_fragment):
    _scope = (*(_probe.rewards or ()), *EMBEDDING_REWARDS)
    register_probe(dataclasses.replace(_probe, rewards=_scope), replace=True)

register_task_fields(EMBEDDING_REWARDS, [])
