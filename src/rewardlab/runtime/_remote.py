"""A reward served by `rewardlab serve`, used as a local `Reward`.

`remote(url)` returns a reward that scores over HTTP: one pooled ``httpx`` client
for its whole life, concurrent calls gathered into batches (so a trainer that
scores one sample per coroutine still sends full requests), retries on transient
failures only (connection errors, 429, 502/503/504) with jittered exponential
backoff that honours ``Retry-After``, and a deadline per call. A 4xx is an
``error`` at once, with the server's message. Anything the server says about a
sample (status, reason, components, signature) comes back unchanged.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rewardlab._executor import Executor
from rewardlab._reward import Reward
from rewardlab._types import Sample, Score, Status

TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
"""HTTP statuses worth retrying: the request may succeed unchanged later."""

MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0
CLIENT_BATCH = 256
"""Most samples per HTTP request."""

GATHER_WAIT_S = 0.002
"""How long concurrent calls are gathered before a request goes out."""

REPLY_BYTES_BASE = 1 << 20
REPLY_BYTES_PER_SAMPLE = 64 << 10
"""A reply is read up to ``REPLY_BYTES_BASE + REPLY_BYTES_PER_SAMPLE * samples`` bytes, no
further: a rewardlab server's score (reason capped, a few components) is well under a
kilobyte, and a server that sends more (broken, or hostile) must not fill this process's memory."""

MAX_REASON_CHARS = 2000
"""A server's reason text is cut to this length."""


def parse_url(url: str) -> tuple[str, str | None]:
    """Split ``http://host:port[/v1/score][/name]`` into the base URL and the reward name."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    path = parts.path.strip("/")
    for prefix in ("v1/score", "v1"):
        if path == prefix:
            path = ""
        elif path.startswith(prefix + "/"):
            path = path[len(prefix) + 1 :]
    if "/" in path:
        raise ValueError(f"cannot read a reward name from {url!r}: expected http://host:port/NAME")
    base = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return base, path or None


def _sample_json(sample: Sample) -> dict[str, Any]:
    out: dict[str, Any] = dict(sample.extras)
    out["completion"] = sample.completion
    if sample.prompt is not None:
        out["prompt"] = sample.prompt
    if sample.reference is not None:
        out["reference"] = sample.reference
    if sample.id is not None:
        out["id"] = sample.id
    return out


def _score_from(item: Any) -> Score:
    try:
        if not isinstance(item, dict):
            raise TypeError(f"expected an object, got {type(item).__name__}")
        status = Status(item["status"])
        value = item.get("value") if status is Status.OK else None
        if value is not None and type(value) not in (int, float):
            raise TypeError(f"value must be a number, got {type(value).__name__}")
        components = item.get("components") or {}
        if not isinstance(components, dict) or any(type(v) not in (int, float) for v in components.values()):
            raise TypeError("components must map names to numbers")
        return Score(
            value=value,
            status=status,
            components=components,
            reason=str(item.get("reason") or "")[:MAX_REASON_CHARS],
            signature=str(item.get("signature") or "")[:MAX_REASON_CHARS],
        )
    except (KeyError, TypeError, ValueError) as exc:
        return Score.error(f"malformed score from the server: {exc}"[:MAX_REASON_CHARS])


class _ReplyTooLarge(Exception):
    pass


async def _read_capped(response: Any, limit: int) -> bytes:
    """The body of a streamed reply, or `_ReplyTooLarge` once it passes ``limit`` bytes."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _ReplyTooLarge(f"declares {int(declared)} bytes")
    chunks: list[bytes] = []
    seen = 0
    async for chunk in response.aiter_bytes():
        seen += len(chunk)
        if seen > limit:
            raise _ReplyTooLarge(f"sent more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class RemoteReward(Reward):
    """A reward scored by a `rewardlab serve` server (see `remote`)."""

    placement = "resident"

    def __init__(
        self,
        url: str,
        reward: str | None = None,
        *,
        timeout: float = 120.0,
        api_key: str | None = None,
        max_batch: int = CLIENT_BATCH,
        concurrency: int = 8,
    ) -> None:
        base, from_url = parse_url(url)
        name = reward or from_url
        super().__init__(
            "remote",
            {"url": base, "reward": name or "", "timeout": timeout},
            range=(float("-inf"), float("inf")),
            description=f"the reward served at {base}" + (f" as {name!r}" if name else ""),
        )
        self.base = base
        self.reward_name = name
        self.timeout = timeout
        self.api_key = api_key
        self.max_batch = max_batch
        self.concurrency = concurrency
        self._client: Any = None
        self._batcher: Any = None
        self._slots: asyncio.Semaphore | None = None
        self.requests_sent = 0

    @property
    def endpoint(self) -> str:
        return f"{self.base}/v1/score" + (f"/{self.reward_name}" if self.reward_name else "")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_client=None, _batcher=None, _slots=None)  # live objects stay in their process
        return state

    def _ensure(self) -> None:
        if self._client is None:
            try:
                import httpx
            except ImportError:
                raise RuntimeError("rewardlab.remote needs httpx: pip install 'rewardlab[serve]'") from None

            from rewardlab.runtime._batcher import Batcher

            headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            self._client = httpx.AsyncClient(headers=headers, limits=limits, timeout=self.timeout)
            self._slots = asyncio.Semaphore(self.concurrency)
            self._batcher = Batcher(
                self._post_batch,
                max_batch=self.max_batch,
                max_wait_s=GATHER_WAIT_S,
                max_queue=1 << 30,
                concurrency=self.concurrency,
            )
            self._batcher.start()

    async def _ascore(self, samples: list[Sample], executor: Executor | None) -> list[Score]:
        self._ensure()
        deadline = time.monotonic() + self.timeout
        future = self._batcher.submit(samples, deadline)
        try:
            return list(await asyncio.wait_for(asyncio.shield(future), self.timeout))
        except asyncio.TimeoutError:
            future.cancel()
            return [Score.timeout(f"no answer from {self.base} within {self.timeout:g}s")] * len(samples)

    async def _post_batch(self, samples: list[Sample]) -> list[Score]:
        out: list[Score] = []
        for start in range(0, len(samples), self.max_batch):
            out.extend(await self._post(samples[start : start + self.max_batch]))
        return out

    async def _post(self, samples: Sequence[Sample]) -> list[Score]:
        import httpx

        body = {"samples": [_sample_json(s) for s in samples]}
        deadline = time.monotonic() + self.timeout
        problem = ""
        for attempt in range(MAX_ATTEMPTS):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return [Score.timeout(f"no answer from {self.base} within {self.timeout:g}s ({problem})")] * len(
                    samples
                )
            retry_after: float | None = None
            limit = REPLY_BYTES_BASE + REPLY_BYTES_PER_SAMPLE * len(samples)
            try:
                self.requests_sent += 1
                async with self._client.stream("POST", self.endpoint, json=body, timeout=remaining) as response:
                    raw = await _read_capped(response, limit)
            except _ReplyTooLarge as exc:
                return [Score.error(f"reply from {self.base} over {limit} bytes: it {exc}")] * len(samples)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                problem = f"{type(exc).__name__}: {exc}" or type(exc).__name__
            else:
                if response.status_code == 200:
                    return self._scores_from(raw, len(samples))
                detail = _detail(raw)
                if response.status_code not in TRANSIENT_STATUS:
                    return [Score.error(f"{self.base} refused the request ({response.status_code}): {detail}")] * len(
                        samples
                    )
                problem = f"HTTP {response.status_code}: {detail}"
                retry_after = _retry_after(response)
            if attempt == MAX_ATTEMPTS - 1:
                break
            backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt) * (0.5 + random.random())
            wait = max(backoff, retry_after or 0.0)
            await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
        return [Score.error(f"{self.base} unavailable after {MAX_ATTEMPTS} attempts: {problem}")] * len(samples)

    def _scores_from(self, raw: bytes, count: int) -> list[Score]:
        """One score per sample from a 200 reply; a reply of the wrong shape or length fails them all."""
        try:
            items = json.loads(raw)["scores"]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            return [Score.error(f"malformed reply from {self.base}: {type(exc).__name__}: {exc}"[:300])] * count
        if not isinstance(items, list):
            return [Score.error(f"malformed reply from {self.base}: 'scores' is not a list")] * count
        if len(items) != count:
            return [Score.error(f"{self.base} answered {len(items)} scores for {count} samples")] * count
        return [_score_from(item) for item in items]

    @property
    def has_resources(self) -> bool:
        return self._client is not None

    async def aclose(self) -> None:
        """Close the HTTP client (after answering what is queued); the next call opens a new one."""
        batcher, client = self._batcher, self._client
        self._batcher = self._client = None
        if batcher is not None:
            await batcher.drain(1.0)
        if client is not None:
            await client.aclose()


def _detail(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        text = str(data.get("detail", data)) if isinstance(data, dict) else str(data)
    except (ValueError, RecursionError):
        text = raw[:300].decode("utf-8", "replace")
    return text[:MAX_REASON_CHARS]


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def remote(url: str, reward: str | None = None, *, timeout: float = 120.0, api_key: str | None = None) -> Reward:
    """A reward scored by a `rewardlab serve` server.

    Args:
        url: ``http://host:port`` (the server's default reward) or ``http://host:port/NAME``.
        reward: The served reward's name (instead of naming it in the URL).
        timeout: Deadline of one call in seconds, retries included.
        api_key: Bearer token, when the server was started with ``--api-key``.

    Example:
        >>> r = remote("http://127.0.0.1:8000/math")
        >>> r.endpoint
        'http://127.0.0.1:8000/v1/score/math'
    """
    return RemoteReward(url, reward, timeout=timeout, api_key=api_key)
