"""Adapters that hand a rewardlab reward to trainers; the reward stays the same object everywhere.

- TRL: `to_trl` gives a ``reward_funcs`` callable (non-ok scores -> ``None``).
- verl: ``rewardlab/integrations/verl.py`` as ``custom_reward_function.path`` with
  ``name=compute_score`` or ``compute_score_batch``.
- OpenRLHF: ``rewardlab/integrations/openrlhf_reward.py`` as ``--remote_rm_url``, or
  `write_openrlhf_reward_file` to bake a reward into a file.

Adapter objects own the reward they load by name (``close()`` releases it); the
by-path entry points keep theirs for the process until `close_loaded_rewards`.

Trainers that need a number for every sample get the failure policy at the edge
(``on_failure``: ``raise`` by default, ``nan``, or a number you choose).
"""

from rewardlab.integrations._common import ON_FAILURE_ENV, REWARD_ENV, RewardFailure, close_loaded_rewards
from rewardlab.integrations.openrlhf import make_reward_func as make_openrlhf_reward_func
from rewardlab.integrations.openrlhf import write_reward_file as write_openrlhf_reward_file
from rewardlab.integrations.trl import AsyncTRLReward, TRLReward, to_trl
from rewardlab.integrations.verl import compute_score, compute_score_batch, make_compute_score

__all__ = [
    "ON_FAILURE_ENV",
    "REWARD_ENV",
    "AsyncTRLReward",
    "RewardFailure",
    "TRLReward",
    "close_loaded_rewards",
    "compute_score",
    "compute_score_batch",
    "make_compute_score",
    "make_openrlhf_reward_func",
    "to_trl",
    "write_openrlhf_reward_file",
]
