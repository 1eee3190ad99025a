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
    if settings.temperature == 0:
        new_ids = greedy_shrinking(model, enc["input_ids"], enc["attention_mask"], settings.max_new_tokens,
                                   tokenizer.eos_token_id)
        return tokenizer.batch_decode(new_ids, skip_special_tokens=True)
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


@torch.inference_mode()
def greedy_shrinking(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int, eos_token_id: int
) -> list[list[int]]:
    """Greedy decoding that drops each row from the batch (and its KV cache) as soon as it writes eos.

    ``model.generate`` keeps decoding every row until the longest answer ends, so one rambling answer makes
    the whole batch pay for its tokens; on a CPU, where a decode step costs about as much per row as a
    separate sequence would, that erases the gain of batching. Logits are computed for the last position
    only (the prompt's 49k-word logits are never materialised).

    Returns:
        Per row, the generated token ids (eos included when it was written).
    """
    batch = input_ids.shape[0]
    # left padding: positions count real tokens only, as model.generate derives them from the mask
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    next_tokens = out.logits[:, -1].argmax(-1)
    alive = torch.arange(batch, device=input_ids.device)
    results: list[list[int]] = [[] for _ in range(batch)]
    for step in range(max_new_tokens):
        for row, token in zip(alive.tolist(), next_tokens.tolist(), strict=True):
            results[row].append(token)
        keep = next_tokens != eos_token_id
        if step == max_new_tokens - 1 or not keep.any():
            break
        if not keep.all():
            kept = keep.nonzero().squeeze(-1)
            cache.batch_select_indices(kept)
            alive, next_tokens, attention_mask = alive[kept], next_tokens[kept], attention_mask[kept]
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=-1)
        position_ids = attention_mask.long().sum(-1, keepdim=True) - 1
        out = model(input_ids=next_tokens[:, None], attention_mask=attention_mask, position_ids=position_ids,
                    past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        next_tokens = out.logits[:, -1].argmax(-1)
    return results


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
