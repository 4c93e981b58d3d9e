"""rewardlab on Ray: reward actors, the score job on a cluster, the server on Ray Serve.

`RewardActorPool` holds one copy of a reward per actor (set up once: a model loaded, a
sandbox pool started) and scores batches with deadlines and typed failures. The score job
uses it as its batch executor (``rewardlab score --ray``). `serve_application` is the
reward server as a Ray Serve application (``rewardlab serve --ray``), replicas set by
`Scaling`. Needs the ``ray`` extra. See ``docs/ray.md``.
"""

from rewardlab.ray._actors import RewardActorPool
from rewardlab.ray._serve import Scaling, serve_application

__all__ = ["RewardActorPool", "Scaling", "serve_application"]
