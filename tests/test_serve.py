"""`rewardlab serve` on a real uvicorn server on loopback, with real HTTP clients."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

import _serve_rewards as fixtures
import rewardlab
from rewardlab import Status
from rewardlab.compose import Term, weighted_sum
from rewardlab.serve import ServeConfig, build_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(rewards: dict, config: ServeConfig | None = None, port: int | None = None) -> Iterator[str]:
    """A real uvicorn server in a thread; yields its base URL and stops it (graceful drain) after."""
    port = port or _free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(rewards, config or ServeConfig()), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_ready_only_once_factory_rewards_are_set_up_and_closed_at_shutdown():
    fixtures.SETUPS.clear()
    loaded = rewardlab.load("serve_loaded")
    combined = weighted_sum(Term(rewardlab.load("serve_loaded")(load_s=0.2), 1.0, name="a"), Term("exact_match", 1.0))
    with running({"loaded": loaded, "combined": combined}) as url:
        # set up by the lifespan, before the first request: not by the first batch
        assert fixtures.SETUPS == ["setup", "setup"]
        assert httpx.get(f"{url}/ready").json() == {"ready": True, "rewards": {"loaded": True, "combined": True}}
        reply = httpx.post(f"{url}/v1/score/loaded", json={"samples": [{"completion": "x"}]}).json()
        assert reply["scores"][0]["value"] == 1.0
        assert fixtures.SETUPS == ["setup", "setup"]
    assert sorted(fixtures.SETUPS) == ["close", "close", "setup", "setup"]


def test_a_reward_that_cannot_set_up_stops_start_up():
    from starlette.testclient import TestClient

    app = build_app({"broken": rewardlab.load("serve_loaded")(fail=True, load_s=0.0)}, ServeConfig())
    with pytest.raises(RuntimeError, match="model file is corrupt"):
        with TestClient(app):  # runs the lifespan: start-up fails, the server never says ready
            pass


# -- the three request shapes ---------------------------------------------------------------------


def test_native_api_lists_and_scores():
    with running({"math": rewardlab.load("math"), "em": rewardlab.load("exact_match")}) as url:
        listed = httpx.get(f"{url}/v1/rewards").json()
        assert [r["name"] for r in listed["rewards"]] == ["math", "em"]
        assert listed["rewards"][0]["signature"].startswith("math|")
        body = {
            "samples": [
                {"completion": "so \\boxed{\\frac{1}{2}}", "reference": "0.5", "id": 7},
                {"completion": "\\boxed{3}", "reference": "4", "topic": "kept as a task field"},
            ]
        }
        reply = httpx.post(f"{url}/v1/score/math", json=body).json()
        assert reply["reward"] == "math" and len(reply["request_id"]) == 32
        assert [s["value"] for s in reply["scores"]] == [1.0, 0.0]
        assert all(s["status"] == "ok" and s["signature"].startswith("math|") for s in reply["scores"])
        default = httpx.post(
            f"{url}/v1/score", json={"samples": [{"completion": "Paris", "reference": "paris"}], "reward": "em"}
        ).json()
        assert default["scores"][0]["value"] == 1.0
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        assert httpx.get(f"{url}/ready").json()["ready"] is True


def test_openrlhf_request_shape_with_aiohttp():
    import aiohttp

    async def call(url: str, payload: dict) -> dict:
        # OpenRLHF posts JSON and reads the reply's "rewards" (and "scores", "extra_logs")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/get_reward", json=payload) as response:
                assert response.status == 200
                return await response.json()

    with running({"math": rewardlab.load("math")}, ServeConfig(on_failure=-1.0)) as url:
        prompts = ["Q: 1+1?\nA:", "Q: 2+2?\nA:", "Q: 3+3?\nA:"]
        queries = [prompts[0] + " \\boxed{2}", prompts[1] + " it is 5", "something else entirely"]
        reply = asyncio.run(call(url, {"query": queries, "prompts": prompts, "labels": ["2", "4", "6"]}))
        assert reply["rewards"] == [1.0, 0.0, -1.0]
        assert reply["scores"] == reply["rewards"]
        assert reply["extra_logs"]["reward_ok"] == [1.0, 1.0, 0.0]
        assert reply["extra_logs"]["reward_status"] == [0.0, 0.0, 2.0]  # numbers: OpenRLHF logs tensors
        assert reply["statuses"][2] == "error" and "does not start with its prompt" in reply["reasons"][2]
        empty = asyncio.run(call(url, {"query": [], "prompts": [], "labels": []}))
        assert empty["rewards"] == [] and empty["scores"] == [] and empty["extra_logs"]["reward_ok"] == []


def test_slime_shape():
    with running({"math": rewardlab.load("math")}) as url:
        reply = httpx.post(f"{url}/slime", json={"prompt": "p", "response": "\\boxed{4}", "label": "4"}).json()
        assert reply["reward"] == 1.0 and reply["status"] == "ok"
        wrong = httpx.post(f"{url}/slime/math", json={"response": "\\boxed{5}", "label": "4"}).json()
        assert wrong["reward"] == 0.0


# -- bad input ------------------------------------------------------------------------------------


def test_bad_requests_name_the_problem():
    config = ServeConfig(max_body_bytes=4096, api_key="s3cret")
    auth = {"authorization": "Bearer s3cret"}
    with running({"em": rewardlab.load("exact_match")}, config) as url:
        assert httpx.get(f"{url}/health").status_code == 200  # probes need no token
        assert httpx.post(f"{url}/v1/score", json={"samples": []}).status_code == 401
        assert (
            httpx.post(f"{url}/v1/score", json={"samples": []}, headers={"authorization": "Bearer x"}).status_code
            == 401
        )
        missing = httpx.post(f"{url}/v1/score", json={"samples": [{"prompt": "x"}]}, headers=auth)
        assert missing.status_code == 422 and "samples.0.completion" in missing.json()["detail"]
        broken = httpx.post(f"{url}/v1/score", content=b'{"samples": [', headers=auth)
        assert broken.status_code == 422 and "body" in broken.json()["detail"]
        unknown = httpx.post(f"{url}/v1/score/nope", json={"samples": []}, headers=auth)
        assert unknown.status_code == 404 and unknown.json()["served"] == ["em"]
        huge = httpx.post(f"{url}/v1/score", content=b"x" * 10_000, headers=auth)
        assert huge.status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b"y" * 1000

        chunked = httpx.post(f"{url}/v1/score", content=chunks(), headers=auth)  # no content-length
        assert chunked.status_code == 413
        mismatch = httpx.post(f"{url}/get_reward", json={"query": ["a", "b"], "prompts": ["a"]}, headers=auth)
        assert mismatch.status_code == 422 and "prompts" in mismatch.json()["detail"]


def test_deeply_nested_body_is_a_422_naming_the_depth():
    from rewardlab.serve._app import MAX_JSON_NESTING

    def nested(depth: int) -> str:
        return "[" * depth + "1" + "]" * depth

    with running({"em": rewardlab.load("exact_match")}) as url:
        # the sample sits 3 levels down in a native body: a reference nested to the cap just fits
        fits = '{"samples": [{"completion": "x", "reference": ' + nested(MAX_JSON_NESTING - 3) + "}]}"
        assert httpx.post(f"{url}/v1/score", content=fits).status_code == 200
        # brackets inside strings are text, not nesting
        text = json.dumps({"samples": [{"completion": "[" * 5000, "reference": "{" * 5000}]})
        assert httpx.post(f"{url}/v1/score", content=text).status_code == 200
        bodies = {
            "/v1/score": '{"samples": [{"completion": "x", "reference": ' + nested(MAX_JSON_NESTING - 2) + "}]}",
            "/get_reward": '{"query": ["a"], "labels": [' + nested(50_000) + "]}",
            "/slime": '{"response": "a", "label": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}",
        }
        for path, body in bodies.items():
            reply = httpx.post(f"{url}{path}", content=body)
            assert reply.status_code == 422, (path, reply.text)
            detail = reply.json()["detail"]
            assert f"nested deeper than {MAX_JSON_NESTING} levels" in detail and "body (byte " in detail
            assert reply.json()["errors"][0]["field"].startswith("body (byte ")
        chunked = httpx.post(f"{url}/v1/score", content=iter([bodies["/v1/score"].encode()]))  # no content-length
        assert chunked.status_code == 422
        assert httpx.post(f"{url}/v1/score", json={"samples": [{"completion": "a", "reference": "a"}]}).json()[
            "scores"
        ][0]["value"] == 1.0


# -- batching, load, backpressure -------------------------------------------------------------------


def test_64_concurrent_clients_every_request_answered_once_and_batched():
    fixtures.BATCHES.clear()
    clients, per_client = 64, 5
    with running({"b": rewardlab.load("serve_batches")}, ServeConfig(max_batch=32, max_wait_ms=10)) as url:

        async def client(k: int, http: httpx.AsyncClient) -> list[tuple[str, float]]:
            out = []
            for j in range(per_client):
                text = f"c{k}-r{j}-" + "x" * ((k * 7 + j) % 13)
                reply = await http.post(f"{url}/v1/score", json={"samples": [{"completion": text, "id": text}]})
                assert reply.status_code == 200
                (score,) = reply.json()["scores"]
                out.append((text, score["value"]))
            return out

        async def main() -> list[list[tuple[str, float]]]:
            limits = httpx.Limits(max_connections=clients)
            async with httpx.AsyncClient(limits=limits, timeout=60) as http:
                return await asyncio.gather(*(client(k, http) for k in range(clients)))

        results = asyncio.run(main())
        metrics = httpx.get(f"{url}/metrics").text
    answered = [pair for per in results for pair in per]
    assert len(answered) == clients * per_client
    assert len({text for text, _ in answered}) == clients * per_client  # none lost, none duplicated
    assert all(value == float(len(text)) for text, value in answered)  # each got its own score
    assert sum(fixtures.BATCHES) == clients * per_client
    assert max(fixtures.BATCHES) > 1  # requests were gathered across clients
    assert f'rewardlab_scores_total{{reward="b",status="ok"}} {float(clients * per_client)}' in metrics
    assert "rewardlab_batch_size_bucket" in metrics and "rewardlab_request_seconds_bucket" in metrics


def test_full_queue_answers_503_and_the_client_retries():
    config = ServeConfig(max_queue=2, max_batch=1, concurrency=1)
    with running({"b": rewardlab.load("serve_batches", delay=0.3)}, config) as url:

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as http:
                replies = await asyncio.gather(
                    *(http.post(f"{url}/v1/score", json={"samples": [{"completion": "x"}]}) for _ in range(8))
                )
            for reply in replies:
                if reply.status_code == 503:
                    assert reply.headers["retry-after"] == "1"
            return [r.status_code for r in replies]

        codes = asyncio.run(burst())
        assert 503 in codes and 200 in codes
        # the remote client retries a 503 after Retry-After and gets every score
        remote = rewardlab.remote(url, timeout=60)
        scores = remote.score([{"completion": "y" * n} for n in range(6)])
        remote.close()
        assert [s.value for s in scores] == [float(n) for n in range(6)]


# -- faults -------------------------------------------------------------------------------------------


def test_crashing_and_hanging_work_fail_their_items_and_the_server_keeps_serving():
    config = ServeConfig(timeout=10.0, workers=2)
    with running({"f": rewardlab.load("serve_faulty")}, config) as url:
        samples = [{"completion": "fine"}, {"completion": "crash"}, {"completion": "hang"}, {"completion": "ok"}]
        started = time.monotonic()
        reply = httpx.post(f"{url}/v1/score", json={"samples": samples}, timeout=30).json()
        elapsed = time.monotonic() - started
        statuses = [s["status"] for s in reply["scores"]]
        assert statuses == ["ok", "error", "timeout", "ok"]
        assert elapsed < 8.0  # the hang is killed at the reward's 1.5 s deadline, not the request's
        again = httpx.post(f"{url}/v1/score", json={"samples": [{"completion": "fine"}]}).json()
        assert again["scores"][0]["value"] == 1.0


def test_request_deadline_answers_timeout_items():
    with running({"b": rewardlab.load("serve_batches", delay=3.0)}, ServeConfig(timeout=0.5)) as url:
        started = time.monotonic()
        reply = httpx.post(f"{url}/v1/score", json={"samples": [{"completion": "a"}, {"completion": "b"}]}).json()
        assert time.monotonic() - started < 2.5
        assert [s["status"] for s in reply["scores"]] == ["timeout", "timeout"]
        assert "deadline" in reply["scores"][0]["reason"]


def test_client_disconnect_mid_request_does_not_hurt_the_server():
    with running({"b": rewardlab.load("serve_batches", delay=0.5)}) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/score", json={"samples": [{"completion": "gone"}]}, timeout=0.1)
        reply = httpx.post(f"{url}/v1/score", json={"samples": [{"completion": "here"}]}, timeout=10).json()
        assert reply["scores"][0]["value"] == 4.0


def test_remote_reward_survives_a_server_restart(tmp_path: Path):
    port = _free_port()
    remote = rewardlab.remote(f"http://127.0.0.1:{port}/em", timeout=60)
    with running({"em": rewardlab.load("exact_match")}, port=port):
        first = remote.score([{"completion": "a", "reference": "a"}])
    assert first[0].value == 1.0 and first[0].signature.startswith("exact_match|")
    restarted: list[bool] = []

    def later() -> None:
        time.sleep(1.0)  # the server is down while the client starts its call
        with running({"em": rewardlab.load("exact_match")}, port=port):
            restarted.append(True)
            time.sleep(3.0)

    thread = threading.Thread(target=later)
    thread.start()
    second = remote.score([{"completion": "b", "reference": "c"}])
    thread.join()
    remote.close()
    assert restarted and second[0].status is Status.OK and second[0].value == 0.0


def test_remote_reward_errors_are_typed_never_zero():
    port = _free_port()
    down = rewardlab.remote(f"http://127.0.0.1:{port}", timeout=1.0)
    (score,) = down.score([{"completion": "x"}])
    down.close()
    assert score.status in (Status.ERROR, Status.TIMEOUT) and score.value is None
    assert "127.0.0.1" in score.reason
    with running({"em": rewardlab.load("exact_match")}) as url:
        wrong = rewardlab.remote(f"{url}/nope")
        (refused,) = wrong.score([{"completion": "x"}])
        wrong.close()
    assert refused.status is Status.ERROR and "404" in refused.reason and "em" in refused.reason


def test_remote_reward_in_the_score_job_and_verl_async(tmp_path: Path):
    from rewardlab.integrations.verl import compute_score_async

    fixtures.BATCHES.clear()
    with running({"b": rewardlab.load("serve_batches")}, ServeConfig(max_wait_ms=20)) as url:
        data = tmp_path / "in.jsonl"
        data.write_text("".join(json.dumps({"completion": "z" * n}) + "\n" for n in range(20)))
        out = tmp_path / "out.jsonl"
        proc = subprocess.run(
            [sys.executable, "-m", "rewardlab", "score", str(data), "-r", f"{url}/b", "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["reward"] for r in rows] == [float(n) for n in range(20)]
        fixtures.BATCHES.clear()
        remote = rewardlab.remote(f"{url}/b")

        async def trainer_side() -> list[float]:
            calls = [compute_score_async("src", "w" * n, None, None, reward=remote) for n in range(40)]
            return list(await asyncio.gather(*calls))

        values = asyncio.run(trainer_side())
        remote.close()
    assert values == [float(n) for n in range(40)]
    assert len(fixtures.BATCHES) < 40  # per-sample calls reached the server in batches


@contextmanager
def hostile_server(replies: dict[str, tuple[dict[str, str], Iterator[bytes] | bytes]]) -> Iterator[str]:
    """A real HTTP server on loopback answering each path with fixed headers and body (written raw)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("content-length", "0")))
            headers, body = replies[self.path]
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                for chunk in [body] if isinstance(body, bytes) else body:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as it should

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_remote_reward_caps_the_reply_and_checks_its_items():
    from rewardlab.runtime._remote import REPLY_BYTES_BASE, REPLY_BYTES_PER_SAMPLE

    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        yield b'{"scores": ["'
        for _ in range(200):  # 200 MiB if nobody stopped reading
            sent.append(1)
            yield b"x" * (1 << 20)

    item = {"value": 1.0, "status": "ok", "reason": "", "components": {}, "signature": "s"}
    plain = {"content-type": "application/json", "connection": "close"}
    replies = {
        "/v1/score/endless": ({"content-type": "application/json", "connection": "close"}, endless()),
        "/v1/score/declared": ({**plain, "content-length": str(10**12)}, b'{"scores": []}'),
        "/v1/score/extra": (plain, json.dumps({"scores": [item, item, item]}).encode()),
        "/v1/score/fewer": (plain, json.dumps({"scores": []}).encode()),
        "/v1/score/notlist": (plain, json.dumps({"scores": {"0": item}}).encode()),
        "/v1/score/deep": (plain, b'{"scores": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "/v1/score/items": (
            plain,
            json.dumps(
                {
                    "scores": [
                        "ok",
                        {"status": "ok", "value": "1"},
                        {"status": "ok", "value": 1.0, "components": [1]},
                        {"status": "ok", "value": 0.5, "reason": "r" * 100_000},
                    ]
                }
            ).encode(),
        ),
    }
    with hostile_server(replies) as url:

        def score(name: str, count: int) -> list[rewardlab.Score]:
            remote = rewardlab.remote(f"{url}/{name}", timeout=20)
            try:
                return remote.score([{"completion": str(i)} for i in range(count)])
            finally:
                remote.close()

        started = time.monotonic()
        endless_scores = score("endless", 2)
        assert time.monotonic() - started < 15
        limit = REPLY_BYTES_BASE + 2 * REPLY_BYTES_PER_SAMPLE
        assert all(s.status is Status.ERROR and f"over {limit} bytes" in s.reason for s in endless_scores)
        assert len(sent) < 100  # the client stopped reading near its cap, not at the end
        (declared,) = score("declared", 1)
        assert declared.status is Status.ERROR and "declares 1000000000000 bytes" in declared.reason
        for name in ("extra", "fewer"):
            scores = score(name, 2)
            assert [s.status for s in scores] == [Status.ERROR, Status.ERROR]
            assert all("scores for 2 samples" in s.reason and s.value is None for s in scores)
        assert all("not a list" in s.reason for s in score("notlist", 1))
        assert all(s.status is Status.ERROR and "malformed reply" in s.reason for s in score("deep", 3))
        bad, text, components, long = score("items", 4)
        assert bad.status is Status.ERROR and "expected an object" in bad.reason
        assert text.status is Status.ERROR and "value must be a number" in text.reason
        assert components.status is Status.ERROR and "components" in components.reason
        assert long.status is Status.OK and long.value == 0.5 and len(long.reason) <= 2000
