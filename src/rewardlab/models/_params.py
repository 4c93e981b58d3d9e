"""The parameters every model reward shares, declared once (see `rewardlab._params`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from annotated_types import Ge

from rewardlab._params import ParamGroup

Truncate = Literal["prompt_left", "abstain", "error"]


@dataclass(frozen=True)
class ModelLoading(ParamGroup):
    """Where a reward's model runs and how much it reads at once.

    Attributes:
        device: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
        dtype: ``auto`` (bf16 on accelerators, fp32 on CPU), ``float32``, ``bfloat16``, ``float16``.
        batch_tokens: padded tokens per forward pass (default 8192 on CPU, 65536 on GPU).
    """

    device: str = "auto"
    dtype: str = "auto"
    batch_tokens: Optional[Annotated[int, Ge(1)]] = None  # noqa: UP045 - read at run time on Python 3.10


@dataclass(frozen=True)
class PromptFit(ParamGroup):
    """What happens when prompt and completion do not fit the model.

    Attributes:
        truncate: ``prompt_left`` cuts the prompt's oldest part and reports how much in the
            components and the reason; ``abstain`` and ``error`` refuse the sample. The
            completion is never cut: one that cannot fit alone abstains.
        max_length: tokens (default: the model's own limit).
    """

    truncate: Truncate = "prompt_left"
    max_length: Optional[Annotated[int, Ge(1)]] = None  # noqa: UP045


__all__ = ["ModelLoading", "PromptFit", "Truncate"]
