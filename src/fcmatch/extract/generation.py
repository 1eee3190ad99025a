"""Generation for templated prompts: greedy through fcmatch's own batched loop, beam search and sampling
through ``generate``.

Greedy decoding (the default) runs :func:`fcmatch.extract.greedy.greedy_stream`: the prompts' shared prefix
is prefilled once, a row leaves the batch when it finishes and a waiting prompt takes its place; each prompt
gets the tokens it gets alone. Beam search and sampling run ``model.generate`` on length-sorted, left-padded
batches (``generate`` derives position ids from the attention mask, so padding does not shift a prompt);
sampling is re-seeded per batch so that a batch's samples do not depend on earlier batches, inside
``torch.random.fork_rng`` so that the caller's random state is left as it was.

Prompts are tokenized without special tokens: the template already wrote them, and neither a BOS before
nor an EOS after the prompt is added (an EOS at the end would tell the model the answer is over).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from fcmatch.config import at_least
from fcmatch.extract.config import GenerationSettings
from fcmatch.extract.greedy import greedy_stream, supported


def chat_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The model's own chat template applied to ``messages``, ending where the assistant answers."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length, longest first.

    Longest first makes the first batch the one with the peak memory, so an out-of-memory shows at once.
    """
    at_least("batch_size", batch_size, 1)
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
    if settings.strategy == "greedy" and supported(model):
        texts = dict(pair for chunk in generate_texts(model, tokenizer, prompts, settings, len(prompts)) for pair in chunk)
        return [texts[i] for i in range(len(prompts))]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        # the chat template already wrote the special tokens; adding a BOS again would shift the prompt
        enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    cuda = [torch.cuda.current_device() if device.index is None else device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
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
    share_prefix: bool = True,
) -> Iterator[list[tuple[int, str]]]:
    """Generate for many prompts: greedy with :func:`greedy_stream`; beam search, sampling (or greedy for a
    model it does not support) in length-sorted batches of ``model.generate``.

    Args:
        model, tokenizer: a causal LM in eval mode and its tokenizer (with a pad token).
        prompts: already templated prompt strings.
        settings: decoding settings.
        batch_size: rows decoded together.
        share_prefix: greedy only: prefill the prompts' common token prefix once (output is unchanged).

    Yields:
        Lists of (prompt index, generated text), ``batch_size`` long except the last; the caller restores
        input order.
    """
    # the chat template already wrote the special tokens; adding a BOS again would shift the prompt
    token_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    if settings.strategy != "greedy" or not supported(model):
        for batch in length_sorted_batches([len(ids) for ids in token_ids], batch_size):
            texts = generate_batch(model, tokenizer, [prompts[i] for i in batch], settings)
            yield list(zip(batch, texts, strict=True))
        return
    finished: list[tuple[int, str]] = []
    for index, ids in greedy_stream(model, token_ids, settings.max_new_tokens, tokenizer.eos_token_id, batch_size,
                                    share_prefix):
        finished.append((index, tokenizer.decode(ids, skip_special_tokens=True)))
        if len(finished) == batch_size:
            yield finished
            finished = []
    if finished:
        yield finished
