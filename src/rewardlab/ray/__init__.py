"""rewardlab on Ray: reward actors for Ray-based trainers and the score job on a cluster.

`RewardActorPool` holds one copy of a reward per actor (set up once: a model loaded, a
sandbox pool started) and scores batches with deadlines and typed failures. The score job
uses it as its batch executor (``rewardlab score --ray``). Needs the ``ray`` extra. See
``docs/ray.md``.
"""

from rewardlab.ray._actors import RewardActorPool

__all__ = ["RewardActorPool"]
