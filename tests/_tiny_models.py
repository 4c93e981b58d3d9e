"""Tiny transformers models built locally for the model-reward tests (nothing from a hub).

A byte-level BPE tokenizer is trained with ``tokenizers`` on a small corpus and
given a ChatML-style chat template; Llama-architecture models with two layers of
width 32 are saved with ``save_pretrained`` and loaded back by the rewards from
the folder, as a user's model would be.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "ки"]

GOOD = ["a kind and helpful answer", "here is a careful answer", "glad to help, the answer is 42", "sure, step by step"]
BAD = ["go away", "no idea, stop asking", "that is stupid", "whatever, figure it out"]
PROMPTS = [
    "what is six times seven?",
    "can you help me with my homework?",
    "tell me about cats",
    "how do I bake bread?",
]

CORPUS = [
    *GOOD,
    *BAD,
    *PROMPTS,
    "the cat sat on the mat and the dog ran in the park",
    "Step 1: add 2 and 3 to get 5. Step 2: multiply by 4 to get 20. The answer is \\boxed{20}.",
    "0 1 2 3 4 5 6 7 8 9 + - * / = ( ) { } \\boxed answer question user assistant system",
]


def build_tokenizer(folder: Path) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    raw.train_from_iterator(CORPUS * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(folder)
    return tokenizer


def _config(tokenizer: object, **extra: object) -> object:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[attr-defined]
        bos_token_id=tokenizer.bos_token_id,  # type: ignore[attr-defined]
        eos_token_id=tokenizer.eos_token_id,  # type: ignore[attr-defined]
        **extra,
    )


def build_classifier(folder: Path, *, num_labels: int = 1, seed: int = 0, train_steps: int = 0) -> Path:
    """A tiny sequence-classification RM; with ``train_steps`` it is trained to prefer GOOD over BAD."""
    import torch
    from transformers import LlamaForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder)
    torch.manual_seed(seed)
    labels = {0: "helpful", 1: "harmless", 2: "honest"}
    extra: dict[str, object] = {"num_labels": num_labels}
    if num_labels > 1:
        extra |= {
            "id2label": {i: labels[i] for i in range(num_labels)},
            "label2id": {labels[i]: i for i in range(num_labels)},
        }
    model = LlamaForSequenceClassification(_config(tokenizer, **extra))
    if train_steps:
        _train_bradley_terry(model, tokenizer, train_steps, seed)
    model.save_pretrained(folder)
    return folder


def _train_bradley_terry(model: object, tokenizer: object, steps: int, seed: int) -> None:
    import torch

    rng = random.Random(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)  # type: ignore[attr-defined]
    model.train()  # type: ignore[attr-defined]
    for _ in range(steps):
        prompts = [rng.choice(PROMPTS) for _ in range(8)]
        texts = []
        for prompt in prompts:
            for answer in (rng.choice(GOOD), rng.choice(BAD)):
                messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
                texts.append(tokenizer.apply_chat_template(messages, tokenize=False))  # type: ignore[attr-defined]
        batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")  # type: ignore[operator]
        rewards = model(**batch).logits[:, 0].view(-1, 2)  # type: ignore[operator]
        loss = -torch.nn.functional.logsigmoid(rewards[:, 0] - rewards[:, 1]).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()  # type: ignore[attr-defined]


def build_causal(folder: Path, *, seed: int = 0) -> Path:
    """A tiny causal LM (random weights, seeded) with the shared tokenizer."""
    import torch
    from transformers import LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder)
    torch.manual_seed(seed)
    LlamaForCausalLM(_config(tokenizer)).save_pretrained(folder)
    return folder
