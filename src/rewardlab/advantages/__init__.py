"""Group advantages: turn the scores of a group of samples into per-sample advantages (GRPO and kin).

Estimators consume scores, not rewards, so they live apart from `rewardlab.compose`::

    from rewardlab.advantages import group_advantages

    advantages = group_advantages(values, groups, "grpo")

``rewardlab advantages`` applies them to a scored file (`advantages_file`).
"""

from rewardlab.advantages._advantages import DEFAULT_EPS, ESTIMATORS, bnpo_beta_parameters, group_advantages
from rewardlab.advantages._advantages_file import AdvantageSummary, advantages_file

__all__ = [
    "DEFAULT_EPS",
    "ESTIMATORS",
    "AdvantageSummary",
    "advantages_file",
    "bnpo_beta_parameters",
    "group_advantages",
]
