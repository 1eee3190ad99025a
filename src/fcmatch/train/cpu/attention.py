"""Attention on the CPU fast path: the rotary embedding applied in place inside Llama's attention layer, and causal
attention within packed examples as one C kernel call each way.

``fcmatch.train.attention`` (the plain path) runs packed rows through sdpa one example at a time. Here, with
fcmatch's C kernels (fp32, head size 64, no attention dropout), all examples of all rows run in one call each way
(``_PackedCausalAttention``): 8 query rows at a time against the example's keys, causal to the row, with the
probabilities recomputed in backward from each row's log-sum-exp. Forward and backward of 8 examples of 64-300
tokens took 7.6 ms against 17.1 ms for torch's CPU flash kernel called per example (2026-11-23, Xeon with AVX-512,
2 cores). It writes the output in the (tokens, heads, 64) layout the output projection reads, so nothing is copied
and the projection keeps the very tensor attention keeps for backward. Whatever the kernel does not take goes to
the plain packed attention. :func:`enable` switches a model from the plain packed attention to this one.

``_FusedRotaryAttention`` (installed by ``fcmatch.train.cpu.patch.speed_up_lora``) projects q, k and v as one
grouped LoRA call and applies the rotary embedding with ``llama.Rotary``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fcmatch import upstream
from fcmatch.train import attention as plain
from fcmatch.train.cpu import kernels
from fcmatch.train.cpu.fastlora import _project
from fcmatch.train.cpu.llama import Rotary

NAME = "fcmatch_packed_cpu"


class _PackedCausalAttention(torch.autograd.Function):
    """Causal attention within packed examples in one C call each way; (tokens, heads, 64) layout."""

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bounds: torch.Tensor,
                scale: float) -> torch.Tensor:
        out, lse = kernels.attention(q, k, v, bounds, scale)
        ctx.save_for_backward(q, k, v, out, lse, bounds)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q, k, v, out, lse, bounds = ctx.saved_tensors
        dq, dk, dv = kernels.attention_backward(grad.contiguous(), q, k, v, out, lse, bounds, ctx.scale)
        return dq, dk, dv, None, None


def _kernel_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, position_ids: torch.Tensor,
                      scaling: float | None) -> torch.Tensor | None:
    """(rows, T, heads, d) output of the C kernels for (rows, heads, T, d) inputs, or None where they do not apply."""
    rows, heads, length, dim = query.shape
    q, k, v = (x.transpose(1, 2) for x in (query, key, value))
    if dim != kernels.ATTENTION_HEAD_DIM or heads % key.shape[1] or not kernels.usable(q, k, v):
        return None
    starts = []
    for b in range(rows):
        segments = plain.segments(position_ids[b if position_ids.shape[0] > 1 else 0])
        starts.extend(b * length + s for s, _ in segments)
    bounds = torch.tensor([*starts, rows * length], dtype=torch.int64)
    out = _PackedCausalAttention.apply(q.reshape(rows * length, heads, dim), k.reshape(rows * length, -1, dim),
                                       v.reshape(rows * length, -1, dim), bounds,
                                       dim**-0.5 if scaling is None else scaling)
    return out.view(rows, length, heads, dim)


def packed_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Causal attention per packed example through the C kernels where they apply, else
    ``fcmatch.train.attention.packed_attention`` (same arguments: ``dropout``, ``scaling``, ``position_ids``, ...);
    the output layout is transformers', (B, T, heads, d)."""
    position_ids = kwargs.get("position_ids")
    if (attention_mask is None and position_ids is not None and query.shape[2] == key.shape[2]
            and not (module.training and kwargs.get("dropout", 0.0) > 0)):
        out = _kernel_attention(query, key, value, position_ids, kwargs.get("scaling"))
        if out is not None:
            return out, None
    return plain.packed_attention(module, query, key, value, attention_mask, **kwargs)


def enable(model: Any) -> bool:
    """Switch a model on the plain packed attention (``fcmatch.train.attention.enable``) to :func:`packed_attention`;
    returns False (unchanged) for other models."""
    from transformers import AttentionInterface

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "_attn_implementation", None) != plain.NAME:
        return False
    AttentionInterface.register(NAME, packed_attention)
    base.config._attn_implementation = NAME
    return True


class _FusedRotaryAttention:
    """Mixin over ``LlamaAttention`` whose forward applies the rotary embedding with ``llama.Rotary`` (CPU, fp32, no
    KV cache); otherwise, and for the rest of the layer, the same steps as transformers' forward."""

    def forward(self, hidden_states: torch.Tensor, position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
                attention_mask: torch.Tensor | None = None, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        # the KV cache comes as ``cache`` or ``past_key_values`` (transformers renamed it); the fallback passes it on,
        # by keyword, under the name transformers' own forward declares
        cache = upstream.pop_cache(kwargs)
        cos, sin = position_embeddings if position_embeddings is not None else (None, None)
        if (cache is not None or cos is None or not kernels.usable(hidden_states, cos, sin)
                or cos.shape[:-1] != hidden_states.shape[:-1]):
            return super().forward(hidden_states, position_embeddings=position_embeddings,
                                   attention_mask=attention_mask, **upstream.cache_kwargs(self, cache), **kwargs)
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
        from transformers.models.llama.modeling_llama import eager_attention_forward

        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        query, key, value = _project(hidden_states, (self.q_proj, self.k_proj, self.v_proj))
        query, key = (x if x._base is None and x.is_contiguous() else x.contiguous() for x in (query, key))
        if kernels.usable(query, key):
            query, key = Rotary.apply(query, cos, sin), Rotary.apply(key, cos, sin)
        else:  # a projection that is not fcmatch's (DoRA, a half layer) may return what the kernel cannot take
            from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

            heads = (*input_shape, -1, self.head_dim)
            query, key = (x.view(heads).transpose(1, 2) for x in (query, key))
            query, key = (x.transpose(1, 2).reshape(*input_shape, -1) for x in apply_rotary_pos_emb(query, key, cos, sin))
        query, key, value = query.view(hidden_shape), key.view(hidden_shape), value.view(hidden_shape).transpose(1, 2)
        attention = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, eager_attention_forward)
        output, weights = attention(self, query.transpose(1, 2), key.transpose(1, 2), value, attention_mask,
                                    dropout=0.0 if not self.training else self.attention_dropout,
                                    scaling=self.scaling, **kwargs)
        return self.o_proj(output.reshape(*input_shape, -1).contiguous()), weights


def _llama_attention(module: nn.Module) -> bool:
    """Whether ``module`` runs LlamaAttention's own forward (Llama-family models, SmolLM2 among them)."""
    from transformers.models.llama.modeling_llama import LlamaAttention

    return isinstance(module, LlamaAttention) and type(module).forward is LlamaAttention.forward


