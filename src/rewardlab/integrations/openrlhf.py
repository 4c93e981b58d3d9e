"""OpenRLHF adapter: ``reward_func(queries, prompts, labels, **kwargs)`` for ``--remote_rm_url file.py``.

OpenRLHF imports the file given to ``--remote_rm_url`` and calls its ``reward_func`` with
``queries`` (prompt + response text), ``prompts`` and ``labels`` (the ``--label_key``
column), expecting a dict of ``rewards`` (tensor, for advantages), ``scores`` (tensor, for
dynamic filtering) and ``extra_logs`` (logged). Ship ``rewardlab/integrations/openrlhf_reward.py``
as that file (configured by ``$REWARDLAB_REWARD``), or write one with the reward baked in::

    python -m rewardlab.integrations.openrlhf reward_func.py --reward spec.toml --on-failure nan
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rewardlab._types import Sample, Score
from rewardlab.integrations._common import BoundReward, parse_on_failure, resolve_reward, value_for_trainer


def split_response(query: str, prompt: str) -> str | None:
    """The response part of an OpenRLHF query (``prompt + response``), or None when the query
    does not start with the prompt (then the response cannot be told apart from the prompt)."""
    if query.startswith(prompt):
        return query[len(prompt) :]
    return None


def _mismatch(query: str, prompt: str) -> Score:
    at = len(os.path.commonprefix([query, prompt]))
    return Score.error(
        f"query does not start with its prompt (first difference at character {at}: "
        f"query {query[at : at + 20]!r}, prompt {prompt[at : at + 20]!r}); the response cannot be "
        "separated, so nothing was scored"
    )


def score_queries(
    queries: Sequence[str],
    prompts: Sequence[str],
    labels: Sequence[Any] | None,
    *,
    reward: Any = None,
    on_failure: Any = None,
    **_ignored: Any,
) -> dict[str, Any]:
    """Score an OpenRLHF batch and return OpenRLHF's dict of tensors.

    ``rewards`` and ``scores`` hold the same values (non-ok scores per
    ``on_failure``: ``raise`` by default, ``nan`` or a number); ``extra_logs``
    holds ``rewardlab_ok`` (1.0/0.0 per sample). A query that does not start
    with its prompt is not scored: it is ``error`` with a reason saying where
    they differ, since scoring the whole query would grade the prompt too.
    """
    import torch

    scorer = resolve_reward(reward)
    policy = parse_on_failure(on_failure)
    n = len(queries)
    if len(prompts) != n or (labels is not None and len(labels) != n):
        raise ValueError(f"{n} queries but {len(prompts)} prompts and {len(labels or [])} labels")
    scores: list[Score] = [Score.error("not scored")] * n
    samples: list[Sample] = []
    positions: list[int] = []
    for i in range(n):
        query, prompt = str(queries[i]), str(prompts[i])
        response = split_response(query, prompt)
        if response is None:
            scores[i] = _mismatch(query, prompt)
            continue
        positions.append(i)
        samples.append(
            Sample(
                completion=response,
                prompt=prompts[i],
                reference=None if labels is None else labels[i],
                extras={"query": queries[i]},
            )
        )
    if samples:
        for i, score in zip(positions, scorer.score(samples), strict=True):
            scores[i] = score
    values = [value_for_trainer(s, i, policy) for i, s in enumerate(scores)]
    rewards = torch.tensor(values, dtype=torch.float32)
    ok = torch.tensor([1.0 if s.is_ok else 0.0 for s in scores], dtype=torch.float32)
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": {"rewardlab_ok": ok}}


def make_reward_func(reward: Any, *, on_failure: Any = "raise") -> Callable[..., dict[str, Any]]:
    """A ``reward_func(queries, prompts, labels, **kwargs)`` bound to one reward.

    A reward given by name, signature or spec is loaded for the returned function, which
    owns it: ``reward_func.close()`` releases what the reward set up.
    """
    bound = BoundReward(reward)
    scorer = bound.reward
    policy = parse_on_failure(on_failure)

    def reward_func(
        queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return score_queries(queries, prompts, labels, reward=scorer, on_failure=policy)

    reward_func.reward = scorer  # type: ignore[attr-defined]
    reward_func.close = bound.close  # type: ignore[attr-defined]
    return reward_func


_TEMPLATE = '''"""OpenRLHF reward file written by rewardlab: pass its path to --remote_rm_url."""

from rewardlab.integrations.openrlhf import make_reward_func

reward_func = make_reward_func({reward!r}, on_failure={on_failure!r})
'''


def write_reward_file(path: str | Path, reward: str, *, on_failure: str = "raise") -> Path:
    """Write a ``reward_func`` file for OpenRLHF with the reward (name, signature or spec path) baked in.

    A relative spec path is made absolute, since OpenRLHF may run the file from another directory.
    """
    parse_on_failure(on_failure)
    if reward.lower().endswith((".toml", ".yaml", ".yml", ".json")):
        reward = str(Path(reward).resolve())
    BoundReward(reward).close()  # fail now, not on the first training step
    target = Path(path)
    policy: Any = on_failure if on_failure in ("raise", "nan") else float(on_failure)
    target.write_text(_TEMPLATE.format(reward=reward, on_failure=policy), encoding="utf-8")
    return target


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rewardlab.integrations.openrlhf", description=__doc__)
    parser.add_argument("output", help="Python file to write (pass it to --remote_rm_url)")
    parser.add_argument("--reward", required=True, help="reward name, signature or spec file")
    parser.add_argument("--on-failure", default="raise", help="raise (default), nan, or a number")
    args = parser.parse_args(argv)
    written = write_reward_file(args.output, args.reward, on_failure=args.on_failure)
    print(f"wrote {written}")


if __name__ == "__main__":
    main()
