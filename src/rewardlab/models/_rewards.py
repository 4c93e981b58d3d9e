"""The registered model rewards. Importing this module imports neither torch nor transformers."""

from __future__ import annotations

from rewardlab._registry import register
from rewardlab.models._resident import ModelReward
from rewardlab.models._rm import RM_DESCRIPTION, ClassifierRM, rm_range

rm = register(ModelReward.define("rm", ClassifierRM, description=RM_DESCRIPTION, value_range=rm_range))
rm.__doc__ = """Score from a sequence-classification reward model (``AutoModelForSequenceClassification``).

Parameters:
    model: a local folder (nothing is downloaded) or a hub id (transformers' cache, ``HF_HUB_OFFLINE`` respected).
    head: which output to read for a multi-head model: an index or a label of ``config.id2label``.
    sigmoid: map the logit to (0, 1).
    truncate: what happens when prompt + completion exceed ``max_length``: ``prompt_left`` (default)
        cuts the prompt's oldest characters (a system message is kept) and reports
        ``prompt_chars_cut`` in components and the reason; ``abstain`` and ``error`` refuse
        the sample. The completion is never cut: a completion that cannot fit alone abstains.
    max_length: tokens (default: the smaller of the tokenizer's and the config's limit).
    markup: ``strip`` (default) removes end-of-turn markers at the end of the completion and
        deletes the scoring tokenizer's special tokens from all content; ``abstain``; ``keep``.
    template: ``auto`` (the model's chat template when it has one, else a text pair),
        ``chat`` or ``pair`` (prompt and completion as the tokenizer's two segments).
    device, dtype: ``auto`` picks cuda/mps/cpu and bf16 on accelerators, fp32 on CPU.
    batch_tokens: padded tokens per forward pass (default 8192 on CPU, 65536 on GPU).
"""

__all__ = ["rm"]
