"""Learned reward models: ``rm`` throughput against transformers' peers, and ``embedding_rm`` accuracy.

Part 1, throughput. One real model for every method: the packaged all-MiniLM-L6-v2 with a
sequence-classification head (one logit, seeded), saved to a temporary folder. Samples are
(prompt, response) pairs of mixed length from ../shared/data (HH harmless dialogues and
their final replies, LLMBar instructions and outputs), kept when the pair fits the model's
512 tokens so every method reads exactly the same tokens. Each method runs in its own
fresh process (peak RSS is that process's); time counts tokenisation and scoring, not loading.

- ``rewardlab rm``: ``rewardlab.load("rm", model=DIR).score(rows)`` (length-sorted,
  token-budget batches).
- ``pipeline bs=1`` / ``pipeline bs=32``: ``transformers.pipeline("text-classification")``
  with ``{"text", "text_pair"}`` inputs and ``function_to_apply="none"``.
- ``padded batches (TRL)``: the trainers' path: tokenise a batch of 32 in data order with
  ``padding=True``, one forward pass, ``logits[:, 0]``.

Part 2, accuracy. ``train_embedding_rm`` on HH harmless with a fixed split (seed 0, 20% held
out), scored beside "prefer the longer response" and a seeded coin flip; the HH-trained model
is then scored on all of LLMBar through the ``embedding_rm`` reward, and a model trained on a
fixed LLMBar split (seed 0, 30% held out) on its held-out part.

    python benchmarks/bench_models.py                      # both parts
    python benchmarks/bench_models.py --part speed --samples 400
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
METHODS = ["rewardlab", "pipeline_bs1", "pipeline_bs32", "padded_bs32"]
LABELS = {
    "rewardlab": "rewardlab `rm`",
    "pipeline_bs1": "pipeline bs=1",
    "pipeline_bs32": "pipeline bs=32",
    "padded_bs32": "padded batches of 32 (TRL)",
}


def hh_pairs() -> list[tuple[str, str, str]]:
    from rewardlab.models._pairs import split_transcripts

    with gzip.open(DATA / "hh-harmless" / "test.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for line in handle]
    out = []
    for row in rows:
        pair = split_transcripts(row["chosen"], row["rejected"])
        assert pair is not None
        out.append((pair.prompt, pair.chosen, pair.rejected))
    return out


def llmbar_pairs() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((DATA / "llmbar").rglob("dataset.json")):
        for row in json.loads(path.read_text()):
            good, bad = (row["output_1"], row["output_2"]) if row["label"] == 1 else (row["output_2"], row["output_1"])
            out.append((row["input"], good, bad))
    return out


def build_model(folder: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardlab.models import packaged_minilm_path

    torch.manual_seed(0)
    source = packaged_minilm_path()
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)


def make_samples(folder: Path, n: int, seed: int) -> list[dict[str, str]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    candidates = [(p, c) for p, c, r in hh_pairs() for c in (c, r)] + [(p, c) for p, c, r in llmbar_pairs()]
    random.Random(seed).shuffle(candidates)
    rows = []
    for prompt, completion in candidates:
        if len(tokenizer(prompt, completion)["input_ids"]) <= 512:
            rows.append({"prompt": prompt, "completion": completion})
        if len(rows) == n:
            break
    return rows


def run_one(method: str, folder: Path, rows_path: Path, out_path: Path) -> None:
    """Inside a fresh process: score the rows with one method, write scores and timing."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    if method == "rewardlab":
        import rewardlab

        reward = rewardlab.load("rm", model=str(folder), device="cpu")
        reward.score(rows[:1])  # the model loads on the first batch; loading is not timed for any method
        start = time.perf_counter()
        scores = [s.value for s in reward.score(rows)]
        elapsed = time.perf_counter() - start
    elif method.startswith("pipeline"):
        batch = int(method.removeprefix("pipeline_bs"))
        classify = pipeline("text-classification", model=str(folder), device="cpu", function_to_apply="none")
        inputs = [{"text": r["prompt"], "text_pair": r["completion"]} for r in rows]
        classify(inputs[:1])
        start = time.perf_counter()
        outputs = classify(inputs, batch_size=batch)
        elapsed = time.perf_counter() - start
        scores = [o["score"] if isinstance(o, dict) else o[0]["score"] for o in outputs]
    else:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        with torch.inference_mode():
            model(**tokenizer(rows[0]["prompt"], rows[0]["completion"], return_tensors="pt"))
        start = time.perf_counter()
        scores = []
        for i in range(0, len(rows), 32):
            part = rows[i : i + 32]
            batch_inputs = tokenizer(
                [r["prompt"] for r in part], [r["completion"] for r in part], padding=True, return_tensors="pt"
            )
            with torch.inference_mode():
                scores += model(**batch_inputs).logits[:, 0].tolist()
        elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out_path.write_text(json.dumps({"seconds": elapsed, "scores": scores, "peak_mib": peak}))


def speed(args: argparse.Namespace) -> None:
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "minilm-rm"
        build_model(folder)
        rows = make_samples(folder, args.samples, args.seed)
        rows_path = Path(tmp) / "rows.jsonl"
        rows_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        tokenizer = AutoTokenizer.from_pretrained(folder)
        lengths = [len(tokenizer(r["prompt"], r["completion"])["input_ids"]) for r in rows]
        tokens = sum(lengths)
        print(
            f"{len(rows)} samples, {tokens} tokens; length min/median/max "
            f"{min(lengths)}/{sorted(lengths)[len(lengths) // 2]}/{max(lengths)}; torch threads {args.threads}"
        )
        results: dict[str, list[dict]] = {m: [] for m in METHODS}
        for round_ in range(args.repeat):
            for method in METHODS:  # interleaved, so load on a shared machine hits every method alike
                out = Path(tmp) / f"{method}-{round_}.json"
                env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
                subprocess.run(
                    [sys.executable, __file__, "--one", method, str(folder), str(rows_path), str(out)],
                    check=True,
                    env=env,
                )
                results[method].append(json.loads(out.read_text()))
        ours = results["rewardlab"][0]["scores"]
        best = {m: min(r["seconds"] for r in results[m]) for m in METHODS}
        print()
        header = f"| method | best of {args.repeat} (s) | tokens/s | samples/s | peak RSS (MiB) |"
        print(header + " max abs diff vs rewardlab |")
        print("|---|---:|---:|---:|---:|---:|")
        for method in METHODS:
            diff = max(abs(a - b) for a, b in zip(ours, results[method][0]["scores"], strict=True))
            peak = max(r["peak_mib"] for r in results[method])
            print(
                f"| {LABELS[method]} | {best[method]:.2f} | {tokens / best[method]:,.0f} | "
                f"{len(rows) / best[method]:,.1f} | {peak:,.0f} | {diff:.2e} |"
            )
        peers = [m for m in METHODS if m != "rewardlab"]
        fastest = min(peers, key=lambda m: best[m])
        print(f"\nspeed-up over the fastest peer ({LABELS[fastest]}): {best[fastest] / best['rewardlab']:.2f}x")


def accuracy(args: argparse.Namespace) -> None:
    import rewardlab
    from rewardlab.models import Pair, train_embedding_rm

    def coin(n: int, seed: int) -> float:
        rng = random.Random(seed)
        return sum(rng.random() < 0.5 for _ in range(n)) / n

    def longer(pairs: list[Pair]) -> float:
        return sum(
            1.0 if len(p.chosen) > len(p.rejected) else 0.5 if len(p.chosen) == len(p.rejected) else 0.0 for p in pairs
        ) / len(pairs)

    hh = [Pair(*t) for t in hh_pairs()][: args.hh_limit]
    bar = [Pair(*t) for t in llmbar_pairs()]
    print("| train on | evaluate on | pairs | embedding RM | prefer longer | coin flip |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = train_embedding_rm(hh, Path(tmp) / "hh", ensemble=args.ensemble, holdout=0.2, seed=0, device="cpu")
        trained_s = time.perf_counter() - start
        print(
            f"| HH harmless, {report.train_pairs} pairs | HH harmless held-out | {report.heldout_pairs} | "
            f"{report.heldout_accuracy:.3f} | {report.heldout_length_baseline:.3f} | "
            f"{coin(report.heldout_pairs, 1):.3f} |"
        )
        if args.transfer:
            with rewardlab.load("embedding_rm", model=str(Path(tmp) / "hh"), device="cpu") as reward:
                rows = [{"prompt": p.prompt, "completion": side} for p in bar for side in (p.chosen, p.rejected)]
                scores = reward.score(rows)
            margins = [a.value - b.value for a, b in zip(scores[::2], scores[1::2], strict=True)]  # type: ignore[operator]
            transfer = sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margins) / len(margins)
            print(
                f"| HH harmless, {report.train_pairs} pairs | LLMBar, all | {len(bar)} | {transfer:.3f} | "
                f"{longer(bar):.3f} | {coin(len(bar), 2):.3f} |"
            )
        llm = train_embedding_rm(bar, Path(tmp) / "llmbar", ensemble=args.ensemble, holdout=0.3, seed=0, device="cpu")
        print(
            f"| LLMBar, {llm.train_pairs} pairs | LLMBar held-out | {llm.heldout_pairs} | "
            f"{llm.heldout_accuracy:.3f} | {llm.heldout_length_baseline:.3f} | {coin(llm.heldout_pairs, 3):.3f} |"
        )
        hh_used = f"the first {len(hh)} of the HH pairs" if args.hh_limit else "all HH pairs"
        print(
            f"\nensemble of {args.ensemble} heads; {hh_used}; training on HH (embedding + heads) took {trained_s:.0f}s"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        method, folder, rows, out = sys.argv[2:6]
        run_one(method, Path(folder), Path(rows), Path(out))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["speed", "accuracy", "both"], default="both")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ensemble", type=int, default=4)
    parser.add_argument("--hh-limit", type=int, default=None, help="use the first N HH pairs (file order)")
    parser.add_argument(
        "--transfer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also score all of LLMBar with the HH-trained model",
    )
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {sys.platform}")
    if args.part in ("speed", "both"):
        speed(args)
    if args.part in ("accuracy", "both"):
        accuracy(args)


if __name__ == "__main__":
    main()
