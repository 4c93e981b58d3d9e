"""`rewardlab serve --ray`: the server as a Ray Serve deployment on a local Ray (no network).

One local Ray (2 CPUs declared) serves the module; replicas ask for half a CPU each and
Serve's proxy and controller for none, so nothing waits on a core. Each deployment is
deleted after its tests; Serve and Ray are shut down at the end of the module.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import _serve_rewards  # noqa: F401  (registers the test rewards)
import rewardlab
from rewardlab.serve import ServeConfig

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

from rewardlab.ray import Scaling, serve_application  # noqa: E402

TESTS = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}},
    )
    yield
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="module")
def serve_url(local_ray: None) -> Iterator[str]:
    port = _free_port()
    serve.start(
        http_options={"host": "127.0.0.1", "port": port},
        logging_config={"log_level": "WARNING", "enable_access_log": False},
    )
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


def _deploy(rewards: dict, config: ServeConfig, scaling: Scaling) -> None:
    serve.run(serve_application(rewards, config, scaling), name="rewardlab", route_prefix="/")


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


# -- the CLI: a subprocess on a free loopback port, stopped with SIGINT (runs first: Serve is not up yet) ----------


def test_cli_serve_ray_starts_answers_and_stops_on_sigint(local_ray):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rewardlab", "serve", "math", "--ray", "--ray-address", "auto"]
        + ["--port", str(port), "--replicas", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the server did not become ready"
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        reply = httpx.post(
            f"{url}/v1/score", json={"samples": [{"completion": "\\boxed{4}", "reference": "4"}]}, timeout=30
        ).json()
        assert reply["reward"] == "math" and reply["scores"][0]["value"] == 1.0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, stderr
    assert "with Ray Serve, 1 replica" in stderr and "shutting down" in stderr
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/health", timeout=2)  # the proxy is gone with Serve


# -- two replicas: the three request shapes, batching across requests, metrics of every replica --------------------


@pytest.fixture(scope="module")
def two_replicas(serve_url: str) -> Iterator[str]:
    rewards = {
        "math": rewardlab.load("math"),
        "b": rewardlab.load("serve_batches"),
        "pid": rewardlab.load("serve_pid"),
    }
    _deploy(rewards, ServeConfig(max_batch=32, max_wait_ms=20, on_failure=-1.0), Scaling(replicas=2))
    yield serve_url
    serve.delete("rewardlab")


def test_native_api(two_replicas):
    url = two_replicas
    listed = httpx.get(f"{url}/v1/rewards").json()
    assert [r["name"] for r in listed["rewards"]] == ["math", "b", "pid"]
    body = {
        "samples": [
            {"completion": "so \\boxed{\\frac{1}{2}}", "reference": "0.5", "id": 7},
            {"completion": "\\boxed{3}", "reference": "4", "topic": "kept as a task field"},
        ]
    }
    reply = httpx.post(f"{url}/v1/score/math", json=body, timeout=30).json()
    assert reply["reward"] == "math" and len(reply["request_id"]) == 32
    assert [s["value"] for s in reply["scores"]] == [1.0, 0.0]
    assert all(s["status"] == "ok" and s["signature"].startswith("math|") for s in reply["scores"])
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    assert httpx.get(f"{url}/ready").json()["ready"] is True


def test_openrlhf_request_shape_with_aiohttp(two_replicas):
    import aiohttp

    async def call(payload: dict) -> dict:
        # OpenRLHF posts JSON and reads the reply's "rewards" (and "scores", "extra_logs")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{two_replicas}/get_reward", json=payload) as response:
                assert response.status == 200
                return await response.json()

    prompts = ["Q: 1+1?\nA:", "Q: 2+2?\nA:", "Q: 3+3?\nA:"]
    queries = [prompts[0] + " \\boxed{2}", prompts[1] + " it is 5", "something else entirely"]
    reply = asyncio.run(call({"query": queries, "prompts": prompts, "labels": ["2", "4", "6"]}))
    assert reply["rewards"] == [1.0, 0.0, -1.0] and reply["scores"] == reply["rewards"]
    assert reply["extra_logs"]["reward_ok"] == [1.0, 1.0, 0.0]
    assert reply["extra_logs"]["reward_status"] == [0.0, 0.0, 2.0]
    assert reply["statuses"][2] == "error" and "does not start with its prompt" in reply["reasons"][2]
    empty = asyncio.run(call({"query": [], "prompts": [], "labels": []}))
    assert empty["rewards"] == [] and empty["extra_logs"]["reward_ok"] == []


def test_slime_shape(two_replicas):
    reply = httpx.post(f"{two_replicas}/slime", json={"prompt": "p", "response": "\\boxed{4}", "label": "4"}).json()
    assert reply["reward"] == 1.0 and reply["status"] == "ok"
    wrong = httpx.post(f"{two_replicas}/slime/math", json={"response": "\\boxed{5}", "label": "4"}).json()
    assert wrong["reward"] == 0.0


def test_concurrent_single_sample_requests_are_batched_and_counted_once(two_replicas):
    url = two_replicas
    clients, per_client = 64, 3

    async def client(k: int, http: httpx.AsyncClient) -> list[tuple[str, float]]:
        out = []
        for j in range(per_client):
            text = f"c{k}-r{j}-" + "x" * ((k * 7 + j) % 13)
            reply = await http.post(f"{url}/v1/score/b", json={"samples": [{"completion": text, "id": text}]})
            assert reply.status_code == 200, reply.text
            (score,) = reply.json()["scores"]
            out.append((text, score["value"]))
        return out

    async def main() -> list[list[tuple[str, float]]]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=clients), timeout=60) as http:
            return await asyncio.gather(*(client(k, http) for k in range(clients)))

    answered = [pair for per in asyncio.run(main()) for pair in per]
    assert len(answered) == clients * per_client
    assert len({text for text, _ in answered}) == clients * per_client  # none lost, none duplicated
    assert all(value == float(len(text)) for text, value in answered)  # each got its own score
    # /metrics, answered by one replica, counts both (the other's counts arrive within a second)
    total = clients * per_client
    deadline = time.monotonic() + 15
    while True:
        text = httpx.get(f"{url}/metrics").text
        scored = _metric(text, "rewardlab_scores_total", reward="b", status="ok")
        if scored >= total or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert scored == total
    batches = _metric(text, "rewardlab_batch_size_count", reward="b")
    assert _metric(text, "rewardlab_batch_size_sum", reward="b") == total
    assert 0 < batches < total  # requests were gathered across clients: some batch held more than one
    assert _metric(text, "rewardlab_requests_total", endpoint="/v1/score", code="200") >= total


def test_two_replicas_share_the_requests(two_replicas):
    async def main() -> set[float]:
        async with httpx.AsyncClient(timeout=60) as http:
            replies = await asyncio.gather(
                *(http.post(f"{two_replicas}/v1/score/pid", json={"samples": [{"completion": "x"}]}) for _ in range(48))
            )
        return {r.json()["scores"][0]["value"] for r in replies}

    pids = asyncio.run(main())
    assert len(pids) == 2 and os.getpid() not in pids  # two replica processes, neither the driver


# -- faults, bad input, backpressure: one replica with a short deadline, a token and small limits ----------------


@pytest.fixture(scope="module")
def guarded(serve_url: str) -> Iterator[str]:
    rewards = {
        "f": rewardlab.load("serve_faulty"),
        "slow": rewardlab.load("serve_batches", delay=8.0),
        "b": rewardlab.load("serve_batches", delay=0.3),
        "exit": rewardlab.load("serve_exit"),
    }
    config = ServeConfig(
        timeout=4.0,
        workers=2,
        api_key="s3cret",
        max_body_bytes=4096,
        max_queue=4,
        max_batch=1,
        concurrency=1,
        drain_s=2.0,
    )
    _deploy(rewards, config, Scaling(replicas=1))
    yield serve_url
    serve.delete("rewardlab")


AUTH = {"authorization": "Bearer s3cret"}


def test_crashing_and_hanging_work_fail_their_items_and_the_server_keeps_serving(guarded):
    samples = [{"completion": "fine"}, {"completion": "crash"}, {"completion": "hang"}, {"completion": "ok"}]
    started = time.monotonic()
    reply = httpx.post(f"{guarded}/v1/score/f", json={"samples": samples}, headers=AUTH, timeout=30).json()
    assert [s["status"] for s in reply["scores"]] == ["ok", "error", "timeout", "ok"]
    assert time.monotonic() - started < 8.0  # the hang is killed at the reward's 1.5 s deadline
    again = httpx.post(f"{guarded}/v1/score/f", json={"samples": [{"completion": "fine"}]}, headers=AUTH).json()
    assert again["scores"][0]["value"] == 1.0


def test_request_deadline_answers_timeout_items(guarded):
    started = time.monotonic()
    body = {"samples": [{"completion": "a"}, {"completion": "b"}]}
    reply = httpx.post(f"{guarded}/v1/score/slow", json=body, headers=AUTH, timeout=30).json()
    assert time.monotonic() - started < 7.0  # the request's 4 s deadline, not the reward's 8 s sleep
    assert [s["status"] for s in reply["scores"]] == ["timeout", "timeout"]
    assert "deadline" in reply["scores"][0]["reason"]


def test_bad_requests_name_the_problem(guarded):
    url = guarded
    assert httpx.get(f"{url}/health").status_code == 200  # probes need no token
    assert httpx.get(f"{url}/ready").status_code == 200
    assert httpx.post(f"{url}/v1/score", json={"samples": []}).status_code == 401
    assert httpx.get(f"{url}/metrics", headers={"authorization": "Bearer x"}).status_code == 401
    missing = httpx.post(f"{url}/v1/score", json={"samples": [{"prompt": "x"}]}, headers=AUTH)
    assert missing.status_code == 422 and "samples.0.completion" in missing.json()["detail"]
    broken = httpx.post(f"{url}/v1/score", content=b'{"samples": [', headers=AUTH)
    assert broken.status_code == 422 and "body" in broken.json()["detail"]
    unknown = httpx.post(f"{url}/v1/score/nope", json={"samples": []}, headers=AUTH)
    assert unknown.status_code == 404 and unknown.json()["served"] == ["f", "slow", "b", "exit"]
    assert httpx.post(f"{url}/v1/score", content=b"x" * 10_000, headers=AUTH).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    assert httpx.post(f"{url}/v1/score", content=chunks(), headers=AUTH).status_code == 413  # no content-length
    mismatch = httpx.post(f"{url}/get_reward", json={"query": ["a", "b"], "prompts": ["a"]}, headers=AUTH)
    assert mismatch.status_code == 422 and "prompts" in mismatch.json()["detail"]


def test_full_queue_answers_503_and_the_client_retries(guarded):
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30, headers=AUTH) as http:
            return await asyncio.gather(
                *(http.post(f"{guarded}/v1/score/b", json={"samples": [{"completion": "x"}]}) for _ in range(16))
            )

    replies = asyncio.run(burst())
    codes = [r.status_code for r in replies]
    assert 503 in codes and 200 in codes
    assert all(r.headers["retry-after"] == "1" for r in replies if r.status_code == 503)
    # the remote client retries a 503 after Retry-After and gets every score
    remote = rewardlab.remote(f"{guarded}/b", timeout=60, api_key="s3cret")
    scores = remote.score([{"completion": "y" * n} for n in range(6)])
    remote.close()
    assert [s.value for s in scores] == [float(n) for n in range(6)]


def test_a_client_that_disconnects_mid_request_does_not_hurt_the_server(guarded):
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{guarded}/v1/score/b", json={"samples": [{"completion": "gone"}]}, headers=AUTH, timeout=0.1)
    reply = httpx.post(f"{guarded}/v1/score/b", json={"samples": [{"completion": "here"}]}, headers=AUTH, timeout=30)
    assert reply.json()["scores"][0]["value"] == 4.0


def test_a_replica_that_dies_fails_its_request_and_serve_replaces_it(guarded):
    died = httpx.post(f"{guarded}/v1/score/exit", json={"samples": [{"completion": "die"}]}, headers=AUTH, timeout=60)
    assert died.status_code == 500  # answered by Serve's proxy, never left hanging
    deadline = time.monotonic() + 90
    while True:  # Serve starts a new replica, which sets the rewards up again
        try:
            reply = httpx.post(
                f"{guarded}/v1/score/exit", json={"samples": [{"completion": "x"}]}, headers=AUTH, timeout=30
            )
            if reply.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "no replica came back"
        time.sleep(1.0)
    assert reply.json()["scores"][0]["value"] == 1.0


# -- no Ray needed: the deployment's options, the merged metrics, the command line's refusals -----------------------


def test_scaling_options_fixed_and_autoscaled():
    config = ServeConfig(max_queue=100, max_batch=64, concurrency=2, drain_s=7.0)
    fixed = Scaling(replicas=3, replica_cpus=0.25).options(config)
    assert fixed["num_replicas"] == 3 and "autoscaling_config" not in fixed
    assert fixed["ray_actor_options"] == {"num_cpus": 0.25, "num_gpus": 0.0}
    assert fixed["max_ongoing_requests"] == 128  # enough requests in flight to fill two batches of 64
    assert fixed["max_queued_requests"] == 100 and fixed["backpressure_config"]["retry_after_s"] == 1
    assert fixed["graceful_shutdown_timeout_s"] == 7.0
    auto = Scaling(min_replicas=0, max_replicas=4, target_ongoing_requests=32).options(config)
    assert "num_replicas" not in auto
    assert auto["autoscaling_config"] == {
        "min_replicas": 0,
        "max_replicas": 4,
        "initial_replicas": 1,
        "target_ongoing_requests": 32,
    }
    with pytest.raises(ValueError, match="min_replicas"):
        Scaling(min_replicas=5, max_replicas=2).options(config)
    with pytest.raises(ValueError, match="replicas"):
        Scaling(replicas=0).options(config)


def test_metrics_of_replicas_are_summed():
    from rewardlab.ray._serve import merge_metrics
    from rewardlab.serve._app import Metrics

    a, b = Metrics(), Metrics()
    a.scores.labels("m", "ok").inc(3)
    b.scores.labels("m", "ok").inc(2)
    b.scores.labels("m", "error").inc()
    a.batch_size.labels("m").observe(4)
    b.batch_size.labels("m").observe(40)
    a.queue_depth.labels("m").set(2)
    b.queue_depth.labels("m").set(5)
    text = merge_metrics([a.render(), b.render()]).decode()
    assert _metric(text, "rewardlab_scores_total", reward="m", status="ok") == 5
    assert _metric(text, "rewardlab_scores_total", reward="m", status="error") == 1
    assert _metric(text, "rewardlab_batch_size_count", reward="m") == 2
    assert _metric(text, "rewardlab_batch_size_sum", reward="m") == 44
    assert _metric(text, "rewardlab_batch_size_bucket", reward="m", le="8.0") == 1
    assert _metric(text, "rewardlab_queue_depth", reward="m") == 7
    gone = merge_metrics([a.render()], counted_only=[b.render()]).decode()  # b stopped pushing
    assert _metric(gone, "rewardlab_scores_total", reward="m", status="ok") == 5
    assert _metric(gone, "rewardlab_queue_depth", reward="m") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replicas", "2"], "need --ray"),
        (["--ray", "--replicas", "2", "--max-replicas", "4"], "not both"),
        (["--ray", "--min-replicas", "1"], "needs --max-replicas"),
    ],
)
def test_cli_refuses_contradictory_ray_options(args, message):
    from typer.testing import CliRunner

    from rewardlab.cli import app

    result = CliRunner().invoke(app, ["serve", "exact_match", *args])
    assert result.exit_code == 2 and message in result.output
