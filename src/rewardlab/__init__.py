"""rewardlab: the reward layer for LLM post-training.

Define rewards, compose them, audit them before training, and serve them to any
trainer. The public contract is three names::

    reward = rewardlab.load("math")            # a name, signature, spec file or mapping
    scores = reward.score(samples)             # list[Score], never raises per sample
    scores = await reward.ascore(samples)      # the same, without blocking an event loop
"""

from rewardlab._executor import CallResult, Executor
from rewardlab._load import load
from rewardlab._registry import RewardNotFound, list_rewards, register
from rewardlab._reward import Reward, RewardParamError, reward
from rewardlab._signature import Signature
from rewardlab._types import FieldMap, Sample, SampleError, Score, Status
from rewardlab._version import __version__

__all__ = [
    "CallResult",
    "Executor",
    "FieldMap",
    "Reward",
    "RewardNotFound",
    "RewardParamError",
    "Sample",
    "SampleError",
    "Score",
    "Signature",
    "Status",
    "__version__",
    "list_rewards",
    "load",
    "register",
    "reward",
]
