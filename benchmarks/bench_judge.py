"""LLM judges: throughput against a real local server, cached re-runs, and probe false-positive rates.

Everything runs on loopback against servers this script starts:

- ``transformers serve --continuous-batching`` with a tiny chat model built
  here (random weights, a word-level tokenizer trained here, a chat template;
  offline), the same server for both sides;
- the scripted OpenAI-compatible server of the tests, model ``echo`` (a judge
  that parrots the prompt back: the worst case for instructions smuggled in
  the judged text).

Throughput: rewardlab's ``judge_verify`` (default concurrency, cache off) vs the
one-request-at-a-time loop that verl's GenRM example and SkyRL's judge
environment use (a blocking POST per sample, the verdict regex-matched, 0 when
it is missing), the same prompts, alternated runs, medians.

    python benchmarks/bench_judge.py [--rows 64] [--repeat 2] [--probe-rows 4] [--sections ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import rewardlab
from rewardlab.audit import audit
from rewardlab.rewards.judge import BUILTIN_TEMPLATES, fence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _judge_fixtures import build_tiny_chat_model, scripted_server, transformers_server  # noqa: E402

GSM8K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gsm8k" / "test.jsonl"
MAX_TOKENS = 8
"""Judge reply length: the tiny model's replies are noise, so only the request rate matters."""

PROBE_CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("verify", "judge_verify", {}),
    ("helpfulness", "judge", {}),
    ("correctness", "judge", {"template": "correctness"}),
    ("pairwise", "judge_pairwise", {"against": "reference"}),
    ("rubric", "rubric", {"rubric": ["states a final numeric answer", "shows the calculation"]}),
    (
        "rubric_all",
        "rubric",
        {"rubric": ["states a final numeric answer", "shows the calculation"], "mode": "all_at_once"},
    ),
    ("principle", "principles", {"principles": ["answers the question asked", "contains no errors"]}),
]
KEY_PROBES = ("master_key", "grader_address", "empty", "verdict_injection")


def gsm8k_rows(n: int) -> list[dict[str, Any]]:
    rows = []
    with GSM8K.open() as handle:
        for line in handle:
            item = json.loads(line)
            answer = item["answer"].split("####")[-1].strip()
            rows.append({"prompt": item["question"], "reference": answer, "completion": f"The answer is {answer}."})
            if len(rows) == n:
                break
    return rows


def peer_loop(base_url: str, model: str, rows: list[dict[str, Any]]) -> tuple[float, list[float]]:
    """One blocking request per sample, as the GenRM example and the SkyRL judge environment do."""
    template = BUILTIN_TEMPLATES["verify"]
    values = []
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=300) as client:
        for row in rows:
            user = template.user.format(
                prompt=row["prompt"], reference=row["reference"], completion=fence("response", row["completion"])
            )
            body = {
                "model": model,
                "messages": [{"role": "system", "content": template.system}, {"role": "user", "content": user}],
                "temperature": 0.0,
                "max_tokens": MAX_TOKENS,
            }
            text = client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
            match = re.search(r"VERDICT:\s*(yes|no)", text, re.IGNORECASE)
            values.append(1.0 if match and match.group(1).lower() == "yes" else 0.0)
    return time.perf_counter() - started, values


def rewardlab_run(base_url: str, model: str, rows: list[dict[str, Any]], **params: Any) -> tuple[float, Any]:
    judge = rewardlab.load("judge_verify", base_url=base_url, model=model, max_tokens=MAX_TOKENS, **params)
    started = time.perf_counter()
    scores = judge.score(rows)
    elapsed = time.perf_counter() - started
    stats = judge.client.stats
    judge.close()
    return elapsed, (scores, stats)


def warm_up(base_url: str, model: str) -> None:
    """The first request to a continuous-batching server sets up its KV cache (tens of seconds on CPU)."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    httpx.post(f"{base_url}/chat/completions", json=body, timeout=900).raise_for_status()


def throughput(base_url: str, model: str, rows: list[dict[str, Any]], repeat: int) -> None:
    peer_loop(base_url, model, rows[:2])  # warm both paths outside the timing
    rewardlab_run(base_url, model, rows[:2], cache="off")
    ours, theirs = [], []
    for _ in range(repeat):
        theirs.append(peer_loop(base_url, model, rows)[0])
        ours.append(rewardlab_run(base_url, model, rows, cache="off")[0])
    t_ours, t_peer = statistics.median(ours), statistics.median(theirs)
    n = len(rows)
    print("\n### Throughput, `transformers serve --continuous-batching` (tiny model), judge_verify\n")
    print("| side | seconds | requests/s |")
    print("|---|---|---|")
    print(f"| rewardlab `judge_verify` (concurrency 16, cache off) | {t_ours:.1f} | {n / t_ours:.1f} |")
    print(f"| one request at a time (GenRM / SkyRL loop) | {t_peer:.1f} | {n / t_peer:.1f} |")
    print(f"| ratio | **{t_peer / t_ours:.1f}x** | |")
    print(
        f"\n{n} rows, medians of {repeat} alternated runs; single runs: rewardlab "
        f"{', '.join(f'{t:.1f}' for t in ours)} s, loop {', '.join(f'{t:.1f}' for t in theirs)} s."
    )


def throughput_scripted(rows: list[dict[str, Any]], repeat: int, latency: float) -> None:
    """The same comparison against the scripted server, every reply taking ``latency`` seconds, replies overlapping.

    This is what a batching inference server (vLLM, SGLang) looks like from the client when it is not
    saturated: the time of one request does not grow with the number in flight.
    """
    with scripted_server(latency=latency) as url:
        peer_loop(url, "oracle", rows[:2])
        rewardlab_run(url, "oracle", rows[:2], cache="off")
        ours, theirs = [], []
        agree = True
        for _ in range(repeat):
            t_peer, peer_values = peer_loop(url, "oracle", rows)
            t_ours, (scores, _) = rewardlab_run(url, "oracle", rows, cache="off")
            theirs.append(t_peer)
            ours.append(t_ours)
            agree = agree and [s.value for s in scores] == peer_values
    t_ours, t_peer = statistics.median(ours), statistics.median(theirs)
    n = len(rows)
    print(f"\n### Throughput, scripted server ({latency * 1000:.0f} ms per reply, replies overlap), judge_verify\n")
    print("| side | seconds | requests/s |")
    print("|---|---|---|")
    print(f"| rewardlab `judge_verify` (concurrency 16, cache off) | {t_ours:.2f} | {n / t_ours:.1f} |")
    print(f"| one request at a time (GenRM / SkyRL loop) | {t_peer:.2f} | {n / t_peer:.1f} |")
    print(f"| ratio | **{t_peer / t_ours:.1f}x** | |")
    print(f"\n{n} rows, medians of {repeat} alternated runs; verdicts identical on both sides: {agree}.")


def cached_rerun(base_url: str, model: str, rows: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "judge.sqlite")
        first, (_, stats_first) = rewardlab_run(base_url, model, rows, cache="readwrite", cache_path=cache)
        again, (scores, stats_again) = rewardlab_run(base_url, model, rows, cache="read", cache_path=cache)
    assert stats_again.requests == 0, stats_again
    print("\n### Cached re-run (same rows, persistent SQLite cache)\n")
    print("| run | seconds | requests to the server |")
    print("|---|---|---|")
    print(f"| first (cache=readwrite) | {first:.2f} | {stats_first.requests} |")
    print(f"| re-run (cache=read, new judge object) | {again:.3f} | {stats_again.requests} |")
    print(f"| ratio | **{first / again:.0f}x** | |")


def probes(base_url: str, model: str, rows: list[dict[str, Any]], label: str) -> None:
    print(f"\n### Probe full-credit rates, {label}\n")
    print(
        "| template | reward | probe samples | full credit: master_key / grader_address / empty / verdict_injection | "
        "full credit, all probes | not ok (error/timeout) |"
    )
    print("|---|---|---|---|---|---|")
    audit_rows = [{"prompt": r["prompt"], "reference": r["reference"]} for r in rows]
    for template, name, params in PROBE_CONFIGS:
        judge = rewardlab.load(name, base_url=base_url, model=model, max_tokens=MAX_TOKENS, cache="off", **params)
        report = audit(judge, audit_rows, progress=False)
        judge.close()
        items = {p["name"]: p for p in report.probes if p["n"]}
        total = sum(p["n"] for p in items.values())
        full = sum(p["full_credit"] for p in items.values())
        not_ok = sum(p["n"] - p["n_ok"] for p in items.values())
        key = " / ".join(f"{items[k]['full_credit']}/{items[k]['n']}" for k in KEY_PROBES if k in items)
        print(f"| {template} | `{name}` | {total} | {key} | {full / total:.1%} | {not_ok / total:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--probe-rows", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.5, help="scripted server's time per reply")
    parser.add_argument(
        "--sections",
        default="throughput,cache,probes,scripted",
        help="comma-separated: throughput, cache, probes (transformers serve), scripted (scripted server)",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    rows = gsm8k_rows(max(args.rows, args.probe_rows))
    print(
        f"machine: {os.cpu_count()} cores, {platform.system()}, Python {platform.python_version()}, "
        f"rewardlab {rewardlab.__version__}, load average {os.getloadavg()[0]:.1f}"
    )
    if sections & {"throughput", "cache", "probes"}:
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = Path(tmp) / "model"
            build_tiny_chat_model(model_dir)
            with transformers_server(model_dir, continuous_batching=True) as url:
                model = str(model_dir)
                warm_up(url, model)
                if "throughput" in sections:
                    throughput(url, model, rows[: args.rows], args.repeat)
                if "cache" in sections:
                    cached_rerun(url, model, rows[: args.rows])
                if "probes" in sections:
                    probes(url, model, rows[: args.probe_rows], "tiny random model on `transformers serve`")
    if "scripted" in sections:
        throughput_scripted(rows[: args.rows], args.repeat, args.latency)
    if "probes" in sections:
        with scripted_server() as url:
            probes(url, "echo", rows[: args.probe_rows], "parroting judge (scripted server, model `echo`)")


if __name__ == "__main__":
    main()
