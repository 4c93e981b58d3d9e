"""One client for every judge: OpenAI-compatible chat completions with limits, retries, a deadline and a cache.

A `JudgeClient` lives as long as the judge that owns it. Its connection pool,
concurrency cap and rate limiters are created once, on the process's one
long-lived reward loop (`rewardlab._loop`), and serve every batch, whichever
thread or loop the batch comes from: calls from elsewhere (a trainer's loop,
``asyncio.run`` per batch, a sync caller's thread) are handed to that loop and
awaited. So a client is never tied to a loop that ends with a batch. Sync
calls (`JudgeClient.complete`) block their caller until the reply comes, so
they are refused on the reward loop's own thread; code there awaits instead.

Failure policy (one place, `_classify`): connection errors, 429 and 5xx are
transient and retried with jittered exponential backoff (a 429's Retry-After is
honoured) inside the per-call deadline; any other 4xx is an ``error`` at once,
with the server's message; an overrun deadline is a ``timeout``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import os
import random
import time
import weakref
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rewardlab import _loop
from rewardlab._types import Status
from rewardlab.rewards.judge._cache import CacheMode, ReplyCache, default_cache_path, request_key

T = TypeVar("T")

DEFAULT_CONCURRENCY = 16
"""Requests in flight per client: enough to keep a local vLLM/SGLang server busy, few enough for hosted APIs."""

DEFAULT_DEADLINE = 60.0
"""Seconds one judge call may take, retries and backoff included."""

DEFAULT_RETRIES = 4
"""Retries of a transient failure (so at most 5 attempts) inside the deadline."""

BACKOFF_BASE = 0.5
BACKOFF_MAX = 20.0
"""Backoff before retry n is ``min(BACKOFF_MAX, BACKOFF_BASE * 2**n)`` times a random factor in [0.5, 1.5)."""

MAX_ERROR_CHARS = 300
"""How much of a server's error message a score's reason keeps."""

CHARS_PER_TOKEN = 4
"""Rough size of a token, for the tokens-per-minute limiter before the server reports usage."""


class JudgeCallError(Exception):
    """A judge call failed; ``status`` is ``error`` or ``timeout`` and the message says why."""

    def __init__(self, status: Status, reason: str, *, attempts: int = 0) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.attempts = attempts


@dataclass(frozen=True)
class Completion:
    """One judge reply.

    Attributes:
        text: The reply's message content.
        logprobs: Per-token ``(token, logprob, {alternative: logprob})`` when the server returned logprobs.
        prompt_tokens: Prompt tokens the server reported (0 when it did not).
        completion_tokens: Completion tokens the server reported.
        requests: HTTP requests this call made (0 for a cache hit).
        cached: The reply came from the cache.
        cost: Price of the call from the client's price table (0 when cached or none given).
    """

    text: str
    logprobs: tuple[tuple[str, float, Mapping[str, float]], ...] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cached: bool = False
    cost: float = 0.0


@dataclass
class ClientStats:
    """Running totals of one client (what the CLI's run summary reports)."""

    calls: int = 0
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    errors: int = 0
    timeouts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)


# -- the loop every client lives on ----------------------------------------------------------------


def _home_loop() -> asyncio.AbstractEventLoop:
    """The loop clients live on: the process's reward loop (`rewardlab._loop`), where judges are set up."""
    return _loop.runtime_loop()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def on_home_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the home loop from any loop (directly when already there)."""
    home = _home_loop()
    if _running_loop() is home:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, home))


def run_on_home_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the home loop from sync code and wait for it."""
    home = _home_loop()
    if _running_loop() is home:
        coro.close()
        raise RuntimeError(
            "a judge's sync API (prefer, complete, client) was called on the reward loop's own thread, which "
            "it would block; await the async API (aprefer, acomplete) there instead"
        )
    future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, home)
    return future.result()


# -- limits ----------------------------------------------------------------------------------------


class _Pace:
    """Requests per minute: calls are spaced ``60 / rpm`` seconds apart (no bursts)."""

    def __init__(self, rpm: float) -> None:
        self.interval = 60.0 / rpm
        self.next_at = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self.lock:
            now = time.monotonic()
            start = max(now, self.next_at)
            self.next_at = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class _TokenBucket:
    """Tokens per minute: a bucket of ``tpm`` tokens refilled continuously; estimates are corrected by usage."""

    def __init__(self, tpm: float) -> None:
        self.capacity = float(tpm)
        self.level = float(tpm)
        self.rate = tpm / 60.0
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    async def take(self, tokens: float) -> None:
        need = min(tokens, self.capacity)
        async with self.lock:
            while True:
                self._refill()
                if self.level >= need:
                    self.level -= tokens
                    return
                await asyncio.sleep((need - self.level) / self.rate)

    def adjust(self, estimated: float, actual: float) -> None:
        self._refill()
        self.level -= actual - estimated


# -- the client ------------------------------------------------------------------------------------


class JudgeClient:
    """An OpenAI-compatible chat-completions client for judges.

    Args:
        base_url: Server URL ending in ``/v1`` (default ``$OPENAI_BASE_URL``).
        model: Model name sent with each request.
        api_key: Bearer token (default ``$OPENAI_API_KEY``; none for a local server).
        concurrency: Requests in flight at once.
        rpm: Requests per minute (None: unlimited).
        tpm: Tokens per minute, prompt plus completion (None: unlimited).
        retries: Retries of transient failures (connection errors, 429, 5xx).
        deadline: Seconds one call may take, retries included; past it the call is a ``timeout``.
        cache: ``off``, ``read`` (use stored replies, store nothing) or ``readwrite``.
        cache_path: SQLite file of the cache (default `default_cache_path`).
        prices: Price per million tokens, ``{"input": x, "output": y}``, for cost accounting.

    Example:
        >>> client = JudgeClient(base_url="http://127.0.0.1:8000/v1", model="judge", cache="off")
        >>> client.concurrency
        16
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        rpm: float | None = None,
        tpm: float | None = None,
        retries: int = DEFAULT_RETRIES,
        deadline: float = DEFAULT_DEADLINE,
        cache: CacheMode = "readwrite",
        cache_path: str | Path | None = None,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not url:
            raise ValueError("a judge needs a server: pass base_url or set OPENAI_BASE_URL")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if retries < 0 or deadline <= 0:
            raise ValueError("retries must be >= 0 and deadline > 0")
        for name, limit in (("rpm", rpm), ("tpm", tpm)):
            if limit is not None and limit <= 0:
                raise ValueError(f"{name} must be positive")
        self.base_url = url.rstrip("/")
        self.model = model or os.environ.get("REWARDLAB_JUDGE_MODEL") or ""
        if not self.model:
            raise ValueError("a judge needs a model name: pass model or set REWARDLAB_JUDGE_MODEL")
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.concurrency = concurrency
        self.rpm, self.tpm = rpm, tpm
        self.retries, self.deadline = retries, float(deadline)
        self.prices = dict(prices or {})
        self.cache = ReplyCache(cache_path or default_cache_path(), cache)
        self.stats = ClientStats()
        self._http: Any = None
        self._semaphore: asyncio.Semaphore | None = None
        self._pace: _Pace | None = None
        self._bucket: _TokenBucket | None = None

    def __repr__(self) -> str:
        return f"<JudgeClient {self.model} at {self.base_url}>"

    # -- life ------------------------------------------------------------------
    def _open(self) -> None:
        # Runs on the home loop: the pool and the limiters belong to it for the client's life.
        if self._http is not None:
            return
        import httpx

        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, limits=limits, timeout=self.deadline)
        # A client dropped without close() still releases its sockets: on the home loop, soon after collection.
        weakref.finalize(self, _close_later, asyncio.get_running_loop(), self._http)
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._pace = _Pace(self.rpm) if self.rpm else None
        self._bucket = _TokenBucket(self.tpm) if self.tpm else None

    @property
    def is_open(self) -> bool:
        """True while its connection pool is open."""
        return self._http is not None

    async def aclose(self) -> None:
        """Close the connection pool and the cache; the client opens again if used."""
        await on_home_loop(self._aclose_here())

    async def _aclose_here(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()
        self.cache.close()

    def close(self) -> None:
        """`aclose` from sync code."""
        if self._http is not None or self.cache._conn is not None:
            run_on_home_loop(self._aclose_here())

    # -- calls -----------------------------------------------------------------
    def request_body(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        logprobs: bool = False,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """The JSON body of a chat-completions request (also the cache key's content)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 20
        if seed is not None:
            body["seed"] = seed
        return body

    async def acomplete(self, body: Mapping[str, Any]) -> Completion:
        """Send one chat-completions request (or answer it from the cache), from any event loop.

        Raises:
            JudgeCallError: the call failed (``error``) or overran its deadline (``timeout``).
        """
        return await on_home_loop(self._complete_here(dict(body)))

    def complete(self, body: Mapping[str, Any]) -> Completion:
        """`acomplete` from sync code."""
        return run_on_home_loop(self._complete_here(dict(body)))

    async def _complete_here(self, body: dict[str, Any]) -> Completion:
        self._open()
        self.stats.calls += 1
        key = request_key(body)
        stored = self.cache.get(key)
        if stored is not None:
            self.stats.cache_hits += 1
            return _parse_reply(stored, requests=0, cached=True, prices=None)
        assert self._semaphore is not None
        async with self._semaphore:
            reply, requests = await self._send(body)
        completion = _parse_reply(reply, requests=requests, cached=False, prices=self.prices)
        self.stats.prompt_tokens += completion.prompt_tokens
        self.stats.completion_tokens += completion.completion_tokens
        self.stats.cost += completion.cost
        if self.cache.mode == "readwrite":
            # a write may wait on another process's lock (WAL allows one writer): off the loop
            await asyncio.to_thread(self.cache.put, key, reply)
        return completion

    async def _send(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        import httpx

        estimate = float(sum(len(str(m.get("content", ""))) for m in body["messages"]) // CHARS_PER_TOKEN)
        estimate += float(body.get("max_tokens") or 0)
        started = time.monotonic()
        end = started + self.deadline
        attempts = 0
        last = "no attempt made"
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                self.stats.timeouts += 1
                raise JudgeCallError(
                    Status.TIMEOUT,
                    f"judge call exceeded its {self.deadline:g} s deadline after {attempts} attempt(s); last: {last}",
                    attempts=attempts,
                )
            if self._pace is not None:
                await self._pace.wait()
            if self._bucket is not None:
                await self._bucket.take(estimate)
            attempts += 1
            self.stats.requests += 1
            retry_after: float | None = None
            try:
                remaining = max(0.001, end - time.monotonic())
                response = await asyncio.wait_for(
                    self._http.post("/chat/completions", json=body, timeout=remaining), remaining
                )
            except (asyncio.TimeoutError, httpx.TimeoutException):
                last = f"no reply within the deadline from {self.base_url}"
                continue
            except httpx.TransportError as exc:
                last = f"cannot reach {self.base_url} ({type(exc).__name__}: {exc or 'connection failed'})"
            else:
                status = response.status_code
                self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
                if status == 200:
                    try:
                        reply = response.json()
                    except ValueError:
                        self.stats.errors += 1
                        raise JudgeCallError(
                            Status.ERROR,
                            f"server reply is not JSON: {response.text[:MAX_ERROR_CHARS]!r}",
                            attempts=attempts,
                        ) from None
                    if not isinstance(reply, dict):
                        self.stats.errors += 1
                        raise JudgeCallError(Status.ERROR, "server reply is not a JSON object", attempts=attempts)
                    if self._bucket is not None:
                        usage = reply.get("usage") or {}
                        actual = usage.get("total_tokens") if isinstance(usage, dict) else None
                        if isinstance(actual, (int, float)):
                            self._bucket.adjust(estimate, float(actual))
                    return reply, attempts
                message = _server_message(response)
                if status == 429 or status >= 500:
                    last = f"HTTP {status}: {message}"
                    if status == 429:
                        retry_after = _retry_after(response.headers)
                else:
                    self.stats.errors += 1
                    raise JudgeCallError(
                        Status.ERROR, f"judge server refused the request (HTTP {status}): {message}", attempts=attempts
                    )
            if attempts > self.retries:
                self.stats.errors += 1
                raise JudgeCallError(
                    Status.ERROR, f"judge call failed after {attempts} attempt(s): {last}", attempts=attempts
                )
            self.stats.retries += 1
            delay = retry_after if retry_after is not None else _backoff(attempts - 1)
            if time.monotonic() + delay >= end:
                self.stats.timeouts += 1
                raise JudgeCallError(
                    Status.TIMEOUT,
                    f"judge call would pass its {self.deadline:g} s deadline waiting {delay:.1f} s to retry "
                    f"after {attempts} attempt(s); last: {last}",
                    attempts=attempts,
                )
            await asyncio.sleep(delay)


def _close_later(loop: asyncio.AbstractEventLoop, http: Any) -> None:
    if http.is_closed or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(lambda: loop.create_task(http.aclose()))
    except RuntimeError:  # the loop stopped meanwhile (interpreter exit)
        pass


def _backoff(retry: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_BASE * 2**retry) * random.uniform(0.5, 1.5)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:MAX_ERROR_CHARS]
        if isinstance(err, str):
            return err[:MAX_ERROR_CHARS]
        if data.get("detail"):
            return str(data["detail"])[:MAX_ERROR_CHARS]
        if data.get("message"):
            return str(data["message"])[:MAX_ERROR_CHARS]
    return (response.text or response.reason_phrase or "no message")[:MAX_ERROR_CHARS]


def _parse_reply(
    reply: Mapping[str, Any], *, requests: int, cached: bool, prices: Mapping[str, float] | None
) -> Completion:
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise JudgeCallError(Status.ERROR, "server reply has no choices")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # content parts
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise JudgeCallError(Status.ERROR, "server reply has no message content (a refusal or a tool call?)")
    raw_usage = reply.get("usage")
    usage: Mapping[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    cost = 0.0
    if prices:
        cost = (prompt_tokens * prices.get("input", 0.0) + completion_tokens * prices.get("output", 0.0)) / 1e6
    return Completion(
        text=content,
        logprobs=_parse_logprobs(choices[0].get("logprobs")),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        requests=requests,
        cached=cached,
        cost=cost,
    )


def _parse_logprobs(raw: Any) -> tuple[tuple[str, float, Mapping[str, float]], ...] | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), list):
        return None
    out = []
    for item in raw["content"]:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            return None
        alternatives: dict[str, float] = {}
        for alt in item.get("top_logprobs") or []:
            if isinstance(alt, dict) and isinstance(alt.get("token"), str):
                try:
                    alternatives[alt["token"]] = max(alternatives.get(alt["token"], -1e9), float(alt["logprob"]))
                except (TypeError, ValueError, KeyError):
                    continue
        try:
            logprob = float(item.get("logprob"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        out.append((item["token"], logprob, alternatives))
    return tuple(out)
