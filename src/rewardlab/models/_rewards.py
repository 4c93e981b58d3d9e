"""The registered model rewards, as factories of the runtime seam.

Each is ``resident`` (one loaded model in the process that opened the reward, never
pickled to a worker) and a generator factory: it loads its model once on first use,
yields the batch scorer, and releases the model when the reward is closed. Importing
this module imports neither torch nor transformers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Literal

from rewardlab._params import with_params
from rewardlab._reward import reward
from rewardlab._types import Sample, Score
from rewardlab.models._causal import DPOImplicit, Likelihood, ProcessRM
from rewardlab.models._embedding_rm import EmbeddingRM
from rewardlab.models._params import ModelLoading, PromptFit
from rewardlab.models._rm import ClassifierRM

Batch = Callable[[list[Sample]], list[Score]]
UNBOUNDED = (-math.inf, math.inf)


def _serve(scorer: ClassifierRM | DPOImplicit | Likelihood | ProcessRM | EmbeddingRM) -> Iterator[Batch]:
    """Yield the loaded model's batch scorer; release the model when the reward is closed."""
    try:
        yield scorer.score
    finally:
        scorer.close()


@reward(name="rm", range=UNBOUNDED, batched=True, placement="resident", factory=True)
@with_params(truncation=PromptFit, loading=ModelLoading)
def rm(
    *,
    model: str,
    head: int | None = None,
    label: str | None = None,
    sigmoid: bool = False,
    truncation: PromptFit,
    markup: Literal["strip", "abstain", "keep"] = "strip",
    template: Literal["auto", "chat", "pair"] = "auto",
    loading: ModelLoading,
) -> Iterator[Batch]:
    """Score from a sequence-classification reward model (``AutoModelForSequenceClassification``).

    Parameters:
        model: a local folder (nothing is downloaded) or a hub id (transformers' cache, ``HF_HUB_OFFLINE`` respected).
        head, label: which output to read for a multi-head model: its index, or its name in ``config.id2label``.
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
    yield from _serve(
        ClassifierRM(
            model=model,
            head=head,
            label=label,
            sigmoid=sigmoid,
            truncation=truncation,
            markup=markup,
            template=template,
            loading=loading,
        )
    )


@reward(name="dpo_implicit", range=UNBOUNDED, batched=True, placement="resident", factory=True)
@with_params(truncation=PromptFit, loading=ModelLoading)
def dpo_implicit(
    *,
    policy: str,
    reference: str,
    beta: float = 0.1,
    reduce: Literal["sum", "mean"] = "sum",
    truncation: PromptFit,
    loading: ModelLoading,
) -> Iterator[Batch]:
    """DPO implicit reward ``beta * (log pi(y|x) - log pi_ref(y|x))``.

    Parameters:
        policy, reference: causal LMs (local folders or hub ids) sharing one vocabulary.
        beta: the DPO temperature (default 0.1).
        reduce: ``sum`` (default, the DPO objective's reward) or ``mean`` (per completion token, which
            removes the length term; then ``beta`` scales a per-token log-ratio).
        truncate, max_length: ``prompt_left`` cuts the prompt's oldest tokens (a BOS is kept) and
            reports ``prompt_tokens_cut``; ``abstain``/``error`` refuse; the completion is never cut.

    The prompt goes through the policy's chat template with the generation prompt; the completion
    text is tokenised on its own and appended (as preference trainers do), and only its tokens are
    summed. Components: ``logp_policy``, ``logp_reference``, ``tokens``.
    """
    yield from _serve(
        DPOImplicit(
            policy=policy, reference=reference, beta=beta, reduce=reduce, truncation=truncation, loading=loading
        )
    )


@reward(name="likelihood", range=(-math.inf, 1.0), batched=True, placement="resident", factory=True)
@with_params(truncation=PromptFit, loading=ModelLoading)
def likelihood(
    *,
    model: str,
    reduce: Literal["mean_prob", "prob", "mean_log_prob", "log_prob"] = "mean_prob",
    truncation: PromptFit,
    loading: ModelLoading,
) -> Iterator[Batch]:
    """Reference-answer likelihood (VeriFree / RLPR style), for answers no verifier can check.

    The completion's final answer (its last ``\\boxed{...}``, else its last ``<answer>...</answer>``)
    is removed; the model reads the prompt, the completion's reasoning and the answer's opening
    (``\\boxed{`` or ``<answer>``), and the reward is how likely it finds the reference's tokens there.
    A completion with no final answer abstains.

    Parameters:
        model: a causal LM (local folder or hub id).
        reduce: ``mean_prob`` (default, RLPR: mean per-token probability, in [0, 1]), ``prob``
            (VeriFree: the sequence probability), ``mean_log_prob`` or ``log_prob``.
    """
    yield from _serve(Likelihood(model=model, reduce=reduce, truncation=truncation, loading=loading))


@reward(name="prm", range=UNBOUNDED, batched=True, placement="resident", factory=True)
@with_params(truncation=PromptFit, loading=ModelLoading)
def prm(
    *,
    model: str,
    mode: Literal["classifier", "implicit"] = "classifier",
    reference: str | None = None,
    beta: float = 1.0,
    step_separator: str = "\n\n",
    step_tag: str = "ки",
    positive_token: str = "+",
    negative_token: str | None = "-",
    aggregate: Literal["min", "last", "mean", "product"] = "min",
    truncation: PromptFit,
    loading: ModelLoading,
) -> Iterator[Batch]:
    """Process reward: a score per reasoning step, aggregated.

    The completion is split into steps at ``step_separator`` (default a blank line).

    - ``mode=classifier`` (default): a causal-LM PRM in the Math-Shepherd style. ``step_tag``
      follows each step; the step's score is the probability of ``positive_token`` at the tag,
      normalised against ``negative_token`` (or over the whole vocabulary when that is ``None``).
    - ``mode=implicit``: the PRIME implicit PRM: the per-token log-ratio
      ``beta * (log pi(y_t) - log pi_ref(y_t))`` of ``model`` against ``reference``, summed per step.

    ``aggregate``: ``min`` (default; PURE's min-form credit), ``last``, ``mean``, ``product``
    (classifier mode only). Components: ``steps`` and ``step_0``, ``step_1``, ... (the first 64).
    """
    yield from _serve(
        ProcessRM(
            model=model,
            mode=mode,
            reference=reference,
            beta=beta,
            step_separator=step_separator,
            step_tag=step_tag,
            positive_token=positive_token,
            negative_token=negative_token,
            aggregate=aggregate,
            truncation=truncation,
            loading=loading,
        )
    )


@reward(name="embedding_rm", range=UNBOUNDED, batched=True, placement="resident", factory=True)
@with_params(loading=ModelLoading)
def embedding_rm(
    *,
    model: str,
    mode: Literal["mean", "conservative"] = "mean",
    k: float = 1.0,
    encoder: str | None = None,
    loading: ModelLoading,
) -> Iterator[Batch]:
    """An ensemble of Bradley-Terry heads on frozen sentence embeddings (CPU-cheap).

    Parameters:
        model: the folder written by ``rewardlab train-rm PAIRS -o DIR``.
        mode: ``mean`` (default: the heads' mean score) or ``conservative`` (mean - k * std, which
            penalises samples the heads disagree on, i.e. far from the training data).
        k: the std multiplier of ``conservative``.
        encoder: override the sentence encoder folder recorded at training time.

    Components: ``mean``, ``std``, ``head_0``... (up to 16), and ``response_tokens_cut`` when the
    response is longer than the encoder reads (256 tokens for all-MiniLM-L6-v2; the reason says so).
    """
    yield from _serve(EmbeddingRM(model=model, mode=mode, k=k, encoder=encoder, loading=loading))


__all__ = ["dpo_implicit", "embedding_rm", "likelihood", "prm", "rm"]
