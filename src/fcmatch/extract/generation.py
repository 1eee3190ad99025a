"""Batched greedy/sampled generation for chat prompts: length-sorted batches, left padding, KV cache.

Left padding keeps every prompt's last token at the right edge, so one ``generate`` call continues all
rows at once; ``generate`` derives position ids from the attention mask, so a padded row decodes the
same tokens as the same prompt alone (greedy). Sorting by length keeps padding (wasted compute) small.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class GenerationSettings:
    """How to decode; greedy unless ``temperature`` > 0."""

    max_new_tokens: int = 128
    """Token limit per answer; gold answers on the reference data are at most ~100 tokens."""
    temperature: float = 0.0
    """0 = greedy decoding; > 0 samples with this temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass (only when sampling)."""
    seed: int = 0
    """Seed set before each batch when sampling, so a batch's output does not depend on earlier batches."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"--temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.top_p < 1 and self.temperature == 0:
            raise ValueError("--top-p only applies when sampling; set --temperature > 0 too")

    def generate_kwargs(self) -> dict[str, Any]:
        if self.temperature == 0:
            return {"do_sample": False, "top_p": None, "top_k": None, "temperature": None}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": None}


def chat_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The model's own chat template applied to ``messages``, ending where the assistant answers."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length, longest first.

    Longest first makes the first batch the one with the peak memory, so an out-of-memory shows at once.
    """
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


@torch.inference_mode()
def generate_batch(model: Any, tokenizer: Any, prompts: Sequence[str], settings: GenerationSettings) -> list[str]:
    """Continue each prompt; return the decoded new text per prompt (special tokens removed).

    Args:
        model: a causal LM (plain or peft) in eval mode.
        tokenizer: its tokenizer, with a pad token.
        prompts: already templated prompt strings.
        settings: decoding settings.

    Returns:
        One string per prompt, in the order given.
    """
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        # the chat template already wrote the special tokens; adding a BOS again would shift the prompt
        enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    if settings.temperature > 0:
        torch.manual_seed(settings.seed)
    out = model.generate(
        **enc,
        max_new_tokens=settings.max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        use_cache=True,
        **settings.generate_kwargs(),
    )
    new = out[:, enc["input_ids"].shape[1] :]
    return tokenizer.batch_decode(new, skip_special_tokens=True)


def generate_texts(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    settings: GenerationSettings,
    batch_size: int = 16,
) -> Iterator[list[tuple[int, str]]]:
    """Generate for many prompts in length-sorted batches.

    Yields:
        Per finished batch, a list of (prompt index, generated text); the caller restores input order.
    """
    lengths = [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]
    for batch in length_sorted_batches(lengths, batch_size):
        texts = generate_batch(model, tokenizer, [prompts[i] for i in batch], settings)
        yield list(zip(batch, texts, strict=True))
