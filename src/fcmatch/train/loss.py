"""Completion-only causal-LM loss without full-vocabulary logits for positions that carry no loss.

``model(...).logits`` would hold (tokens x vocabulary) floats: for SmolLM2 (49,152 words) a 1,000-token
row is 197 MB of logits plus as much again for their gradient, and the LM head matmul on prompt tokens
is ~20% of the forward FLOPs wasted. Instead the decoder body gives hidden states, the loss positions
are gathered, and the head + cross-entropy run on those only, chunk by chunk.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from fcmatch.train.data import IGNORE, Batch


def body_and_head(model: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The decoder body (hidden states out) and the LM head of a causal LM, peft-wrapped or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


def _chunk_loss(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # float32 logits: a bf16 softmax over 49k words loses the small probabilities the loss is about
    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")


def head_loss_sum(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
    """Sum of cross-entropies of ``head(hidden)`` against ``targets``, ``chunk`` rows at a time.

    With more than one chunk each chunk is checkpointed, so backward recomputes its logits instead of
    keeping every chunk's (chunk x vocabulary) logits alive until then.

    Args:
        head: the LM head (hidden -> vocabulary logits).
        hidden: (n, hidden) states at the loss positions.
        targets: (n,) next-token ids.
        chunk: rows per chunk.
    """
    if hidden.shape[0] <= chunk:
        return _chunk_loss(head, hidden, targets)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk):
        part = slice(start, start + chunk)
        total = total + checkpoint(_chunk_loss, head, hidden[part], targets[part], use_reentrant=False)
    return total


def batch_loss_sum(model: Any, batch: Batch, chunk: int = 1024) -> torch.Tensor:
    """Summed cross-entropy over the completion positions of a micro-batch.

    Divide by the number of loss tokens of the whole optimizer step (all micro-batches and processes)
    to get the token-weighted mean that single-example training would give.
    """
    body, head = body_and_head(model)
    # use_cache=False is load-bearing: transformers turns restarting position_ids into a block-diagonal
    # mask only when there is no attention mask and no KV cache (masking_utils.find_packed_sequence_indices)
    device = next(head.parameters()).device
    out = body(
        input_ids=batch.input_ids.to(device),
        position_ids=batch.position_ids.to(device),
        attention_mask=None if batch.attention_mask is None else batch.attention_mask.to(device),
        use_cache=False,
    )
    hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    targets = batch.targets.to(device)
    where = targets != IGNORE
    return head_loss_sum(head, hidden[where], targets[where], chunk)


def reference_loss(model: Any, batch: Batch) -> torch.Tensor:
    """Mean loss through the model's own forward (full logits), for tests and sanity checks."""
    logits = model(
        input_ids=batch.input_ids,
        position_ids=batch.position_ids,
        attention_mask=batch.attention_mask,
        use_cache=False,
    ).logits
    return F.cross_entropy(logits.float().flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE)
