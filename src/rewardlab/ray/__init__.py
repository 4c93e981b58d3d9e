"""rewardlab on Ray: the score job on Ray Data, reward actors, the server on Ray Serve.

`score_file_on_ray` runs the score job (``rewardlab score --ray``) on Ray Data: read tasks
read the input, an actor pool (each actor builds the reward once) scores whole batches, and
the driver writes the same file the local job writes. `RewardActorPool` holds one copy of a
reward per actor (set up once: a model loaded, a sandbox pool started) and scores batches
with deadlines and typed failures, for Ray-based trainers (the verl adapter takes it).
`serve_application` is the reward server as a Ray Serve application (``rewardlab serve
--ray``), replicas set by `Scaling`. Needs the ``ray`` extra. See ``docs/ray.md``.
"""

from rewardlab.ray._actors import RewardActorPool
from rewardlab.ray._data import score_file_on_ray
from rewardlab.ray._serve import Scaling, serve_application

__all__ = ["RewardActorPool", "Scaling", "score_file_on_ray", "serve_application"]
