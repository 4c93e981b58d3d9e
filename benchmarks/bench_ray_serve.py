"""`rewardlab serve --ray` (Ray Serve) against `rewardlab serve` (uvicorn), same reward, same run.

Both servers run as `rewardlab serve` subprocesses with the same reward and batching options
(`--max-batch 64 --max-wait-ms 5`); the Ray one starts its own local Ray and serves with
`--replicas N`. 64 concurrent aiohttp clients send single-sample OpenRLHF-shaped requests
(GSM8K model solutions), the same requests to each server, alternating which goes first.
Reported: requests/s, p50 and p99 latency, the ratio, and that both servers returned the same
rewards (asserted).

    python benchmarks/bench_ray_serve.py [--requests 1500] [--clients 64] [--repeat 2] [--replicas 1]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import signal
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import _free_port, _pct, _wait_ready, drive, load_requests  # noqa: E402


def start(reward: str, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rewardlab", "serve", reward, "--port", str(port), "--max-batch", "64", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_ready(port, proc, "/ready")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--reward", default="math")
    args = parser.parse_args()
    bodies = load_requests("gsm8k", args.requests)
    local, on_ray = "rewardlab serve (uvicorn)", f"rewardlab serve --ray ({args.replicas} replica(s))"
    ports = {local: _free_port(), on_ray: _free_port()}
    procs = {local: start(args.reward, ports[local], [])}
    try:
        procs[on_ray] = start(args.reward, ports[on_ray], ["--ray", "--replicas", str(args.replicas)])
        for port in ports.values():  # warm both (worker pools, imports, Serve's routing)
            asyncio.run(drive(f"http://127.0.0.1:{port}/get_reward", bodies[:200], args.clients))
        results: dict[str, list[tuple[float, list[float]]]] = {name: [] for name in ports}
        values: dict[str, list[float]] = {}
        order = list(ports)
        for r in range(args.repeat):
            for name in order if r % 2 == 0 else reversed(order):
                url = f"http://127.0.0.1:{ports[name]}/get_reward"
                elapsed, latencies, rewards = asyncio.run(drive(url, bodies, args.clients))
                results[name].append((elapsed, latencies))
                values[name] = rewards
        assert values[local] == values[on_ray], "the two servers disagree"
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGINT)
        for proc in procs.values():
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"machine: {platform.machine()}, {platform.python_version()}, {_cpus()} CPUs")
    print(
        f"### `{args.reward}`, GSM8K solutions, {args.requests} single-sample requests, "
        f"{args.clients} concurrent clients"
    )
    print("| server | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    rates = {}
    for name, runs in results.items():
        elapsed = statistics.median(e for e, _ in runs)
        latencies = [lat for _, lats in runs for lat in lats]
        rates[name] = args.requests / elapsed
        p50, p99 = 1000 * _pct(latencies, 0.5), 1000 * _pct(latencies, 0.99)
        print(f"| {name} | {rates[name]:.0f} | {p50:.1f} | {p99:.1f} |")
    print(
        f"\nRay Serve / uvicorn throughput: {rates[on_ray] / rates[local]:.2f}x "
        f"(medians of {args.repeat} alternated runs; same rewards, asserted)"
    )


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
