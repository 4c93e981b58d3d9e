"""`rewardlab serve` against a reference server written the way OpenRLHF's `serve_rm.py` works.

The reference is a FastAPI app whose `/get_reward` handler calls the reward on the request's
samples and answers: no cross-request batching, and the call blocks the event loop while it
runs (``serve_rm.py`` tokenizes and runs its model inside the handler, so under single-sample
clients every forward pass has batch size 1). Both servers run as separate uvicorn processes
with the same reward. The load generator is a separate process (aiohttp, 64 concurrent
clients, one sample per request, OpenRLHF's request shape) sending the same requests to
each, alternating which server goes first. Reported per run: requests/s, p50 and p99
latency, CPU seconds the server process and the client process used per request, and the
load average; and that both servers returned the same rewards (asserted).

For a model reward it first prints the batching ceiling on this machine: the same reward
scored in this process, one sample per call against the server's batch size per call
(wall and CPU time per sample). Cross-request batching can only win what that ratio allows.

A last line measures the HTTP hop: the same samples scored in-process vs through
`rewardlab.remote` (batched requests to the rewardlab server).

    python benchmarks/bench_serve.py [--requests 2000] [--clients 64] [--repeat 3]
    python benchmarks/bench_serve.py --build-rm /tmp/rm-minilm     # the packaged MiniLM + a 1-logit head
    python benchmarks/bench_serve.py --reward rm -p model=/tmp/rm-minilm --datasets gsm8k
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
            "--timeout",
            "900",  # a benchmark on a loaded machine must not turn slow answers into timeouts
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


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, all its threads together."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _switches(pid: int) -> int:
    """Context switches (voluntary and not) of all a process's threads so far: thread hand-offs show here."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:
            continue  # a thread that ended meanwhile
        total += sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line)
    return total


def drive_in_process(url: str, bodies_file: Path, clients: int) -> dict[str, Any]:
    """Run the load generator as its own process (so its CPU is not the server's) and read its report."""
    out = subprocess.run(
        [sys.executable, __file__, "--drive", url, "--bodies", str(bodies_file), "--clients", str(clients)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def ceiling(reward: str, params: dict[str, str], bodies: list[dict[str, Any]], batch: int, repeat: int) -> None:
    """Per-sample cost of the reward at batch size 1 vs ``batch``, in this process, interleaved."""
    import rewardlab

    samples = [
        {"completion": b["query"][0][len(b["prompts"][0]) :], "prompt": b["prompts"][0], "reference": b["labels"][0]}
        for b in bodies[:batch]
    ]
    local = rewardlab.load(reward, **params)
    local.score(samples[:2])
    single = max(8, batch // 4)
    costs: dict[str, list[tuple[float, float]]] = {"one sample per call": [], f"{batch} samples per call": []}
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for sample in samples[:single]:
            local.score([sample])
        costs["one sample per call"].append(
            ((time.perf_counter() - wall) / single, (time.process_time() - cpu) / single)
        )
        wall, cpu = time.perf_counter(), time.process_time()
        local.score(samples)
        costs[f"{batch} samples per call"].append(
            ((time.perf_counter() - wall) / len(samples), (time.process_time() - cpu) / len(samples))
        )
    local.close()
    print(f"### batching ceiling: `{reward}` in-process, {repeat} interleaved repeats, load average {_load()}")
    print("| per call | wall ms/sample | CPU ms/sample |")
    print("|---|---|---|")
    medians = {}
    for name, runs in costs.items():
        wall_ms = 1000 * statistics.median(w for w, _ in runs)
        cpu_ms = 1000 * statistics.median(c for _, c in runs)
        medians[name] = (wall_ms, cpu_ms)
        print(f"| {name} | {wall_ms:.1f} | {cpu_ms:.1f} |")
    (w1, c1), (wb, cb) = medians.values()
    print(
        f"\nceiling: batching makes a sample {w1 / wb:.2f}x cheaper in wall time, {c1 / cb:.2f}x in CPU time "
        "(the most cross-request batching can gain over batch-1 calls on this machine)\n"
    )


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def compare(
    dataset: str, reward: str, requests: int, clients: int, repeat: int, params: dict[str, str], model: bool
) -> None:
    import tempfile

    bodies = load_requests(dataset, requests)
    if model:
        ceiling(reward, params, bodies, 64, repeat)
    ours, ref = "rewardlab serve", "reference (per-request, serve_rm.py style)"
    ports = {ours: _free_port(), ref: _free_port()}
    procs = {
        ours: start_rewardlab(reward, ports[ours], params),
        ref: start_reference(reward, ports[ref], params),
    }
    with tempfile.TemporaryDirectory() as tmp:
        bodies_file, warm_file = Path(tmp) / "bodies.json", Path(tmp) / "warm.json"
        bodies_file.write_text(json.dumps(bodies))
        warm_file.write_text(json.dumps(bodies[: min(len(bodies), 2 * clients)]))
        try:
            results: dict[str, list[dict[str, Any]]] = {name: [] for name in ports}
            values: dict[str, list[float]] = {}
            for port in ports.values():  # warm both (model load, worker pools, imports)
                drive_in_process(f"http://127.0.0.1:{port}/get_reward", warm_file, clients)
            order = list(ports)
            for r in range(repeat):
                for name in order if r % 2 == 0 else reversed(order):
                    pid = procs[name].pid
                    load_before, cpu_before, switches_before = _load(), _process_cpu(pid), _switches(pid)
                    run = drive_in_process(f"http://127.0.0.1:{ports[name]}/get_reward", bodies_file, clients)
                    run["server_cpu"] = _process_cpu(pid) - cpu_before
                    run["switches"] = _switches(pid) - switches_before
                    run["load"] = load_before
                    results[name].append(run)
                    values[name] = run["rewards"]
            worst = max(abs(a - b) for a, b in zip(values[ours], values[ref], strict=True))
            assert worst <= 1e-4, f"the two servers disagree by {worst}"  # model scores: batch invariance to 1e-4
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(timeout=60)
    print(
        f"### {dataset}: `{reward}`, {requests} single-sample requests, {clients} concurrent clients, "
        f"{repeat} runs each"
    )
    print(
        "| server | run | load average (1/5/15 min) | requests/s | p50 ms | p99 ms "
        "| server process CPU ms/request | server context switches/request | client CPU ms/request |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rates = {}
    for name, runs in results.items():
        for i, run in enumerate(runs, 1):
            lat = run["latencies"]
            print(
                f"| {name} | {i} | {run['load']} | {requests / run['elapsed']:.1f} | {1000 * _pct(lat, 0.5):.0f} | "
                f"{1000 * _pct(lat, 0.99):.0f} | {1000 * run['server_cpu'] / requests:.2f} | "
                f"{run['switches'] / requests:.1f} | "
                f"{1000 * run['client_cpu'] / requests:.2f} |"
            )
        rates[name] = requests / statistics.median(run["elapsed"] for run in runs)
    ratio = rates[ours] / rates[ref]
    print(
        f"\nthroughput ratio: {ratio:.2f}x (rewardlab {rates[ours]:.1f} vs reference {rates[ref]:.1f} requests/s, "
        f"medians of {repeat} alternated runs; same rewards, asserted)\n"
    )
    if not model:
        hop(dataset, reward, bodies, params)


def hop(dataset: str, reward: str, bodies: list[dict[str, Any]], params: dict[str, str]) -> None:
    import rewardlab

    port = _free_port()
    server = start_rewardlab(reward, port, params)

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
    server.terminate()
    server.wait(timeout=60)
    t_local, t_remote = statistics.median(times["in-process"]), statistics.median(times["remote (HTTP)"])
    print(
        f"HTTP hop on {len(samples)} samples ({dataset}): in-process {t_local:.2f} s, remote {t_remote:.2f} s "
        f"({1000 * (t_remote - t_local) / len(samples):.3f} ms per sample added; medians of 3)\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reward", default="math")
    parser.add_argument("--datasets", default="gsm8k,math-verify")
    parser.add_argument("--param", "-p", action="append", default=[], help="reward parameter key=value")
    parser.add_argument("--build-rm", type=Path, help="write the packaged MiniLM with a 1-logit head here and exit")
    parser.add_argument("--reference-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        cpu = time.process_time()
        elapsed, latencies, rewards = asyncio.run(drive(args.drive, json.loads(args.bodies.read_text()), args.clients))
        report = {"elapsed": elapsed, "latencies": latencies, "rewards": rewards}
        print(json.dumps(report | {"client_cpu": time.process_time() - cpu}))
        return
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
    import torch

    print(
        f"machine: {platform.machine()} {_cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} intra-op threads); load average {_load()}\n"
    )
    model = args.reward not in ("math",) and "model" in params
    for dataset in args.datasets.split(","):
        compare(dataset, args.reward, args.requests, args.clients, args.repeat, params, model)


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
