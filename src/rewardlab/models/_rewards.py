"""The registered model rewards. Importing this module imports neither torch nor transformers."""

from __future__ import annotations

from rewardlab._registry import register
from rewardlab.models._causal import DPOImplicit, Likelihood, ProcessRM, likelihood_range, prm_range
from rewardlab.models._embedding_rm import EMBEDDING_RM_DESCRIPTION, EmbeddingRM
from rewardlab.models._resident import UNBOUNDED, ModelReward
from rewardlab.models._rm import RM_DESCRIPTION, ClassifierRM, rm_range

RM_DOC = """Score from a sequence-classification reward model (``AutoModelForSequenceClassification``).

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

rm = register(ModelReward.define("rm", ClassifierRM, description=RM_DESCRIPTION, value_range=rm_range, doc=RM_DOC))

DPO_IMPLICIT_DOC = """DPO implicit reward ``beta * (log pi(y|x) - log pi_ref(y|x))``.

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

dpo_implicit = register(
    ModelReward.define(
        "dpo_implicit",
        DPOImplicit,
        description="DPO implicit reward: beta * (log pi(y|x) - log pi_ref(y|x)) from two causal LMs",
        value_range=lambda params: UNBOUNDED, doc=DPO_IMPLICIT_DOC)
)

LIKELIHOOD_DOC = """Reference-answer likelihood (VeriFree / RLPR style), for answers no verifier can check.

The completion's final answer (its last ``\\boxed{...}``, else its last ``<answer>...</answer>``)
is removed; the model reads the prompt, the completion's reasoning and the answer's opening
(``\\boxed{`` or ``<answer>``), and the reward is how likely it finds the reference's tokens there.
A completion with no final answer abstains.

Parameters:
    model: a causal LM (local folder or hub id).
    reduce: ``mean_prob`` (default, RLPR: mean per-token probability, in [0, 1]), ``prob``
        (VeriFree: the sequence probability), ``mean_log_prob`` or ``log_prob``.
"""

likelihood = register(
    ModelReward.define(
        "likelihood",
        Likelihood,
        description="Probability a causal LM gives the reference answer after the completion's own reasoning",
        value_range=likelihood_range, doc=LIKELIHOOD_DOC)
)

PRM_DOC = """Process reward: a score per reasoning step, aggregated.

The completion is split into steps at ``step_separator`` (default a blank line).

- ``mode=classifier`` (default): a causal-LM PRM in the Math-Shepherd style. ``step_tag``
  follows each step; the step's score is the probability of ``positive_token`` at the tag,
  normalised against ``negative_token`` (or over the whole vocabulary when that is ``None``).
- ``mode=implicit``: the PRIME implicit PRM: the per-token log-ratio
  ``beta * (log pi(y_t) - log pi_ref(y_t))`` of ``model`` against ``reference``, summed per step.

``aggregate``: ``min`` (default; PURE's min-form credit), ``last``, ``mean``, ``product``
(classifier mode only). Components: ``steps`` and ``step_0``, ``step_1``, ... (the first 64).
"""

prm = register(
    ModelReward.define(
        "prm",
        ProcessRM,
        description="Process reward: per-step scores from a PRM (or an implicit PRM), aggregated min/last/mean/product",
        value_range=prm_range, doc=PRM_DOC)
)

EMBEDDING_RM_DOC = """An ensemble of Bradley-Terry heads on frozen sentence embeddings (CPU-cheap).

Parameters:
    model: the folder written by ``rewardlab train-rm PAIRS -o DIR``.
    mode: ``mean`` (default: the heads' mean score) or ``conservative`` (mean - k * std, which
        penalises samples the heads disagree on, i.e. far from the training data).
    k: the std multiplier of ``conservative``.
    encoder: override the sentence encoder folder recorded at training time.

Components: ``mean``, ``std``, ``head_0``... (up to 16), and ``response_tokens_cut`` when the
response is longer than the encoder reads (256 tokens for all-MiniLM-L6-v2; the reason says so).
"""

embedding_rm = register(
    ModelReward.define(
        "embedding_rm", EmbeddingRM, description=EMBEDDING_RM_DESCRIPTION, value_range=lambda params: UNBOUNDED, doc=EMBEDDING_RM_DOC)
)

__all__ = ["dpo_implicit", "embedding_rm", "likelihood", "prm", "rm"]
