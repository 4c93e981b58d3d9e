"""Starting OpenAI-compatible servers on loopback for judge tests and benchmarks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRIPTED = Path(__file__).with_name("_judge_server.py")
START_DEADLINE_S = 60.0
"""How long a server may take to answer its first health check."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server not ready at {url} after {deadline_s:.0f} s")


@contextmanager
def scripted_server(latency: float = 0.0) -> Iterator[str]:
    """The scripted server on a free loopback port; yields its base URL (``http://127.0.0.1:PORT/v1``)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SCRIPTED), str(port), str(latency)], stdout=subprocess.DEVNULL)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/stats", proc, START_DEADLINE_S)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)  # uvicorn waits for open requests (a scripted slow reply) before it exits
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def server_stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=5) as response:
        return dict(json.loads(response.read()))


def reset_stats(base_url: str) -> None:
    request = urllib.request.Request(base_url.removesuffix("/v1") + "/reset", method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass


def build_tiny_chat_model(path: Path) -> None:
    """A tiny random Llama chat model with a word-level tokenizer trained here and a chat template."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)  # the same random weights on every build: the same replies

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [
        "VERDICT : yes no SCORE WINNER A B tie",
        "0 1 2 3 4 5 6 7 8 9 10 the answer is",
        "user assistant system response reference question",
    ]
    specials = ["<unk>", "<pad>", "<eos>", "<|im_start|>", "<|im_end|>"]
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=specials))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    fast.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|>{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant{% endif %}"
    )
    fast.save_pretrained(path)
    config = LlamaConfig(
        vocab_size=fast.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id,
        bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(path)


@contextmanager
def transformers_server(model_dir: Path, *, continuous_batching: bool = False) -> Iterator[str]:
    """``transformers serve`` on a free loopback port with the model at ``model_dir``, offline.

    With ``continuous_batching`` concurrent requests are batched together (as vLLM and SGLang do).
    """
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    from importlib.metadata import entry_points

    # the `transformers` command, run with this interpreter (wherever the CLI module lives in this version)
    (command,) = entry_points(group="console_scripts", name="transformers")
    module, _, function = command.value.partition(":")
    code = f"import sys; from {module} import {function} as main; sys.argv[0] = 'transformers'; sys.exit(main())"
    args = [sys.executable, "-c", code, "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port)]
    log = open(model_dir.parent / "serve.log", "wb")  # noqa: SIM115 - closed below
    args += ["--device", "cpu"] + (["--continuous-batching"] if continuous_batching else [])
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            _wait_ready(f"http://127.0.0.1:{port}/health", proc, START_DEADLINE_S * 2)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; log: {(model_dir.parent / 'serve.log').read_text()[-2000:]}") from None
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        log.close()
        _stop(proc)
