"""What every model reward shares: loading, device and dtype, token-budget batching, OOM splitting.

torch and transformers are imported here on first use, never by ``import rewardlab``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rewardlab.rewards._optional import require

T = TypeVar("T")

CPU_BATCH_TOKENS = 8192
"""Default padded tokens per forward pass on CPU: big enough for efficient matrix products,
small enough that one batch of long samples stays a few hundred MiB of activations."""
GPU_BATCH_TOKENS = 65536
"""Default on an accelerator, where larger batches pay off (an OOM still splits the batch)."""
MAX_BATCH_SAMPLES = 256
"""At most this many samples per forward pass, however short they are."""
SPLIT_BELOW = 0.85
"""A batch that already holds `FULL_ENOUGH_TOKENS` ends when the next sample is shorter than
this fraction of its longest: the next batch pads less, and stays big enough to be efficient."""
FULL_ENOUGH_TOKENS = 2048
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


VERY_LARGE = 10**30


def token_limit(tokenizer: Any, config: Any, fallback: int = 4096) -> int:
    """The smaller of the tokenizer's and the model config's stated maximum length."""
    limits = [
        int(v)
        for v in (getattr(tokenizer, "rewardlab_max_length", None), getattr(config, "max_position_embeddings", None))
        if isinstance(v, int) and 0 < v < 1_000_000
    ]
    return min(limits) if limits else fallback


class ModelLoadError(RuntimeError):
    """A model cannot be loaded: a missing folder or file, or an unusable configuration."""


def torch_module(reward: str) -> Any:
    """``torch``, or `MissingExtra` naming ``pip install 'rewardlab[models]'``."""
    return require("torch", extra="models", reward=reward)


def transformers_module(reward: str) -> Any:
    """``transformers``, or `MissingExtra` naming ``pip install 'rewardlab[models]'``."""
    require("torch", extra="models", reward=reward)
    return require("transformers", extra="models", reward=reward)


def resolve_device(device: str, reward: str) -> str:
    """``auto`` picks cuda, then mps, then cpu; anything else is checked and kept."""
    torch = torch_module(reward)
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} asked for, but torch sees no CUDA device")
    return device


def resolve_dtype(dtype: str, device: str, reward: str) -> Any:
    """``auto``: bfloat16 on an accelerator, float32 on CPU (where bf16 matmuls are slow and inexact)."""
    torch = torch_module(reward)
    if dtype == "auto":
        return torch.bfloat16 if device.startswith(("cuda", "mps")) else torch.float32
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    names |= {"float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise ModelLoadError(f"dtype {dtype!r}: expected auto, float32, bfloat16 or float16")
    return names[dtype]


def check_model_source(model: str, reward: str, *, weights: bool = True) -> str:
    """A local folder (checked for its config and weights) or a hub id (left to transformers' cache).

    A missing folder or file is named in the error; nothing is downloaded when the
    source is a folder (``local_files_only``), and a hub id respects ``HF_HUB_OFFLINE``.
    """
    if not model:
        raise ModelLoadError(f"reward {reward!r} needs a model: a local folder or a hub id")
    path = Path(model).expanduser()
    looks_local = path.is_absolute() or model.startswith((".", "~")) or path.exists() or model.count("/") > 1
    if not looks_local:
        return model
    if not path.is_dir():
        raise ModelLoadError(f"reward {reward!r}: model folder {str(path)!r} does not exist")
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"reward {reward!r}: {str(path / 'config.json')!r} is missing (not a transformers model folder)"
        )
    if weights and not any((path / name).is_file() for name in WEIGHT_FILES):
        raise ModelLoadError(
            f"reward {reward!r}: no weights in {str(path)!r} (expected one of {', '.join(WEIGHT_FILES)})"
        )
    return str(path)


def is_local(source: str) -> bool:
    return Path(source).is_dir()


@contextlib.contextmanager
def quiet_loading(reward: str) -> Iterator[None]:
    """Silence transformers' per-load progress bars and info logs (a job's own bar is the one shown)."""
    transformers = transformers_module(reward)
    logging = transformers.utils.logging
    was_enabled = logging.is_progress_bar_enabled()
    verbosity = logging.get_verbosity()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if was_enabled:
            logging.enable_progress_bar()


def load_tokenizer(source: str, reward: str) -> Any:
    transformers = transformers_module(reward)
    with quiet_loading(reward):
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=is_local(source))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"reward {reward!r}: cannot load the tokenizer of {source!r}: {exc}") from exc
    # Right padding with an attention mask keeps every real token at the position it has
    # alone (absolute position embeddings included), which is what makes scores batch-invariant.
    tokenizer.padding_side = "right"
    # Rewards cut inputs themselves (and say so); the tokenizer's own "longer than the maximum"
    # warning would only repeat that on stderr, so the limit moves to an attribute of ours.
    limit = getattr(tokenizer, "model_max_length", None)
    tokenizer.rewardlab_max_length = limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None
    tokenizer.model_max_length = VERY_LARGE
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ModelLoadError(f"reward {reward!r}: the tokenizer of {source!r} has no pad, eos or unk token")
        tokenizer.pad_token = fallback
    return tokenizer


def load_model(auto_class: str, source: str, reward: str, *, device: str, dtype: str, **kwargs: Any) -> Any:
    """Load ``transformers.<auto_class>`` in eval mode on the resolved device and dtype."""
    transformers = transformers_module(reward)
    torch_dtype = resolve_dtype(dtype, device, reward)
    loader = getattr(transformers, auto_class)
    with quiet_loading(reward):
        try:
            model = loader.from_pretrained(source, local_files_only=is_local(source), dtype=torch_dtype, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"reward {reward!r}: cannot load {source!r} as {auto_class}: {exc}") from exc
    model.to(device)
    model.eval()
    return model


def release(*objects: Any) -> None:
    """Drop references held by a closed reward and give accelerator memory back."""
    del objects
    gc.collect()
    torch = __import__("sys").modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def default_batch_tokens(device: str) -> int:
    env = os.environ.get("REWARDLAB_BATCH_TOKENS")
    if env:
        return max(1, int(env))
    return CPU_BATCH_TOKENS if device == "cpu" else GPU_BATCH_TOKENS


def length_batches(lengths: Sequence[int], max_tokens: int, max_samples: int = MAX_BATCH_SAMPLES) -> list[list[int]]:
    """Indices grouped so each batch's padded size (count x longest) stays within ``max_tokens``.

    Samples are sorted longest first, so a batch holds samples of similar length
    (little padding) and an out-of-memory error, if any, comes in the first batch.
    A batch also ends early when the next sample is much shorter than its longest
    (`SPLIT_BELOW`) once it is big enough to run efficiently. A sample longer than
    the budget gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        size = max(1, lengths[index])
        width = max(longest, size)
        over_budget = width * (len(current) + 1) > max_tokens or len(current) >= max_samples
        much_shorter = size < SPLIT_BELOW * longest and longest * len(current) >= FULL_ENOUGH_TOKENS
        if current and (over_budget or much_shorter):
            batches.append(current)
            current, longest = [], 0
            width = size
        current.append(index)
        longest = width
    if current:
        batches.append(current)
    return batches


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA/MPS/CPU allocation failure (torch raises several types for it)."""
    if isinstance(exc, MemoryError):
        return True
    torch = __import__("sys").modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class OutOfMemory(RuntimeError):
    """A single sample does not fit in memory even alone."""


def run_split(batch: list[int], forward: Callable[[list[int]], list[T]]) -> dict[int, T | BaseException]:
    """``forward`` on the batch; on out-of-memory, halves the batch and retries each half.

    A sample that runs out of memory alone gets `OutOfMemory` (its score is an
    ``error``); the other samples of its batch are still scored.
    """
    out: dict[int, T | BaseException] = {}
    _split_into(batch, forward, out)
    return out


def _split_into(batch: list[int], forward: Callable[[list[int]], list[T]], out: dict[int, T | BaseException]) -> None:
    try:
        results = forward(batch)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        _free_accelerator_memory()
        if len(batch) == 1:
            out[batch[0]] = OutOfMemory(f"out of memory scoring this sample alone ({type(exc).__name__})")
            return
        half = len(batch) // 2
        _split_into(batch[:half], forward, out)
        _split_into(batch[half:], forward, out)
        return
    out.update(zip(batch, results, strict=True))


def _free_accelerator_memory() -> None:
    torch = __import__("sys").modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def pad_batch(torch: Any, rows: Sequence[Sequence[int]], pad_id: int, device: str) -> tuple[Any, Any]:
    """Right-padded ``input_ids`` and ``attention_mask`` tensors."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


class ComputeLock:
    """One lock per loaded model: tokenizers and forward passes are shared by threads, one batch at a time.

    (On CPU, two concurrent forward passes only fight over the same cores; on a
    GPU, batching does the parallel work.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


__all__ = [
    "ModelLoadError",
    "OutOfMemory",
    "check_model_source",
    "length_batches",
    "load_model",
    "load_tokenizer",
    "resolve_device",
    "run_split",
]
