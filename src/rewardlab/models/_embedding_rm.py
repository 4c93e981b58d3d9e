"""``embedding_rm``: an ensemble of Bradley-Terry heads on frozen sentence embeddings, and its training.

Features of a (prompt, response) are ``[e(response), e(prompt) * e(response)]``
(the response's embedding and its element-wise agreement with the prompt's);
each head is a linear score ``w . f / scale``. Heads are trained with the
Bradley-Terry (logistic) loss on bootstrap resamples of the training pairs, so
their disagreement (the ensemble's std) is a measure of how far a sample lies
from the training data.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from rewardlab._types import Sample, Score
from rewardlab.models import _engine as engine
from rewardlab.models._encoder import DEFAULT_ENCODER, SentenceEncoder
from rewardlab.models._inputs import MAX_TEXT_CHARS, completion_messages, prompt_messages
from rewardlab.models._pairs import Pair
from rewardlab.models._params import ModelLoading

FORMAT = "rewardlab-embedding-rm/1"
META_FILE = "embedding_rm.json"
HEADS_FILE = "heads.npz"
MAX_HEADS = 64
"""More heads than this adds nothing to the std estimate and only costs memory."""
MAX_HEAD_COMPONENTS = 16


def prompt_text(messages: Sequence[Mapping[str, str]]) -> str:
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def features(encoder: SentenceEncoder, prompts: Sequence[str], responses: Sequence[str]) -> tuple[Any, list[int]]:
    """Feature rows and, per row, the tokens cut from the response (the prompt keeps its end)."""
    import numpy as np

    unique = sorted(set(prompts))
    where = {p: i for i, p in enumerate(unique)}
    prompt_vectors = encoder.encode(unique, keep="end") if unique else np.zeros((0, encoder.dimension), np.float32)
    encoded = [encoder.token_ids(r, "start") for r in responses]
    response_vectors = encoder.encode_ids([ids for ids, _ in encoded])
    gathered = prompt_vectors[[where[p] for p in prompts]] if prompts else prompt_vectors
    return np.concatenate([response_vectors, gathered * response_vectors], axis=1), [cut for _, cut in encoded]


@dataclass
class TrainReport:
    """What ``train-rm`` measured: held-out pairwise accuracy beside a length baseline."""

    pairs: int
    train_pairs: int
    heldout_pairs: int
    ensemble: int
    heldout_accuracy: float | None
    heldout_length_baseline: float | None
    train_accuracy: float
    encoder: str
    seed: int


def _fit_head(torch: Any, diffs: Any, l2: float, steps: int, seed: int) -> Any:
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(diffs.shape[1], generator=generator, dtype=torch.float64) * 1e-3).requires_grad_()
    optimiser = torch.optim.LBFGS([weight], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Any:
        optimiser.zero_grad()
        loss = torch.nn.functional.softplus(-(diffs @ weight)).mean() + l2 * (weight @ weight)
        loss.backward()
        return loss

    optimiser.step(closure)
    return weight.detach()


def train_embedding_rm(
    pairs: Sequence[Pair],
    output: str | Path,
    *,
    ensemble: int = 4,
    holdout: float = 0.1,
    seed: int = 0,
    encoder: str | None = None,
    l2: float = 1e-3,
    steps: int = 200,
    device: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
) -> TrainReport:
    """Train an embedding RM on preference pairs and write it to ``output`` (a folder).

    Args:
        pairs: The preference pairs.
        output: Folder for ``embedding_rm.json`` and ``heads.npz`` (created; files replaced atomically).
        ensemble: Number of heads (each on its own bootstrap resample).
        holdout: Fraction of pairs kept out of training for the reported accuracy (0 for none).
        seed: Seed of the split, the resamples and the head initialisations.
        encoder: A local sentence-transformers folder (default: the packaged all-MiniLM-L6-v2).
        l2: Weight decay of each head.
        steps: L-BFGS iterations per head.
        device: ``auto``, ``cpu``, ``cuda``...
        progress: Called as ``progress(stage, done, total)``.
    """
    import numpy as np

    if not 1 <= ensemble <= MAX_HEADS:
        raise ValueError(f"ensemble must be between 1 and {MAX_HEADS}, got {ensemble}")
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    if len(pairs) < 2:
        raise ValueError(f"training needs at least 2 pairs, got {len(pairs)}")
    torch = engine.torch_module("embedding_rm")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    held = round(len(pairs) * holdout) if holdout else 0
    heldout_idx, train_idx = sorted(order[:held]), sorted(order[held:])
    report = progress or (lambda stage, done, total: None)

    model = SentenceEncoder(encoder, device=device)
    try:
        chunk = 256

        def embed(stage: str, texts: Sequence[str], keep: Literal["start", "end"]) -> Any:
            blocks = []
            for start in range(0, len(texts), chunk):
                blocks.append(model.encode(texts[start : start + chunk], keep=keep))
                report(stage, min(start + chunk, len(texts)), len(texts))
            return np.concatenate(blocks, axis=0).astype(np.float64)

        unique = sorted({p.prompt for p in pairs})
        where = {p: i for i, p in enumerate(unique)}
        prompt_vectors = embed("embedding prompts", unique, "end")[[where[p.prompt] for p in pairs]]
        sides: dict[str, Any] = {}
        for name in ("chosen", "rejected"):
            vectors = embed(f"embedding {name}", [getattr(p, name) for p in pairs], "start")
            sides[name] = np.concatenate([vectors, prompt_vectors * vectors], axis=1)
    finally:
        model.close()

    chosen, rejected = sides["chosen"], sides["rejected"]
    scale = np.concatenate([chosen[train_idx], rejected[train_idx]]).std(axis=0) + 1e-6
    diffs = torch.from_numpy((chosen - rejected) / scale)
    rng = np.random.default_rng(seed)
    weights = []
    for head in range(ensemble):
        sample = rng.choice(train_idx, size=len(train_idx), replace=True) if ensemble > 1 else np.array(train_idx)
        weights.append(_fit_head(torch, diffs[sample], l2, steps, seed * 1000 + head).numpy())
        report("training heads", head + 1, ensemble)
    stacked = np.stack(weights)

    def accuracy(indices: Sequence[int]) -> float | None:
        if not indices:
            return None
        margin = (diffs[list(indices)].numpy() @ stacked.T).mean(axis=1)
        return float(((margin > 0) + 0.5 * (margin == 0)).mean())

    def longer(indices: Sequence[int]) -> float | None:
        if not indices:
            return None
        wins = [
            1.0
            if len(pairs[i].chosen) > len(pairs[i].rejected)
            else 0.5
            if len(pairs[i].chosen) == len(pairs[i].rejected)
            else 0.0
            for i in indices
        ]
        return sum(wins) / len(wins)

    result = TrainReport(
        pairs=len(pairs),
        train_pairs=len(train_idx),
        heldout_pairs=len(heldout_idx),
        ensemble=ensemble,
        heldout_accuracy=accuracy(heldout_idx),
        heldout_length_baseline=longer(heldout_idx),
        train_accuracy=accuracy(train_idx) or 0.0,
        encoder=encoder or DEFAULT_ENCODER,
        seed=seed,
    )
    _write(Path(output), stacked, scale, result, l2=l2)
    return result


def _write(folder: Path, weights: Any, scale: Any, report: TrainReport, *, l2: float) -> None:
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "features": "response+prompt*response", "l2": l2, **asdict(report)}
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".npz.tmp", delete=False) as handle:
        np.savez(handle, weights=weights.astype(np.float64), scale=scale.astype(np.float64))
    os.replace(handle.name, folder / HEADS_FILE)
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".json.tmp", delete=False, encoding="utf-8") as text:
        json.dump(meta, text, indent=2)
    os.replace(text.name, folder / META_FILE)


class EmbeddingRM:
    """The loaded encoder and heads behind ``embedding_rm``."""

    def __init__(
        self,
        *,
        model: str,
        mode: Literal["mean", "conservative"] = "mean",
        k: float = 1.0,
        encoder: str | None = None,
        loading: ModelLoading = ModelLoading(),
    ) -> None:
        import numpy as np

        if mode not in ("mean", "conservative"):
            raise ValueError(f"mode must be mean or conservative, got {mode!r}")
        folder = Path(model).expanduser()
        for name in (META_FILE, HEADS_FILE):
            if not (folder / name).is_file():
                raise engine.ModelLoadError(
                    f"embedding_rm: {str(folder / name)!r} is missing "
                    "(train one with `rewardlab train-rm PAIRS -o DIR`)"
                )
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise engine.ModelLoadError(f"embedding_rm: {str(folder / META_FILE)!r} is not a {FORMAT} file")
        with np.load(folder / HEADS_FILE) as data:
            self.weights = data["weights"] / data["scale"][None, :]
        self.mode, self.k = mode, k
        self.encoder = SentenceEncoder(encoder or meta.get("encoder"), **loading.kwargs())
        if self.weights.shape[1] != 2 * self.encoder.dimension:
            raise engine.ModelLoadError(
                f"embedding_rm: heads expect {self.weights.shape[1] // 2}-dimensional embeddings, the encoder gives "
                f"{self.encoder.dimension}"
            )

    def score(self, samples: list[Sample]) -> list[Score]:
        out: list[Score | None] = [None] * len(samples)
        prompts, responses, rows = [], [], []
        for i, sample in enumerate(samples):
            response = "\n\n".join(m["content"] for m in completion_messages(sample))
            prompt = prompt_text(prompt_messages(sample))
            if len(response) + len(prompt) > MAX_TEXT_CHARS:
                out[i] = Score.abstain(f"text longer than {MAX_TEXT_CHARS} characters is not embedded")
                continue
            prompts.append(prompt)
            responses.append(response)
            rows.append(i)
        if rows:
            feats, cuts = features(self.encoder, prompts, responses)
            per_head = feats.astype("float64") @ self.weights.T
            for row, values, cut in zip(rows, per_head, cuts, strict=True):
                mean = float(values.mean())
                std = float(values.std())
                value = mean - self.k * std if self.mode == "conservative" else mean
                components = {"mean": mean, "std": std}
                components |= {f"head_{h}": float(v) for h, v in enumerate(values[:MAX_HEAD_COMPONENTS])}
                reason = ""
                if cut:
                    components["response_tokens_cut"] = float(cut)
                    reason = f"response cut to the encoder's {self.encoder.max_tokens} tokens ({cut} tokens not read)"
                if not math.isfinite(value):
                    out[row] = Score.error("non-finite score")
                else:
                    out[row] = Score.ok(value, components=components, reason=reason)
        return [s if s is not None else Score.error("not scored") for s in out]

    def close(self) -> None:
        self.encoder.close()


__all__ = ["EmbeddingRM", "TrainReport", "features", "train_embedding_rm"]
