"""LLM judges, verifiers and rubrics over any OpenAI-compatible server, hardened and measured.

Five rewards, loaded by name like any other (``rewardlab.load("judge_verify", base_url=..., model=...)``):

- ``judge``: a pointwise score on a scale from a template (built-in or your own, with named fields);
- ``judge_verify``: is the final answer equivalent to the reference (yes/no);
- ``judge_pairwise``: the completion against another response, asked in both orders;
- ``rubric``: weighted criteria, essential ones gating the total;
- ``principles``: RLBFF binary principles.

Each owns one `JudgeClient` (concurrency cap, rate limits, retries of transient
failures, a per-call deadline, a persistent SQLite cache) for its whole life.
The judged text reaches the model only as fenced, neutralised data, and the
verdict is read only from a required final line: a reply without one is an
``error``, never a 0 and never a 1. See docs/judges.md.
"""

from rewardlab.rewards.judge._cache import CACHE_MODES, default_cache_path, request_key
from rewardlab.rewards.judge._client import ClientStats, Completion, JudgeCallError, JudgeClient
from rewardlab.rewards.judge._rewards import (
    USAGE_KEYS,
    Criterion,
    JudgeReward,
    PairwiseJudge,
    PointwiseJudge,
    PrinciplesJudge,
    RubricJudge,
    VerifyJudge,
    parse_rubric,
)
from rewardlab.rewards.judge._templates import BUILTIN_TEMPLATES, JudgeTemplate
from rewardlab.rewards.judge._verdict import fence, last_verdict

__all__ = [
    "BUILTIN_TEMPLATES",
    "CACHE_MODES",
    "USAGE_KEYS",
    "ClientStats",
    "Completion",
    "Criterion",
    "JudgeCallError",
    "JudgeClient",
    "JudgeReward",
    "JudgeTemplate",
    "PairwiseJudge",
    "PointwiseJudge",
    "PrinciplesJudge",
    "RubricJudge",
    "VerifyJudge",
    "default_cache_path",
    "fence",
    "last_verdict",
    "parse_rubric",
    "request_key",
]
