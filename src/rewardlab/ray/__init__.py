"""rewardlab on Ray: the score job on Ray Data, and reward actors for Ray-based trainers.

`score_file_on_ray` runs the score job (``rewardlab score --ray``) on Ray Data: read
tasks read the input, an actor pool (each actor builds the reward once) scores whole
batches, and the driver writes the same file the local job writes. `RewardActorPool` holds
one copy of a reward per actor and scores batches with deadlines and typed failures, for
Ray-based trainers (the verl adapter takes it). Needs the ``ray`` extra. See ``docs/ray.md``.
"""

from rewardlab.ray._actors import RewardActorPool
from rewardlab.ray._data import score_file_on_ray

__all__ = ["RewardActorPool", "score_file_on_ray"]
