"""Best-of-N, voting, RAFT and threshold selection over groups of candidate completions.

Answers are read with the math reward's extraction (`extract_final_answer`) and grouped
by the equality of an answer reward (``math`` by default: math-verify under deadlines),
so ``0.5``, ``1/2`` and ``\\frac{1}{2}`` are one vote. Every candidate's reward keeps its
status: a candidate whose reward failed is never selected for its score (it can still
carry votes in majority voting, which ignores rewards).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab._reward import Reward
from rewardlab._types import Sample, Score, Status
from rewardlab.rewards.math._answer import extract_final_answer

METHODS = ("best", "majority", "weighted_vote", "raft", "threshold")
"""Selection methods: ``best`` (highest reward), ``majority`` (most common answer),
``weighted_vote`` (answer with the largest reward sum), ``raft`` (top-k by reward),
``threshold`` (the best candidate if its reward clears a bar, else nothing)."""

NEEDS_REWARD = {"best", "weighted_vote", "raft", "threshold"}

EQUALITY_BATCH = 4096
"""Answer pairs compared per call of the answer reward."""


@dataclass
class Candidate:
    """One candidate of a group, with what selection needs to know about it."""

    index: int
    row: dict[str, Any]
    text: str
    answer: str | None = None
    cluster: int | None = None
    score: Score | None = None
    correct: bool | None = None

    @property
    def value(self) -> float | None:
        return self.score.value if self.score is not None and self.score.status is Status.OK else None


@dataclass
class Group:
    key: Any
    candidates: list[Candidate] = field(default_factory=list)


@dataclass
class Selection:
    """The outcome for one group: the chosen candidates (empty when the method abstains)."""

    group: Group
    chosen: list[Candidate]
    votes: Mapping[int, float] = field(default_factory=dict)
    reason: str = ""


def group_rows(rows: Sequence[dict[str, Any]], key_field: str, completion_field: str) -> list[Group]:
    """Group rows by a field, in the order groups first appear (rows need not be contiguous)."""
    groups: dict[Any, Group] = {}
    for n, row in enumerate(rows):
        if key_field not in row:
            raise ValueError(f"row {n + 1}: missing the group field {key_field!r}")
        if completion_field not in row:
            raise ValueError(f"row {n + 1}: missing the completion field {completion_field!r}")
        key = row[key_field]
        hashable = key if isinstance(key, (str, int, float, bool)) or key is None else repr(key)
        group = groups.setdefault(hashable, Group(key))
        completion = row[completion_field]
        text = completion if isinstance(completion, str) else Sample(completion=completion).completion_text
        group.candidates.append(Candidate(len(group.candidates), row, text))
    return list(groups.values())


def extract_answers(groups: Sequence[Group]) -> None:
    """Read each candidate's final answer (``None`` when it commits to none)."""
    for group in groups:
        for cand in group.candidates:
            found = extract_final_answer(cand.text)
            cand.answer = found.text.strip() if found.text else None


def cluster_answers(
    groups: Sequence[Group],
    answer_reward: Reward,
    score_many: Callable[[Reward, list[Sample]], list[Score]],
) -> int:
    """Give equivalent answers within each group the same cluster id.

    Distinct answer strings of a group are compared pairwise with the answer reward
    (``\\boxed{b}`` against reference ``a``); equal pairs are joined (union-find), so
    equivalence is transitive. Returns the number of comparisons made.
    """
    pairs: list[tuple[Group, str, str]] = []
    for group in groups:
        distinct = sorted({c.answer for c in group.candidates if c.answer is not None})
        for i, a in enumerate(distinct):
            for b in distinct[i + 1 :]:
                pairs.append((group, a, b))
    samples = [Sample(completion=f"\\boxed{{{b}}}", reference=a) for _, a, b in pairs]
    scores = score_many(answer_reward, samples) if samples else []
    equal: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for (group, a, b), score in zip(pairs, scores, strict=True):
        if score.status is Status.OK and score.value is not None and score.value >= 1.0:
            equal[id(group)].append((a, b))
    for group in groups:
        distinct = sorted({c.answer for c in group.candidates if c.answer is not None})
        parent = {a: a for a in distinct}

        def find(x: str, parent: dict[str, str] = parent) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in equal.get(id(group), []):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        ids = {root: n for n, root in enumerate(sorted({find(a) for a in distinct}))}
        for cand in group.candidates:
            cand.cluster = None if cand.answer is None else ids[find(cand.answer)]
    return len(pairs)


def select(
    candidates: Sequence[Candidate],
    method: str,
    *,
    k: int = 1,
    threshold: float | None = None,
    weight: str = "raw",
) -> tuple[list[Candidate], dict[int, float], str]:
    """Apply one method to one group's candidates; returns (chosen, votes per cluster, reason).

    Ties go to the candidate that comes first in ``candidates`` (for votes: the cluster
    whose first member comes first). ``weight`` sets a weighted vote's weights: ``raw``
    rewards (they must not be negative) or ``exp`` (``exp(reward - best reward)``, for
    rewards on a logit scale).

    Raises:
        ValueError: a raw weighted vote met a negative reward.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    position = {id(c): n for n, c in enumerate(candidates)}
    scored = [c for c in candidates if c.value is not None]
    if method in {"best", "threshold"}:
        if not scored:
            return [], {}, "no candidate has an ok reward"
        best = max(scored, key=lambda c: (c.value, -position[id(c)]))
        if method == "threshold" and (threshold is None or (best.value or 0.0) < threshold):
            return [], {}, f"best reward {best.value:.4g} is below the threshold {threshold}"
        return [best], {}, ""
    if method == "raft":
        if not scored:
            return [], {}, "no candidate has an ok reward"
        ranked = sorted(scored, key=lambda c: (-(c.value or 0.0), position[id(c)]))
        return ranked[:k], {}, ""
    votes: dict[int, float] = defaultdict(float)
    first: dict[int, int] = {}
    top = max([c.value for c in scored if c.value is not None], default=0.0)
    for n, cand in enumerate(candidates):
        if cand.cluster is None:
            continue
        if method == "majority":
            votes[cand.cluster] += 1.0
        elif cand.value is not None:
            if weight == "exp":
                votes[cand.cluster] += math.exp(cand.value - top)
            elif cand.value < 0:
                raise ValueError(
                    f"a weighted vote with raw weights needs non-negative rewards, got {cand.value:g}; "
                    "use exp weights for rewards that can be negative"
                )
            else:
                votes[cand.cluster] += cand.value
        else:
            continue
        first.setdefault(cand.cluster, n)
    if not votes:
        return [], {}, "no candidate commits to an answer" + ("" if method == "majority" else " with an ok reward")
    winner = max(votes, key=lambda cl: (votes[cl], -first[cl]))
    members = [c for c in candidates if c.cluster == winner]
    pick = max(members, key=lambda c: (c.value if c.value is not None else -np.inf, -position[id(c)]))
    return [pick], dict(votes), ""


def eval_curves(
    groups: Sequence[Group],
    methods: Sequence[str],
    *,
    subsets: int = 20,
    seed: int = 0,
    weight: str = "raw",
) -> dict[str, list[dict[str, float]]]:
    """Accuracy of each method against N, averaged over random subsets of each group.

    N runs over 1, 2, 4, ... up to the largest group, plus the largest group size; a group
    smaller than N uses all its candidates. Each subset is in random order, so ties
    between candidates are broken at random. Besides the methods, ``oracle`` (some candidate
    is correct: pass@N) and ``first`` (the first candidate of the subset) are reported.
    Candidates need ``correct`` set.
    """
    rng = np.random.default_rng(seed)
    largest = max(len(g.candidates) for g in groups)
    ns = sorted({*(2**i for i in range(largest.bit_length()) if 2**i <= largest), largest})
    curves: dict[str, list[dict[str, float]]] = {m: [] for m in (*methods, "oracle", "first")}
    for n in ns:
        hits: dict[str, list[float]] = defaultdict(list)
        for group in groups:
            size = len(group.candidates)
            draws = 1 if n >= size else subsets
            for _ in range(draws):
                pick = rng.permutation(size)[: min(n, size)]
                subset = [group.candidates[i] for i in pick]
                for method in methods:
                    chosen, _, _ = select(subset, method, weight=weight)
                    hits[method].append(1.0 if chosen and chosen[0].correct else 0.0)
                hits["oracle"].append(1.0 if any(c.correct for c in subset) else 0.0)
                hits["first"].append(1.0 if subset[0].correct else 0.0)
        for method, values in hits.items():
            curves[method].append({"n": float(n), "accuracy": float(np.mean(values)), "draws": float(len(values))})
    return curves


def summary_counts(selections: Sequence[Selection]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for sel in selections:
        out["groups"] += 1
        out["selected"] += len(sel.chosen)
        if not sel.chosen:
            out["abstained"] += 1
    return dict(out)
