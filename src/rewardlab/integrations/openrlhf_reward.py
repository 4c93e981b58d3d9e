"""OpenRLHF reward file: pass its path to ``--remote_rm_url``.

Find the path with ``python -c "import rewardlab.integrations.openrlhf_reward as m; print(m.__file__)"``.

The reward comes from ``$REWARDLAB_REWARD`` (a name, signature or spec file, read on the
first call) and the failure policy from ``$REWARDLAB_ON_FAILURE`` (``raise``, ``nan`` or a
number; default ``raise``). OpenRLHF imports this file by path and calls ``reward_func``.
"""

from typing import Any

from rewardlab.integrations.openrlhf import score_queries


def reward_func(queries: Any, prompts: Any, labels: Any = None, **kwargs: Any) -> dict[str, Any]:
    """OpenRLHF's entry point: ``{"rewards", "scores", "extra_logs"}`` for a batch of queries."""
    return score_queries(queries, prompts, labels)
