"""The reward server: FastAPI over the runtime, for any trainer that calls rewards over HTTP.

The application's lifespan owns the rewards and their runners (worker pools for
``process`` rewards); each reward has a `Batcher` that gathers concurrent
requests into batches. Endpoints:

- ``POST /v1/score`` and ``/v1/score/{reward}``: rewardlab's native API;
- ``POST /get_reward`` (and ``/get_reward/{reward}``): OpenRLHF's remote reward shape;
- ``POST /slime`` (and ``/slime/{reward}``): slime's ``--rm-url`` shape;
- ``GET /v1/rewards``, ``/health``, ``/ready``, ``/metrics`` (Prometheus).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from rewardlab._reward import Reward
from rewardlab._types import Sample, Score, Status
from rewardlab.integrations.openrlhf import _mismatch, split_response
from rewardlab.runtime._batcher import Batcher, QueueFull, ShuttingDown

STATUS_CODES = {Status.OK: 0, Status.ABSTAIN: 1, Status.ERROR: 2, Status.TIMEOUT: 3}
"""Numeric status codes for trainers whose logs take numbers only (OpenRLHF's ``extra_logs``)."""

RETRY_AFTER_S = 1
"""What a 503 tells the client to wait before retrying."""

MAX_JSON_NESTING = 100
"""Deepest JSON nesting a request body may have. Python's parser recurses per level and
raises near 1,000 (an unhelpful 400 or a server error, depending on the stack already in
use); real samples (chat messages, tool schemas, test tables) stay far below this."""


@dataclass
class ServeConfig:
    """Server settings (the `rewardlab serve` options).

    Attributes:
        max_batch: Most samples per batch of one reward.
        max_wait_ms: Longest wait for more requests once a batch has its first.
        max_queue: Most samples waiting or being scored per reward; past it, 503.
        timeout: Deadline of one request in seconds; its items then come back ``timeout``.
        api_key: When set, every endpoint but ``/health`` and ``/ready`` needs
            ``Authorization: Bearer <key>``.
        max_body_bytes: Largest request body; larger is a 413.
        on_failure: The number OpenRLHF and slime get for a non-ok score (the status is
            reported beside it).
        workers: Worker processes for ``process`` rewards (default: CPU count).
        concurrency: Batches of one reward scored at the same time.
        drain_s: Longest graceful-shutdown wait for work in flight.
    """

    max_batch: int = 64
    max_wait_ms: float = 5.0
    max_queue: int = 4096
    timeout: float = 60.0
    api_key: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    on_failure: float = 0.0
    workers: int | None = None
    concurrency: int = 2
    drain_s: float = 30.0


# -- request bodies --------------------------------------------------------------------


class SampleIn(BaseModel):
    """One sample: the score job's fields; any other field is kept as a task field."""

    model_config = ConfigDict(extra="allow")
    completion: str | list[dict[str, Any]]
    prompt: str | list[dict[str, Any]] | None = None
    reference: Any = None
    id: str | int | None = None

    def to_sample(self) -> Sample:
        extras = dict(self.model_extra or {})
        return Sample(
            completion=self.completion,
            prompt=self.prompt,
            reference=self.reference,
            extras=extras,
            id=None if self.id is None else str(self.id),
        )


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: list[SampleIn] = Field(..., max_length=100_000)
    reward: str | None = None


class OpenRLHFRequest(BaseModel):
    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = None


class SlimeRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    response: str
    prompt: str | list[dict[str, Any]] | None = None
    label: Any = None


# -- metrics ------------------------------------------------------------------------------


class Metrics:
    """Prometheus metrics in a registry of the app's own (several apps can live in one process)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("rewardlab_requests", "HTTP requests", ["endpoint", "code"], registry=self.registry)
        self.latency = Histogram(
            "rewardlab_request_seconds",
            "Request latency",
            ["endpoint"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "rewardlab_batch_size",
            "Samples per scored batch",
            ["reward"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        self.scores = Counter("rewardlab_scores", "Scores by status", ["reward", "status"], registry=self.registry)
        self.queue_depth = Gauge(
            "rewardlab_queue_depth", "Samples waiting or being scored", ["reward"], registry=self.registry
        )

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


# -- the served rewards ---------------------------------------------------------------------


class BatcherLike(Protocol):
    """What the server needs of a cross-request batcher (`Batcher`, or Ray Serve's)."""

    @property
    def depth(self) -> int: ...

    def start(self) -> None: ...

    def submit(self, samples: list[Sample], deadline: float) -> asyncio.Future[list[Score]]: ...

    async def drain(self, timeout: float) -> None: ...


MakeBatcher = Callable[..., BatcherLike]
"""Builds a reward's batcher: ``make(score_batch, *, max_batch, max_wait_s, max_queue,
concurrency, on_batch)``, the `Batcher` signature."""


@dataclass
class Served:
    name: str
    reward: Reward
    runner: Any = None
    batcher: BatcherLike | None = None
    ready: bool = False
    signature: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class RewardServer:
    """What the app's lifespan owns: the served rewards, their runners and batchers."""

    def __init__(
        self, rewards: Mapping[str, Reward], config: ServeConfig, make_batcher: MakeBatcher | None = None
    ) -> None:
        if not rewards:
            raise ValueError("serve at least one reward")
        self.config = config
        self.make_batcher: MakeBatcher = make_batcher or Batcher
        self.metrics = Metrics()
        self.served = {name: Served(name, reward) for name, reward in rewards.items()}
        self.default = next(iter(self.served))
        self.started = time.time()

    async def start(self) -> None:
        from rewardlab.runtime._runner import Runner

        for served in self.served.values():
            # the runner owns the worker pool of a process reward; the reward itself is
            # set up once here and released at shutdown
            served.runner = Runner(served.reward, workers=self.config.workers)
            executor = served.runner.executor
            reward = served.reward
            name = served.name

            async def score_batch(
                samples: list[Sample], reward: Reward = reward, executor: Any = executor
            ) -> list[Score]:
                return await reward.ascore(samples, executor=executor)

            def observe(size: int, seconds: float, name: str = name) -> None:
                self.metrics.batch_size.labels(name).observe(size)

            served.batcher = self.make_batcher(
                score_batch,
                max_batch=self.config.max_batch,
                max_wait_s=self.config.max_wait_ms / 1000.0,
                max_queue=self.config.max_queue,
                concurrency=self.config.concurrency,
                on_batch=observe,
            )
            served.batcher.start()
            served.signature = reward.signature
        # /ready means loaded: a factory reward (a model, a client) is set up before the
        # server says so, not by the first request's batch; a setup that fails stops start-up
        await asyncio.gather(*(s.reward.asetup() for s in self.served.values()))
        for served in self.served.values():
            served.ready = True

    async def stop(self) -> None:
        for served in self.served.values():
            served.ready = False
        await asyncio.gather(
            *(s.batcher.drain(self.config.drain_s) for s in self.served.values() if s.batcher is not None)
        )
        for served in self.served.values():
            if served.runner is not None:
                await asyncio.to_thread(served.runner.close)

    def render_metrics(self) -> bytes:
        """This server's metrics in Prometheus' text format, queue depths as of now."""
        for name, served in self.served.items():
            if served.batcher is not None:
                self.metrics.queue_depth.labels(name).set(served.batcher.depth)
        return self.metrics.render()

    def pick(self, name: str | None) -> Served:
        key = name or self.default
        if key not in self.served:
            raise _UnknownReward(key, list(self.served))
        return self.served[key]

    async def score(self, served: Served, samples: list[Sample]) -> list[Score]:
        """Score samples through the reward's batcher, within the request deadline.

        Raises:
            QueueFull, ShuttingDown: refused; the endpoint answers 503.
        """
        assert served.batcher is not None
        if not samples:
            return []
        loop = asyncio.get_running_loop()
        future = served.batcher.submit(samples, time.monotonic() + self.config.timeout)
        expiry = loop.call_later(self.config.timeout, _expire, future, len(samples), self.config.timeout)
        try:
            scores = await future
        finally:
            expiry.cancel()
        signature = served.signature
        out = [s if s.signature else s.with_signature(signature) for s in scores]
        counters = served.extra.setdefault("counters", {})
        for s in out:
            counter = counters.get(s.status)
            if counter is None:
                counter = counters[s.status] = self.metrics.scores.labels(served.name, str(s.status))
            counter.inc()
        return out


def _expire(future: asyncio.Future[list[Score]], count: int, timeout: float) -> None:
    """The request's deadline passed: answer it with ``timeout`` items (its batch's result is dropped)."""
    if not future.done():
        future.set_result([Score.timeout(f"request deadline of {timeout:g}s passed")] * count)


class _UnknownReward(Exception):
    def __init__(self, name: str, served: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.served = served


def _score_json(score: Score) -> dict[str, Any]:
    return {
        "value": score.value,
        "status": str(score.status),
        "reason": score.reason,
        "components": dict(score.components),
        "signature": score.signature,
    }


def _trainer_value(score: Score, on_failure: float) -> float:
    return float(score.value) if score.status is Status.OK and score.value is not None else on_failure


# -- the app ------------------------------------------------------------------------------


OPEN_PATHS = frozenset({"/health", "/ready"})
"""Endpoints that need no bearer token (liveness and readiness probes)."""


class _Gate:
    """Pure ASGI middleware in front of the app: bearer token, body limit, request metrics.

    A declared body length over the limit is refused before reading; a POST body is read
    up to the limit (declared length or chunked), refused with a 422 when its JSON nests
    deeper than `MAX_JSON_NESTING`, and replayed to the application. (A pure
    ASGI layer, not Starlette's ``BaseHTTPMiddleware``, which costs a task and a stream per
    request.)
    """

    def __init__(self, app: Any, server: RewardServer, limit: int, api_key: str | None) -> None:
        self.app = app
        self.server = server
        self.limit = limit
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope.get("path", "")
        endpoint = _endpoint_label(path)
        status = 500

        async def counted_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            headers = dict(scope.get("headers") or [])
            if self.api_key is not None and path not in OPEN_PATHS:
                header = headers.get(b"authorization", b"")
                token = header[7:] if header[:7].lower() == b"bearer " else b""
                if not hmac.compare_digest(token, self.api_key):
                    await _reply(counted_send, 401, "missing or wrong bearer token")
                    return
            if scope.get("method") == "POST":
                # every body here is JSON, whatever the client declared (curl -d says form data)
                kept = [(k, v) for k, v in scope.get("headers") or [] if k != b"content-type"]
                scope = dict(scope, headers=[*kept, (b"content-type", b"application/json")])
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.limit:
                await _reply(counted_send, 413, f"request body over the limit of {self.limit} bytes")
                return
            if scope.get("method") != "POST":
                await self.app(scope, receive, counted_send)
                return
            # the body is read here (up to the limit, declared length or not), checked for
            # nesting before any JSON parser recurses into it, and replayed to the application
            chunks: list[bytes] = []
            seen = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > self.limit:
                    await _reply(counted_send, 413, f"request body over the limit of {self.limit} bytes")
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            too_deep = _nesting_over(body, MAX_JSON_NESTING)
            if too_deep is not None:
                problem = f"JSON nested deeper than {MAX_JSON_NESTING} levels"
                where = f"body (byte {too_deep})"
                await _reply(
                    counted_send,
                    422,
                    f"invalid request: {where}: {problem}",
                    errors=[{"field": where, "problem": problem}],
                )
                return
            replayed = False

            async def replay() -> Any:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, counted_send)
        finally:
            metrics = self.server.metrics
            metrics.requests.labels(endpoint, str(status)).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)


_JSON_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _nesting_over(body: bytes, limit: int) -> int | None:
    """Offset of the first bracket that opens level ``limit + 1`` of a JSON body, or ``None``.

    Strings are skipped whole (a bracket inside one does not count); a body with no more
    than ``limit`` opening brackets cannot be too deep and is not scanned at all.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return None
    depth = 0
    for match in _JSON_STRING_OR_BRACKET.finditer(body):
        char = body[match.start()]
        if char in b"[{":
            depth += 1
            if depth > limit:
                return match.start()
        elif char in b"]}":
            depth -= 1
    return None


async def _reply(send: Any, status: int, detail: str, **extra: Any) -> None:
    body = json.dumps({"detail": detail, **extra}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def build_app(rewards: Mapping[str, Reward], config: ServeConfig | None = None) -> FastAPI:
    """A FastAPI application serving ``rewards`` (name -> reward) with ``config``.

    The rewards are set up when the application starts and closed when it stops.
    """
    return _build_app(rewards, config or ServeConfig())


def _build_app(
    rewards: Mapping[str, Reward],
    config: ServeConfig,
    make_batcher: MakeBatcher | None = None,
    merge_metrics: Callable[[bytes], Awaitable[bytes]] | None = None,
) -> FastAPI:
    """`build_app` with the cross-request batching of the caller's choice.

    The local server gathers requests with the runtime's `Batcher`; a Ray Serve replica
    passes one built on ``@serve.batch`` (`rewardlab.ray`) and ``merge_metrics``, which
    turns this replica's metrics into every replica's. Everything else (endpoints, the
    gate, deadlines, statuses) is this one application.
    """
    server = RewardServer(rewards, config, make_batcher)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    app = FastAPI(title="rewardlab", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = server

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            loc = error.get("loc", ())
            if error.get("type") == "json_invalid":
                where = f"body (character {loc[-1]})" if loc else "body"
            else:
                where = ".".join(str(part) for part in loc if part != "body") or "body"
            problems.append({"field": where, "problem": error.get("msg", "invalid")})
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        return JSONResponse({"detail": f"invalid request: {summary}", "errors": problems}, status_code=422)

    @app.exception_handler(_UnknownReward)
    async def unknown(request: Request, exc: _UnknownReward) -> JSONResponse:
        return JSONResponse(
            {
                "detail": f"no reward named {exc.name!r} is served; served: {', '.join(exc.served)}",
                "served": exc.served,
            },
            status_code=404,
        )

    @app.exception_handler(QueueFull)
    async def full(request: Request, exc: QueueFull) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(ShuttingDown)
    async def draining(request: Request, exc: ShuttingDown) -> JSONResponse:
        return JSONResponse(
            {"detail": "the server is shutting down"}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)}
        )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "uptime_s": round(time.time() - server.started, 3)}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        ok = all(s.ready for s in server.served.values())
        body = {"ready": ok, "rewards": {n: s.ready for n, s in server.served.items()}}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        body = server.render_metrics()
        if merge_metrics is not None:
            body = await merge_metrics(body)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/rewards")
    async def list_rewards() -> dict[str, Any]:
        return {
            "default": server.default,
            "rewards": [
                {
                    "name": s.name,
                    "signature": s.signature or s.reward.signature,
                    "placement": s.reward.placement,
                    "range": list(s.reward.range),
                    "description": s.reward.description,
                }
                for s in server.served.values()
            ],
        }

    async def native(body: ScoreRequest, name: str | None) -> dict[str, Any]:
        served = server.pick(name or body.reward)
        scores = await server.score(served, [s.to_sample() for s in body.samples])
        return {"request_id": uuid.uuid4().hex, "reward": served.name, "scores": [_score_json(s) for s in scores]}

    @app.post("/v1/score")
    async def score(body: ScoreRequest) -> dict[str, Any]:
        return await native(body, None)

    @app.post("/v1/score/{reward_name}")
    async def score_named(reward_name: str, body: ScoreRequest) -> dict[str, Any]:
        return await native(body, reward_name)

    async def openrlhf(body: OpenRLHFRequest, name: str | None) -> dict[str, Any]:
        served = server.pick(name)
        n = len(body.query)
        prompts = body.prompts if body.prompts is not None else [None] * n
        labels = body.labels if body.labels is not None else [None] * n
        if len(prompts) != n or len(labels) != n:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "prompts" if len(prompts) != n else "labels"),
                        "msg": f"{n} queries but {len(prompts)} prompts and {len(labels)} labels",
                        "type": "value_error",
                    }
                ]
            )
        samples: list[Sample] = []
        mismatched: dict[int, Score] = {}
        for i in range(n):
            query, prompt = body.query[i], prompts[i]
            completion = query if prompt is None else split_response(query, prompt)
            if completion is None:
                mismatched[i] = _mismatch(query, prompt or "")
                completion = query
            samples.append(Sample(completion=completion, prompt=prompt, reference=labels[i], extras={"query": query}))
        to_score = [s for i, s in enumerate(samples) if i not in mismatched]
        scored = iter(await server.score(served, to_score))
        scores = [mismatched[i].with_signature(served.signature) if i in mismatched else next(scored) for i in range(n)]
        values = [_trainer_value(s, config.on_failure) for s in scores]
        return {
            "rewards": values,
            "scores": list(values),
            "extra_logs": {
                "reward_ok": [1.0 if s.status is Status.OK else 0.0 for s in scores],
                "reward_status": [float(STATUS_CODES[s.status]) for s in scores],
            },
            "statuses": [str(s.status) for s in scores],
            "reasons": [s.reason for s in scores],
            "signature": served.signature,
        }

    @app.post("/get_reward")
    async def get_reward(body: OpenRLHFRequest) -> dict[str, Any]:
        return await openrlhf(body, None)

    @app.post("/get_reward/{reward_name}")
    async def get_reward_named(reward_name: str, body: OpenRLHFRequest) -> dict[str, Any]:
        return await openrlhf(body, reward_name)

    async def slime(body: SlimeRequest, name: str | None) -> dict[str, Any]:
        served = server.pick(name)
        extras = dict(body.model_extra or {})
        sample = Sample(completion=body.response, prompt=body.prompt, reference=body.label, extras=extras)
        (result,) = await server.score(served, [sample])
        return {
            "reward": _trainer_value(result, config.on_failure),
            "status": str(result.status),
            "reason": result.reason,
            "components": dict(result.components),
            "signature": result.signature,
        }

    @app.post("/slime")
    async def slime_default(body: SlimeRequest) -> dict[str, Any]:
        return await slime(body, None)

    @app.post("/slime/{reward_name}")
    async def slime_named(reward_name: str, body: SlimeRequest) -> dict[str, Any]:
        return await slime(body, reward_name)

    app.add_middleware(_Gate, server=server, limit=config.max_body_bytes, api_key=config.api_key)
    return app


def _endpoint_label(path: str) -> str:
    for prefix in ("/v1/score", "/get_reward", "/slime", "/v1/rewards", "/health", "/ready", "/metrics"):
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    return "other"
