"""The judge rewards: `judge`, `judge_verify`, `judge_pairwise`, `rubric`, `principles`.

Each is an ordinary `Reward` (same `Score`, statuses, composition, audit and
score job), built like every reward that holds a resource: a resident factory
of the seam whose setup opens one `JudgeClient` on the process's reward loop,
shared by every batch and by every composite that holds the same reward object,
and closed by `close()`. Statuses:

- ``ok``: a well-formed verdict was read (or the completion has no content at
  all, which earns the lowest value without asking the judge);
- ``abstain``: the row lacks what the judgment needs (a reference, a rubric);
- ``error``: the server refused the request (4xx, with its message), failed
  after its retries, or replied without a well-formed verdict;
- ``timeout``: the call overran its deadline.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from rewardlab._reward import FunctionReward, RewardParamError, _Param, coerce_param
from rewardlab._signature import Signature
from rewardlab._types import Sample, Score, Status, as_sample
from rewardlab.rewards.judge._client import (
    DEFAULT_CONCURRENCY,
    DEFAULT_DEADLINE,
    DEFAULT_RETRIES,
    Completion,
    JudgeCallError,
    JudgeClient,
    on_home_loop,
    run_on_home_loop,
)
from rewardlab.rewards.judge._templates import JudgeTemplate, resolve_template
from rewardlab.rewards.judge._verdict import (
    INTEGER,
    WINNER,
    YES_NO,
    Verdict,
    fence,
    has_content,
    last_verdict,
    neutralise,
    numbered,
    verdict_lines,
    yes_probability,
)

T = TypeVar("T")

MAX_CRITERIA = 64
"""Most criteria (or principles) in one rubric: bounds the requests one sample can cost."""

USAGE_KEYS = ("judge_requests", "judge_cached", "judge_prompt_tokens", "judge_completion_tokens", "judge_cost")
"""Component names carrying a judge's usage on every score (summed by the score job's run summary)."""

_COMMON: dict[str, tuple[Any, Any]] = {
    "base_url": (None, str | None),
    "model": (None, str | None),
    "template": (None, str | None),
    "system": (None, str | None),
    "temperature": (0.0, float),
    "max_tokens": (512, int),
    "logprobs": (False, bool),
    "concurrency": (DEFAULT_CONCURRENCY, int),
    "rpm": (None, float | None),
    "tpm": (None, float | None),
    "retries": (DEFAULT_RETRIES, int),
    "deadline": (DEFAULT_DEADLINE, float),
    "cache": ("readwrite", Literal["off", "read", "readwrite"]),
    "cache_path": (None, str | None),
    "prices": (None, dict | None),
}
"""Parameters every judge takes (``api_key`` and ``client`` are accepted too, never recorded)."""

_YES_NO_FORMAT = (
    "First explain your decision briefly. Then end your reply with one final line made of the word VERDICT, a "
    "colon and the single word yes or no, with nothing after that line."
)


@dataclass
class _Usage:
    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def add(self, completion: Completion) -> None:
        self.requests += completion.requests
        self.cached += int(completion.cached)
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.cost += completion.cost

    def components(self, with_cost: bool) -> dict[str, float]:
        out = {
            "judge_requests": float(self.requests),
            "judge_cached": float(self.cached),
            "judge_prompt_tokens": float(self.prompt_tokens),
            "judge_completion_tokens": float(self.completion_tokens),
        }
        if with_cost:
            out["judge_cost"] = self.cost
        return out


class _Fail(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class _Live:
    """The open client of a judge, shared by the judge and its relabelled copies (a composite's terms)."""

    __slots__ = ("client",)

    def __init__(self) -> None:
        self.client: JudgeClient | None = None


class JudgeReward(FunctionReward[Any]):
    """Base of the judge rewards: typed parameters, a factory that opens the client, the call and the usage accounting.

    A judge is a resident factory reward of the seam (`rewardlab.reward` with
    ``factory=True``): its setup, run once on the process's reward loop on
    first use, opens one `JudgeClient` (connection pool, concurrency cap, rate
    limiters, reply cache) that every batch then shares; ``close()`` (or a
    ``with`` block) closes it, and the judge opens a new one if used again.
    """

    kind: str = ""
    default_template: str = ""
    own_params: dict[str, tuple[Any, Any]] = {}

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        api_key: str | None = None,
        client: JudgeClient | None = None,
        description: str = "",
    ) -> None:
        declared = self.parameters()
        merged = {name: default for name, (default, _) in declared.items()}
        merged["template"] = merged["template"] or self.default_template
        for key, value in (params or {}).items():
            if key not in declared:
                known = ", ".join(declared)
                raise RewardParamError(f"reward {self.kind!r} has no parameter {key!r} (parameters: {known})")
            value = coerce_param(key, value, declared[key][1])
            if declared[key][1] in (float, float | None) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # deadline=3 and deadline=3.0 are one judge, with one signature
            merged[key] = value
        super().__init__(
            self._open,
            name=self.kind,
            params=merged,
            declared={name: _Param(name, default, annotation) for name, (default, annotation) in declared.items()},
            range=(0.0, 1.0),
            description=description or (self.__doc__ or "").split("\n")[0],
            batched=True,
            placement="resident",  # one instance in the process that built it; never pickled into a worker
            timeout=None,
            factory=True,
        )
        self._api_key = api_key
        self._given_client = client
        self._live = _Live()
        self.template: JudgeTemplate = resolve_template(
            str(merged["template"]), merged["system"], default_system="You are a careful, strict evaluator."
        )
        if merged["cache"] not in ("off", "read", "readwrite"):
            raise RewardParamError(
                f"reward {self.kind!r}: cache must be off, read or readwrite, got {merged['cache']!r}"
            )
        self._check_params()

    @classmethod
    def parameters(cls) -> dict[str, tuple[Any, Any]]:
        """Every parameter: name -> (default, annotation)."""
        return {**cls.own_params, **_COMMON}

    def get_signature(self) -> Signature:
        """Name, parameters and version, with the judge model shown as the signature's ``model`` field."""
        model = self.params.get("model")
        return Signature(self.name, self.params, model=model if isinstance(model, str) else None)

    def origin(self) -> Any:
        return (type(self).__module__, type(self).__qualname__)

    def _check_params(self) -> None:
        """Validate family parameters at build time (raise `RewardParamError`)."""

    # -- identity and rebinding ------------------------------------------------
    def __call__(self, **params: Any) -> JudgeReward:
        api_key = params.pop("api_key", self._api_key)
        client = params.pop("client", None)
        return type(self)({**self.params, **params}, api_key=api_key, client=client)

    def with_timeout(self, timeout: float | None) -> JudgeReward:
        """The same judge with another per-call deadline (``rewardlab score --timeout``)."""
        return self(deadline=timeout) if timeout is not None else self

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError(
            f"reward {self.name!r} is resident: it runs in the process that opened it and is never sent to a worker"
        )

    # -- setup and the client --------------------------------------------------
    async def _open(self, **params: Any) -> AsyncIterator[Callable[[list[Sample]], Awaitable[list[Score]]]]:
        """The factory: open the client (on the reward loop), score every batch with it, close it at the end."""
        client = self._given_client or JudgeClient(
            base_url=params["base_url"],
            model=params["model"],
            api_key=self._api_key,
            concurrency=params["concurrency"],
            rpm=params["rpm"],
            tpm=params["tpm"],
            retries=params["retries"],
            deadline=params["deadline"],
            cache=params["cache"],
            cache_path=params["cache_path"],
            prices=params["prices"],
        )
        self._live.client = client
        try:
            yield functools.partial(self._score_batch, client)
        finally:
            self._live.client = None
            if self._given_client is None:  # a client passed in is left to its owner
                await client.aclose()

    async def _open_client(self) -> JudgeClient:
        """The open client, setting the judge up first if needed (from any event loop)."""
        await self._scorer()
        client = self._live.client
        if client is None:  # closed meanwhile by another caller
            raise RuntimeError(f"judge {self.name!r} was closed while in use")
        return client

    @property
    def client(self) -> JudgeClient:
        """The client this judge holds (its setup runs first when it has not yet)."""
        client = self._live.client
        return client if client is not None else run_on_home_loop(self._open_client())

    # -- scoring ---------------------------------------------------------------
    async def _score_batch(self, client: JudgeClient, samples: list[Sample]) -> list[Score]:
        """The batch coroutine: every sample's requests at once, capped by the client's concurrency."""
        return list(await asyncio.gather(*(self._guarded(client, s) for s in samples)))

    async def _guarded(self, client: JudgeClient, sample: Sample) -> Score:
        usage = _Usage()
        with_cost = bool(self.params["prices"])
        try:
            value, components, reason = await self._judge(client, sample, usage)
        except _Fail as failure:
            return Score(None, failure.status, usage.components(with_cost), failure.reason)
        except JudgeCallError as exc:
            usage.requests += exc.attempts
            return Score(None, exc.status, usage.components(with_cost), exc.reason)
        return Score.ok(value, components={**components, **usage.components(with_cost)}, reason=reason)

    async def _judge(self, client: JudgeClient, sample: Sample, usage: _Usage) -> tuple[float, dict[str, float], str]:
        raise NotImplementedError

    # -- pieces ----------------------------------------------------------------
    def _fill(self, template: JudgeTemplate, sample: Sample, extra: Mapping[str, str]) -> str:
        values: dict[str, str] = {}
        for slot in template.fields:
            if slot in extra:
                values[slot] = extra[slot]
            elif slot == "completion":
                values[slot] = fence("response", sample.completion_text)
            elif slot == "prompt":
                values[slot] = sample.prompt_text or "(no request given)"
            elif slot == "reference":
                if sample.reference is None or str(sample.reference).strip() == "":
                    raise _Fail(Status.ABSTAIN, "no reference answer to judge against")
                values[slot] = str(sample.reference)
            else:
                value = sample.get(slot)
                if value is None:
                    raise _Fail(Status.ABSTAIN, f"row has no field {slot!r} (used by the judge template)")
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                values[slot] = fence("data", text)
        return template.user.format(**values)

    async def _ask(
        self, client: JudgeClient, template: JudgeTemplate, user: str, instructions: str, usage: _Usage
    ) -> Completion:
        messages = [
            {"role": "system", "content": template.system},
            {"role": "user", "content": f"{user}\n\n{instructions}"},
        ]
        body = client.request_body(
            messages,
            temperature=self.params["temperature"],
            max_tokens=self.params["max_tokens"],
            logprobs=self.params["logprobs"],
        )
        completion = await client.acomplete(body)
        usage.add(completion)
        return completion

    def _yes_value(self, verdict: Verdict, completion: Completion) -> tuple[float, bool]:
        """1/0 from the verdict, or P(yes) from logprobs when asked for and the server returned them."""
        if self.params["logprobs"]:
            p = yes_probability(verdict, completion.logprobs)
            if p is not None:
                return p, True
        return (1.0 if verdict.value.lower() == "yes" else 0.0), False


async def _all_or_first_failure(*calls: Coroutine[Any, Any, T]) -> list[T]:
    """Every call's result, or the first failure once all have finished (no request is left running unowned)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return typing.cast(list[T], results)


def _no_verdict(what: str, reply: str) -> _Fail:
    head = " ".join(reply.split())[:160]
    return _Fail(
        Status.ERROR, f"judge reply has no well-formed verdict (expected a final line {what}); reply: {head!r}"
    )


# -- pointwise ---------------------------------------------------------------------------------------


class PointwiseJudge(JudgeReward):
    """An LLM judge's score of the completion on a scale, normalised to [0, 1]."""

    kind = "judge"
    default_template = "helpfulness"
    own_params = {"scale_min": (1, int), "scale_max": (10, int)}

    def _check_params(self) -> None:
        lo, hi = self.params["scale_min"], self.params["scale_max"]
        if not lo < hi or hi - lo > 1000:
            raise RewardParamError(f"judge: scale_min must be below scale_max (within 1000), got {lo}..{hi}")

    async def _judge(self, client: JudgeClient, sample: Sample, usage: _Usage) -> tuple[float, dict[str, float], str]:
        lo, hi = self.params["scale_min"], self.params["scale_max"]
        if not has_content(sample.completion_text):
            return 0.0, {"judge_score": float(lo)}, "completion has no content; lowest score without asking"
        user = self._fill(self.template, sample, {})
        instructions = (
            "First explain your assessment briefly. Then end your reply with one final line made of the word SCORE, "
            f"a colon and one whole number from {lo} (worst) to {hi} (best), with nothing after that line."
        )
        completion = await self._ask(client, self.template, user, instructions, usage)
        verdict = last_verdict(completion.text, "score", INTEGER)
        if verdict is None:
            raise _no_verdict(f"'SCORE: <{lo}..{hi}>'", completion.text)
        raw = int(verdict.value)
        if not lo <= raw <= hi:
            raise _Fail(Status.ERROR, f"judge gave SCORE {raw}, outside the scale {lo}..{hi}")
        return (raw - lo) / (hi - lo), {"judge_score": float(raw)}, ""


class VerifyJudge(JudgeReward):
    """Is the completion's final answer equivalent to the reference? An LLM verifier for free-form answers (yes/no)."""

    kind = "judge_verify"
    default_template = "verify"

    async def _judge(self, client: JudgeClient, sample: Sample, usage: _Usage) -> tuple[float, dict[str, float], str]:
        if sample.reference is None or str(sample.reference).strip() == "":
            raise _Fail(Status.ABSTAIN, "no reference answer to verify against")
        if not has_content(sample.completion_text):
            return 0.0, {}, "completion has no content; not equivalent without asking"
        user = self._fill(self.template, sample, {})
        completion = await self._ask(client, self.template, user, _YES_NO_FORMAT, usage)
        verdict = last_verdict(completion.text, "verdict", YES_NO)
        if verdict is None:
            raise _no_verdict("'VERDICT: yes' or 'VERDICT: no'", completion.text)
        value, from_logprobs = self._yes_value(verdict, completion)
        return value, {"judge_logprob_scored": float(from_logprobs)}, ""


# -- pairwise ----------------------------------------------------------------------------------------


_WIN_OF_A = {"a": 1.0, "b": 0.0, "tie": 0.5}


class PairwiseJudge(JudgeReward):
    """An LLM judge's preference for the completion over another response, asked in both orders."""

    kind = "judge_pairwise"
    default_template = "pairwise"
    own_params = {
        "other_field": ("other", str),
        "against": ("field", Literal["field", "reference"]),
        "inconsistent": ("tie", Literal["tie", "abstain"]),
    }

    def _check_params(self) -> None:
        if self.params["against"] not in ("field", "reference"):
            raise RewardParamError("judge_pairwise: against must be 'field' or 'reference'")
        if self.params["inconsistent"] not in ("tie", "abstain"):
            raise RewardParamError("judge_pairwise: inconsistent must be 'tie' or 'abstain'")
        if not {"a", "b"} <= set(self.template.fields):
            raise RewardParamError(f"judge_pairwise: template {self.template.name!r} needs {{a}} and {{b}} slots")

    def _other_text(self, sample: Sample) -> str:
        if self.params["against"] == "reference":
            if sample.reference is None:
                raise _Fail(Status.ABSTAIN, "no reference answer to compare against")
            return str(sample.reference)
        other = sample.get(self.params["other_field"])
        if other is None:
            raise _Fail(Status.ABSTAIN, f"row has no field {self.params['other_field']!r} to compare against")
        return other if isinstance(other, str) else Sample(completion=other).completion_text

    async def _judge(self, client: JudgeClient, sample: Sample, usage: _Usage) -> tuple[float, dict[str, float], str]:
        return await self._compare(client, sample, sample.completion_text, self._other_text(sample), usage)

    async def _compare(
        self, client: JudgeClient, sample: Sample, mine: str, other: str, usage: _Usage
    ) -> tuple[float, dict[str, float], str]:
        if not has_content(mine) or not has_content(other):
            value = 0.5 if not has_content(mine) and not has_content(other) else float(has_content(mine))
            return value, {}, "a response without content loses without asking"
        forward, backward = await _all_or_first_failure(
            self._one_order(client, sample, mine, other, usage), self._one_order(client, sample, other, mine, usage)
        )
        first = _WIN_OF_A[forward]  # this completion was A
        second = 1.0 - _WIN_OF_A[backward]  # this completion was B
        components = {"order_ab": first, "order_ba": second}
        if {first, second} == {0.0, 1.0}:
            if self.params["inconsistent"] == "abstain":
                raise _Fail(Status.ABSTAIN, "the two orders disagree (position bias); no preference")
            return 0.5, components, "the two orders disagree (position bias): a tie"
        return (first + second) / 2, components, ""

    async def _one_order(self, client: JudgeClient, sample: Sample, a: str, b: str, usage: _Usage) -> str:
        user = self._fill(self.template, sample, {"a": fence("response", a), "b": fence("response", b)})
        instructions = (
            "First compare the two responses briefly. Then end your reply with one final line made of the word "
            "WINNER, a colon and A, B or tie, with nothing after that line."
        )
        completion = await self._ask(client, self.template, user, instructions, usage)
        verdict = last_verdict(completion.text, "winner", WINNER)
        if verdict is None:
            raise _no_verdict("'WINNER: A', 'WINNER: B' or 'WINNER: tie'", completion.text)
        return verdict.value.lower()

    async def aprefer(self, a: Sample | Mapping[str, Any], b: Sample | Mapping[str, Any]) -> float | None:
        """P(a beats b), judged in both orders with a's prompt; None when no preference could be read."""
        first, second = as_sample(a), as_sample(b)

        async def run() -> float | None:
            client = await self._open_client()
            try:
                value, _, _ = await self._compare(
                    client, first, first.completion_text, second.completion_text, _Usage()
                )
            except (_Fail, JudgeCallError):
                return None
            return value

        return await on_home_loop(run())

    def prefer(self, a: Sample | Mapping[str, Any], b: Sample | Mapping[str, Any]) -> float | None:
        """`aprefer` from sync code: pass ``judge.prefer`` to `rewardlab.compose.pairwise_win_rate`."""
        return run_on_home_loop(self.aprefer(a, b))


# -- rubrics and principles --------------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    """One rubric item.

    Attributes:
        text: What the response must do (or, with a negative weight, must not do).
        weight: Its share of the total; negative for a pitfall.
        essential: When not met, the whole rubric scores 0.
        id: Component name (default ``c1``, ``c2``...).
    """

    text: str
    weight: float = 1.0
    essential: bool = False
    id: str = ""


def parse_rubric(raw: Any, where: str, *, prefix: str = "c") -> list[Criterion]:
    """Criteria from a list of strings or mappings (``criterion``/``text``, ``weight``, ``essential``, ``id``).

    Raises:
        ValueError: naming ``where`` and the item, for a malformed rubric.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raw = [raw]
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise ValueError(f"{where}: expected a non-empty list of criteria")
    if len(raw) > MAX_CRITERIA:
        raise ValueError(f"{where}: {len(raw)} criteria exceed the limit of {MAX_CRITERIA}")
    out: list[Criterion] = []
    for i, item in enumerate(raw, 1):
        if isinstance(item, str):
            item = {"criterion": item}
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: item {i} is {type(item).__name__}, expected text or a mapping")
        text = item.get("criterion", item.get("text", item.get("description", item.get("principle"))))
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: item {i} has no criterion text")
        try:
            weight = float(item.get("weight", 1.0))
        except (TypeError, ValueError):
            raise ValueError(f"{where}: item {i} has a weight that is not a number") from None
        if not math.isfinite(weight):
            raise ValueError(f"{where}: item {i} has a non-finite weight")
        out.append(
            Criterion(text.strip(), weight, bool(item.get("essential", False)), str(item.get("id") or f"{prefix}{i}"))
        )
    if not any(c.weight > 0 for c in out):
        raise ValueError(f"{where}: no criterion has a positive weight")
    if len({c.id for c in out}) != len(out):
        raise ValueError(f"{where}: criterion ids repeat")
    return out


class RubricJudge(JudgeReward):
    """Weighted rubric criteria judged yes/no by an LLM; essential criteria gate the total."""

    kind = "rubric"
    default_template = "rubric"
    own_params = {
        "rubric": (None, list | None),
        "rubric_field": ("rubric", str),
        "mode": ("per_criterion", Literal["per_criterion", "all_at_once"]),
    }
    component_prefix = "rubric"
    id_prefix = "c"

    def _check_params(self) -> None:
        if self.params["mode"] not in ("per_criterion", "all_at_once"):
            raise RewardParamError(f"{self.kind}: mode must be per_criterion or all_at_once")
        self._spec_criteria: list[Criterion] | None = None
        spec = self.params[self._list_param]
        if spec is not None:
            try:
                self._spec_criteria = parse_rubric(
                    spec, f"{self.kind} parameter {self._list_param!r}", prefix=self.id_prefix
                )
            except ValueError as exc:
                raise RewardParamError(str(exc)) from None
        if self.params["mode"] == "all_at_once" and self.params["template"] == self.default_template:
            self.template = resolve_template("rubric_all", self.params["system"], default_system="")

    @property
    def _list_param(self) -> str:
        return "rubric"

    @property
    def _field_param(self) -> str:
        return "rubric_field"

    def _criteria(self, sample: Sample) -> list[Criterion]:
        if self._spec_criteria is not None:
            return self._spec_criteria
        field = self.params[self._field_param]
        raw = sample.get(field)
        if raw is None:
            raise _Fail(Status.ABSTAIN, f"row has no field {field!r} and the spec gives no {self._list_param}")
        try:
            return parse_rubric(raw, f"field {field!r}", prefix=self.id_prefix)
        except ValueError as exc:
            raise _Fail(Status.ERROR, str(exc)) from None

    async def _judge(self, client: JudgeClient, sample: Sample, usage: _Usage) -> tuple[float, dict[str, float], str]:
        criteria = self._criteria(sample)
        if not has_content(sample.completion_text):
            met = dict.fromkeys((c.id for c in criteria), 0.0)
        elif self.params["mode"] == "all_at_once":
            met = await self._all_at_once(client, sample, criteria, usage)
        else:
            values = await _all_or_first_failure(*(self._one(client, sample, c, usage) for c in criteria))
            met = {c.id: v for c, v in zip(criteria, values, strict=True)}
        return self._combine(criteria, met)

    def _combine(self, criteria: list[Criterion], met: dict[str, float]) -> tuple[float, dict[str, float], str]:
        components = {f"{self.component_prefix}/{c.id}": met[c.id] for c in criteria}
        failed = [c.id for c in criteria if c.essential and met[c.id] < 0.5]
        if failed:
            return 0.0, components, f"essential criteria not met: {', '.join(failed)}"
        positive = sum(c.weight for c in criteria if c.weight > 0)
        total = sum(c.weight * met[c.id] for c in criteria) / positive
        return min(1.0, max(0.0, total)), components, ""

    async def _one(self, client: JudgeClient, sample: Sample, criterion: Criterion, usage: _Usage) -> float:
        user = self._fill(self.template, sample, {"criterion": neutralise(criterion.text)})
        completion = await self._ask(client, self.template, user, _YES_NO_FORMAT, usage)
        verdict = last_verdict(completion.text, "verdict", YES_NO)
        if verdict is None:
            raise _no_verdict(f"'VERDICT: yes|no' for {criterion.id}", completion.text)
        return self._yes_value(verdict, completion)[0]

    async def _all_at_once(
        self, client: JudgeClient, sample: Sample, criteria: list[Criterion], usage: _Usage
    ) -> dict[str, float]:
        labels = [f"C{i}" for i in range(1, len(criteria) + 1)]
        listing = numbered((c.text for c in criteria), "C")
        user = self._fill(self.template, sample, {"criteria": listing, "criterion": listing})
        instructions = (
            "First explain briefly. Then end your reply with one line per criterion, in order, each made of the "
            f"criterion's label ({labels[0]}..{labels[-1]}), a colon and the single word yes or no."
        )
        completion = await self._ask(client, self.template, user, instructions, usage)
        lines = verdict_lines(completion.text, r"c\d{1,3}", YES_NO)
        met: dict[str, float] = {}
        for label, criterion in zip(labels, criteria, strict=True):
            verdict = lines.get(label.lower())
            if verdict is None:
                raise _no_verdict(f"'{label}: yes|no' for every criterion", completion.text)
            met[criterion.id] = self._yes_value(verdict, completion)[0]
        return met


class PrinciplesJudge(RubricJudge):
    """RLBFF principles: does the response satisfy each principle (binary), combined by mean or all."""

    kind = "principles"
    default_template = "principle"
    own_params = {
        "principles": (None, list | None),
        "principles_field": ("principles", str),
        "combine": ("mean", Literal["mean", "all"]),
        "mode": ("per_criterion", Literal["per_criterion", "all_at_once"]),
    }
    component_prefix = "principle"
    id_prefix = "p"

    @property
    def _list_param(self) -> str:
        return "principles"

    @property
    def _field_param(self) -> str:
        return "principles_field"

    def _check_params(self) -> None:
        if self.params["combine"] not in ("mean", "all"):
            raise RewardParamError("principles: combine must be mean or all")
        super()._check_params()

    def _combine(self, criteria: list[Criterion], met: dict[str, float]) -> tuple[float, dict[str, float], str]:
        if self.params["combine"] == "all":
            criteria = [Criterion(c.text, c.weight, True, c.id) for c in criteria]
        return super()._combine(criteria, met)


JUDGES: tuple[type[JudgeReward], ...] = (PointwiseJudge, VerifyJudge, PairwiseJudge, RubricJudge, PrinciplesJudge)


def _register_all() -> None:
    from rewardlab._registry import register

    for cls in JUDGES:
        register(cls(), replace=True)


_register_all()
