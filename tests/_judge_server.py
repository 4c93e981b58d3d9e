"""A scripted OpenAI-compatible chat-completions server (FastAPI) for judge tests and benchmarks.

Run: ``python tests/_judge_server.py PORT [LATENCY_S]``; it listens on 127.0.0.1 only.
The model name picks the behaviour:

- ``oracle``: deterministic verdicts computed from the request (verify: the
  response's last number or last word equals the reference; score: from the
  response length; pairwise: the longer response wins; rubric: the criterion's
  last word appears in the response);
- ``echo``: replies with the user message itself (a parroting judge);
- ``malformed``: replies without any verdict line;
- ``logprobs``: ``VERDICT: yes`` with token logprobs (P(yes) = 0.8);
- ``ratelimit-N``: answers 429 with ``Retry-After: 1`` to the first N requests, then as ``oracle``;
- ``flaky-N``: answers 503 to the first N requests, then as ``oracle``;
- ``drop-N``: drops the connection mid-reply on the first N requests, then as ``oracle``;
- ``slow``: waits 30 s before answering;
- ``badrequest``: answers 400 with an OpenAI-style error message.

``GET /stats`` gives the number of chat requests per model; ``POST /reset`` clears it.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import sys
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

LATENCY = 0.0
"""Seconds every chat reply waits (set from the command line)."""
app = FastAPI()
COUNTS: Counter[str] = Counter()
INFLIGHT = {"now": 0, "max": 0}

_FENCE = re.compile(r"<(response-[0-9a-f]{12})>\n(.*?)\n</\1>", re.DOTALL)


def _reply(text: str, logprobs: Any = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = logprobs
    return {
        "id": "scripted",
        "object": "chat.completion",
        "choices": [choice],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
    }


def _last_token(text: str) -> str:
    numbers = re.findall(r"-?\d+(?:\.\d+)?", text)
    if numbers:
        return numbers[-1]
    words = re.findall(r"\w+", text.lower())
    return words[-1] if words else ""


def _oracle(user: str) -> str:
    fenced = [m.group(2) for m in _FENCE.finditer(user)]
    if "WINNER" in user:
        a, b = (len(fenced[0]), len(fenced[1])) if len(fenced) >= 2 else (0, 0)
        return "Compared.\nWINNER: " + ("A" if a > b else "B" if b > a else "tie")
    response = fenced[0] if fenced else ""
    if "word SCORE" in user:
        return f"Assessed.\nSCORE: {min(10, 1 + len(response.split()) // 5)}"
    if "Reference answer:" in user:
        reference = user.split("Reference answer:\n", 1)[1].split("\n\n", 1)[0].strip()
        same = _last_token(response) == _last_token(reference)
        return "Checked.\nVERDICT: " + ("yes" if same else "no")
    if "Criteria:" in user:
        lines = re.findall(r"^C(\d+)\. (.*)$", user, re.MULTILINE)
        out = [
            f"C{n}: " + ("yes" if text.split()[-1].lower().strip(".") in response.lower() else "no")
            for n, text in lines
        ]
        return "Checked.\n" + "\n".join(out)
    if "Criterion:" in user or "Principle:" in user:
        label = "Criterion:\n" if "Criterion:" in user else "Principle:\n"
        criterion = user.split(label, 1)[1].split("\n\n", 1)[0]
        word = criterion.split()[-1].lower().strip(".")
        return "Checked.\nVERDICT: " + ("yes" if word in response.lower() else "no")
    return "no idea"


@app.get("/stats")
async def stats() -> dict[str, int]:
    return {**COUNTS, "inflight_max": INFLIGHT["max"]}


@app.post("/reset")
async def reset() -> dict[str, bool]:
    COUNTS.clear()
    INFLIGHT["max"] = 0
    return {"ok": True}


@app.post("/v1/chat/completions")
async def chat(request: Request) -> Any:
    INFLIGHT["now"] += 1
    INFLIGHT["max"] = max(INFLIGHT["max"], INFLIGHT["now"])
    try:
        return await _chat(request)
    finally:
        INFLIGHT["now"] -= 1


async def _chat(request: Request) -> Any:
    body = await request.json()
    model = str(body.get("model", ""))
    COUNTS[model] += 1
    seen = COUNTS[model]
    user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
    if LATENCY:
        await asyncio.sleep(LATENCY)
    kind, _, limit = model.partition("-")
    failing = limit.isdigit() and seen <= int(limit)
    if kind == "ratelimit" and failing:
        return JSONResponse({"error": {"message": "rate limited"}}, status_code=429, headers={"Retry-After": "1"})
    if kind == "flaky" and failing:
        return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
    if model == "slow":
        await asyncio.sleep(30)
    if model == "badrequest":
        return JSONResponse({"error": {"message": "context length exceeded: 99999 tokens"}}, status_code=400)
    if model == "echo":
        return _reply(user)
    if model == "malformed":
        return _reply("The response looks fine to me. I would say it is correct.")
    if model == "logprobs":
        tokens = [("Fine", -0.1), (".\n", -0.1), ("VERDICT", -0.01), (":", -0.01), (" yes", math.log(0.8))]
        content = [
            {
                "token": t,
                "logprob": lp,
                "top_logprobs": [{"token": t, "logprob": lp}]
                + ([{"token": " no", "logprob": math.log(0.2)}] if t == " yes" else []),
            }
            for t, lp in tokens
        ]
        return _reply("".join(t for t, _ in tokens), {"content": content})
    return _reply(_oracle(user))


async def _dropping_app(scope: Any, receive: Any, send: Any) -> None:
    """Wraps the app: a ``drop-N`` request gets the start of a reply, then the connection is closed."""
    if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
        await app(scope, receive, send)
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    raw = b"".join(chunks)
    model = str(json.loads(raw or b"{}").get("model", ""))
    kind, _, limit = model.partition("-")
    if kind == "drop" and limit.isdigit() and COUNTS[model] < int(limit):
        COUNTS[model] += 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b'{"choices": [', "more_body": True})
        raise ConnectionAbortedError("scripted drop")
    if kind == "drop":
        COUNTS[model] += 1
        body = json.loads(raw)
        user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        payload = json.dumps(_reply(_oracle(user))).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})
        return
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    await app(scope, replay, send)


if __name__ == "__main__":
    import uvicorn

    LATENCY = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    uvicorn.run(_dropping_app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
