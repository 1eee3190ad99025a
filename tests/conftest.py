"""Shared fixtures: a tiny random Llama model with a byte-level tokenizer and a ChatML template,
built here (no download), and the path of the reference data in ../shared (tests skip when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tiny_model(folder: Path, seed: int = 0, hidden: int = 64, heads: int = 4, kv_heads: int = 2) -> Path:
    """Write a 2-layer, hidden-64 Llama (64: NF4 needs in_features >= its 64-value block) with a byte-level BPE tokenizer (no merges) to ``folder``.

    ``hidden``, ``heads`` and ``kv_heads`` change its shape (hidden 128 with 2 heads: SmolLM2's head size, 64).

    Token ids: 0-2 the ChatML specials (eos = <|im_end|> = 2, as in SmolLM2), then the 256 byte symbols.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL)}
    for symbol in sorted(alphabet):
        vocab[symbol] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(SPECIAL)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_model_variant(source: Path, folder: Path, **overrides) -> Path:
    """The model in ``source`` saved to ``folder`` with its config changed by ``overrides`` (weights the change
    adds are initialised by transformers), with its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(source, **overrides).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the tiny random Llama; load it with ``fcmatch.models.load(str(tiny_model_dir))``."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip the test when the reference data is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def assert_same_training_step(reference, candidate, ids, *, seed: int | None = None, loss_tol: float = 1e-6,
                              grad_rtol: float = 1e-5, grad_atol: float = 1e-6) -> None:
    """One training forward + backward on ``ids`` (as labels too) gives both models the same loss and the same
    gradient for every trainable parameter; ``seed`` reseeds before each model (the same dropout draws)."""
    import torch

    losses = []
    for model in (reference, candidate):
        model.train()
        if seed is not None:
            torch.manual_seed(seed)
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss  # as training runs it: no KV cache
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[1], losses[0], rtol=loss_tol, atol=loss_tol)
    grads = {n: p.grad for n, p in reference.named_parameters() if p.requires_grad}
    assert grads
    for name, param in candidate.named_parameters():
        if param.requires_grad:
            torch.testing.assert_close(param.grad, grads[name], rtol=grad_rtol, atol=grad_atol, msg=name)
