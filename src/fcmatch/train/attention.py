"""Attention for packed rows that only computes within each example ("varlen" attention without flash-attn).

With packing, transformers' sdpa path builds a (rows x 1 x T x T) block-diagonal mask and computes every
query against every key of the row: for 8 examples of ~130 tokens that is 8x the useful attention FLOPs
plus the mask itself (about a fifth of a SmolLM2 training step on CPU). This implementation, registered
in transformers' ``AttentionInterface``, cuts each row at the positions where ``position_ids`` restart and
runs ``F.scaled_dot_product_attention`` per example. Padded rows (an attention mask present) go to the stock
sdpa function. On a CPU the fast path replaces it with one C kernel call for all examples
(``fcmatch.train.cpu.attention``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

NAME = "fcmatch_packed"


def segments(position_ids: torch.Tensor) -> list[tuple[int, int]]:
    """[start, end) of each packed example in a row, from where the positions stop counting up by one."""
    pos = position_ids.reshape(-1)
    cuts = torch.nonzero(pos[1:] - pos[:-1] != 1).flatten().add(1).tolist()
    bounds = [0, *cuts, pos.numel()]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    position_ids: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention per packed example; same signature and output layout (B, T, heads, d) as transformers'."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None or position_ids is None or query.shape[2] != key.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    gqa = query.shape[1] != key.shape[1]
    rows = []
    for b in range(query.shape[0]):
        one = slice(b, b + 1)
        q, k, v = (query, key, value) if query.shape[0] == 1 else (query[one], key[one], value[one])
        lengths = [e - s for s, e in segments(position_ids[b if position_ids.shape[0] > 1 else 0])]
        # split, not one slice per example: the backward of a slice writes a zero-filled gradient of the
        # whole row for each example (8 examples: 8 row-sized fills and adds per tensor per layer)
        parts = [
            F.scaled_dot_product_attention(q_, k_, v_, is_causal=True, scale=scaling,
                                           dropout_p=dropout if module.training else 0.0, enable_gqa=gqa)
            for q_, k_, v_ in zip(q.split(lengths, 2), k.split(lengths, 2), v.split(lengths, 2), strict=True)
        ]
        # CPU sdpa writes (B, T, heads, d) memory under its (B, heads, T, d) view: joining the transposed parts
        # along T gives the output layout in one copy (cat along dim 2, then contiguous(), made two)
        parts = [part.transpose(1, 2) for part in parts]
        rows.append(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
    out = torch.cat(rows, dim=0) if len(rows) > 1 else rows[0]
    return out.contiguous(), None


def enable(model: Any) -> bool:
    """Switch a model whose layers use sdpa to packed attention; returns False (unchanged) for other models."""
    from transformers import AttentionInterface

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(NAME, packed_attention)
    base.config._attn_implementation = NAME
    return True
