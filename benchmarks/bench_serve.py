"""`rewardlab serve` against a reference server written the way OpenRLHF's `serve_rm.py` works.

The reference is a FastAPI app whose `/get_reward` handler calls the reward on the request's
samples and answers (no cross-request batching; the call runs inside the handler, as
`serve_rm.py` calls its model). Both servers run as separate uvicorn processes with the same
reward; 64 concurrent clients (aiohttp, one sample per request, OpenRLHF's request shape)
send the same requests to each, alternating which server goes first. Reported: requests/s,
p50 and p99 latency, and that both servers returned the same rewards (asserted).

A second table measures the HTTP hop: the same samples scored in-process vs through
`rewardlab.remote` (batched requests to the rewardlab server).

    python benchmarks/bench_serve.py [--requests 2000] [--clients 64] [--repeat 2]
    python benchmarks/bench_serve.py --build-rm /tmp/rm-minilm     # the packaged MiniLM + a 1-logit head
    python benchmarks/bench_serve.py --reward rm -p model=/tmp/rm-minilm --datasets gsm8k
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fastapi import Request

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def reference_app(reward_name: str, params: dict[str, str]) -> Any:
    """The reference server: one reward call per request, inside the handler."""
    from fastapi import FastAPI

    import rewardlab

    reward = rewardlab.load(reward_name, **params)
    app = FastAPI()

    @app.post("/get_reward")
    async def get_reward(request: Request) -> dict[str, Any]:
        data = await request.json()
        queries, prompts, labels = data["query"], data.get("prompts"), data.get("labels")
        samples = [
            {"completion": q[len(p) :] if p and q.startswith(p) else q, "prompt": p, "reference": label}
            for q, p, label in zip(queries, prompts, labels, strict=True)
        ]
        scores = reward.score(samples)
        rewards = [s.value if s.value is not None else 0.0 for s in scores]
        return {"rewards": rewards, "scores": rewards, "extra_logs": {}}

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen[bytes], path: str) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


def _param_args(params: dict[str, str]) -> list[str]:
    return [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]


def start_rewardlab(reward: str, port: int, params: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rewardlab",
            "serve",
            reward,
            "--port",
            str(port),
            "--max-batch",
            "64",
            *_param_args(params),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_ready(port, proc, "/ready")
    return proc


def start_reference(reward: str, port: int, params: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--reference-server", str(port), "--reward", reward, *_param_args(params)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_ready(port, proc, "/docs")
    return proc


def load_requests(dataset: str, count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if dataset == "gsm8k":
        with open(SHARED / "gsm8k" / "model_solutions_labeled.jsonl") as handle:
            for line in handle:
                row = json.loads(line)
                prompt = row["question"] + "\n"
                rows.append({"query": [prompt + row["completion"]], "prompts": [prompt], "labels": [row["reference"]]})
    else:
        with open(SHARED / "math-verify-cases" / "cases.jsonl") as handle:
            for line in handle:
                row = json.loads(line)
                prompt = "Solve.\n"
                answer = f"The final answer is $\\boxed{{{row['pred']}}}$"
                rows.append({"query": [prompt + answer], "prompts": [prompt], "labels": [row["gold"]]})
    return [rows[i % len(rows)] for i in range(count)]


async def drive(url: str, bodies: list[dict[str, Any]], clients: int) -> tuple[float, list[float], list[float]]:
    import aiohttp

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)
    latencies: list[float] = []
    rewards: list[float] = [0.0] * len(bodies)

    async def client(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            while True:
                async with session.post(url, json=bodies[i]) as response:
                    if response.status == 503:
                        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                        continue
                    data = await response.json()
                    break
            latencies.append(time.perf_counter() - started)
            rewards[i] = data["rewards"][0]

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, rewards


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def compare(dataset: str, reward: str, requests: int, clients: int, repeat: int, params: dict[str, str]) -> None:
    bodies = load_requests(dataset, requests)
    ports = {"rewardlab serve": _free_port(), "reference (per-request, serve_rm.py style)": _free_port()}
    procs = {
        "rewardlab serve": start_rewardlab(reward, ports["rewardlab serve"], params),
        "reference (per-request, serve_rm.py style)": start_reference(
            reward, ports["reference (per-request, serve_rm.py style)"], params
        ),
    }
    try:
        results: dict[str, list[tuple[float, list[float]]]] = {name: [] for name in ports}
        values: dict[str, list[float]] = {}
        for port in ports.values():  # warm both (worker pools, imports)
            asyncio.run(drive(f"http://127.0.0.1:{port}/get_reward", bodies[:200], clients))
        order = list(ports)
        for r in range(repeat):
            for name in order if r % 2 == 0 else reversed(order):
                elapsed, latencies, rewards = asyncio.run(
                    drive(f"http://127.0.0.1:{ports[name]}/get_reward", bodies, clients)
                )
                results[name].append((elapsed, latencies))
                values[name] = rewards
        ours, theirs = values["rewardlab serve"], values["reference (per-request, serve_rm.py style)"]
        worst = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
        assert worst <= 1e-4, f"the two servers disagree by {worst}"  # model scores: batch invariance to 1e-4
        print(f"### {dataset}: `{reward}`, {requests} single-sample requests, {clients} concurrent clients")
        print("| server | requests/s | p50 ms | p99 ms |")
        print("|---|---|---|---|")
        rates = {}
        for name, runs in results.items():
            elapsed = statistics.median(e for e, _ in runs)
            latencies = [lat for _, lats in runs for lat in lats]
            rates[name] = requests / elapsed
            p50, p99 = 1000 * _pct(latencies, 0.5), 1000 * _pct(latencies, 0.99)
            print(f"| {name} | {rates[name]:.0f} | {p50:.1f} | {p99:.1f} |")
        ratio = rates["rewardlab serve"] / rates["reference (per-request, serve_rm.py style)"]
        print(f"\nthroughput ratio: {ratio:.2f}x (medians of {repeat} alternated runs; same rewards, asserted)\n")
        hop(dataset, reward, ports["rewardlab serve"], bodies, params)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=60)


def hop(dataset: str, reward: str, port: int, bodies: list[dict[str, Any]], params: dict[str, str]) -> None:
    import rewardlab

    samples = [
        {"completion": b["query"][0][len(b["prompts"][0]) :], "prompt": b["prompts"][0], "reference": b["labels"][0]}
        for b in bodies
    ]
    local = rewardlab.load(reward, **params)
    remote = rewardlab.remote(f"http://127.0.0.1:{port}/{reward}")
    local.score(samples[:100])
    remote.score(samples[:100])
    times: dict[str, list[float]] = {"in-process": [], "remote (HTTP)": []}
    for _ in range(3):
        for name, target in (("in-process", local), ("remote (HTTP)", remote)):
            started = time.perf_counter()
            scores = target.score(samples)
            times[name].append(time.perf_counter() - started)
            assert all(s.status.value == "ok" or s.reason for s in scores)
    remote.close()
    local.close()
    t_local, t_remote = statistics.median(times["in-process"]), statistics.median(times["remote (HTTP)"])
    print(
        f"HTTP hop on {len(samples)} samples ({dataset}): in-process {t_local:.2f} s, remote {t_remote:.2f} s "
        f"({1000 * (t_remote - t_local) / len(samples):.3f} ms per sample added; medians of 3)\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--reward", default="math")
    parser.add_argument("--datasets", default="gsm8k,math-verify")
    parser.add_argument("--param", "-p", action="append", default=[], help="reward parameter key=value")
    parser.add_argument("--build-rm", type=Path, help="write the packaged MiniLM with a 1-logit head here and exit")
    parser.add_argument("--reference-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    if args.build_rm:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from rewardlab.models import packaged_minilm_path

        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(packaged_minilm_path(), num_labels=1)
        model.save_pretrained(args.build_rm)
        AutoTokenizer.from_pretrained(packaged_minilm_path()).save_pretrained(args.build_rm)
        return
    if args.reference_server:
        import uvicorn

        app = reference_app(args.reward, params)
        uvicorn.run(app, host="127.0.0.1", port=args.reference_server, log_level="error")
        return
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {__import__('os').cpu_count()} CPUs\n")
    for dataset in args.datasets.split(","):
        compare(dataset, args.reward, args.requests, args.clients, args.repeat, params)


if __name__ == "__main__":
    main()
