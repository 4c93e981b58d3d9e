"""Compose and shape rewards: weights, gates, routes, transforms, group rewards.

Rewards of rewards are plain factories that return `Reward` objects, so a
composite scores, loads, serves and adapts like any other reward::

    from rewardlab.compose import Term, gate, weighted_sum

    reward = weighted_sum(
        Term("format", weight=0.2),
        Term(gate("format", "exact_match"), weight=1.0, name="answer"),
    )

The same thing as a spec file (``rewardlab score -r spec.toml``, ``rewardlab
check spec.toml``) is described in ``docs/compose.md``.
"""

from rewardlab.compose._base import CompositeReward
from rewardlab.compose._combinators import Term, gate, maximum, mean, minimum, product, route, weighted_sum
from rewardlab.compose._group import pairwise_win_rate
from rewardlab.compose._shaping import (
    affine,
    clip,
    gated_accumulation,
    length_correlation,
    length_penalty,
    lsc,
    lsc_and,
    par,
    running_normalize,
)
from rewardlab.compose._spec import SpecError, SpecProblem, build_spec, check_spec, load_spec_file

__all__ = [
    "CompositeReward",
    "SpecError",
    "SpecProblem",
    "Term",
    "affine",
    "build_spec",
    "check_spec",
    "clip",
    "gate",
    "gated_accumulation",
    "length_correlation",
    "length_penalty",
    "load_spec_file",
    "lsc",
    "lsc_and",
    "maximum",
    "mean",
    "minimum",
    "pairwise_win_rate",
    "par",
    "product",
    "route",
    "running_normalize",
    "weighted_sum",
]
