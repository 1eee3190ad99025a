"""Fast paths for the parts of a Llama layer that LoRA leaves frozen: RMSNorm and the rotary embedding (C kernels).

``FusedRMSNorm`` runs Llama's RMSNorm in one C pass each way while its weight is frozen, and tags its output so that
a grouped LoRA projection reading it (``fastlora._GroupedLora``) can keep the norm's input, which the norm keeps
anyway, and recompute the output in backward (``normed_source``). ``Rotary`` applies the rotary embedding of queries
and keys in place, one pass each way. ``InPlaceResidual`` adds a decoder layer's residuals into its attention's and
MLP's outputs. ``patch.speed_up_lora`` installs them.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
from torch import nn

from fcmatch import upstream
from fcmatch.train.cpu import kernels


class _RMSNorm(torch.autograd.Function):
    """Llama's RMSNorm with a frozen weight in one C pass each way; keeps the input and one float per row."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        out, rstd = kernels.rms_norm(x, weight, eps)
        ctx.save_for_backward(x, weight, rstd)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, rstd = ctx.saved_tensors
        return kernels.rms_norm_backward(grad.contiguous(), x, weight, rstd), None, None


class FusedRMSNorm:
    """Mixin over a Llama-style RMSNorm that runs ``_RMSNorm`` while its weight is frozen (LoRA keeps it so)."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.weight.requires_grad or not kernels.usable(hidden_states, self.weight):
            return super().forward(hidden_states)
        out = _RMSNorm.apply(hidden_states, self.weight, self.variance_epsilon)
        if torch.is_grad_enabled():  # not under no_grad or inference_mode (whose tensors have no version counter)
            # lets a grouped projection of ``out`` recompute it in backward rather than keep it (normed_source)
            out._fcmatch_norm = (hidden_states, self.weight, self.variance_epsilon,
                                 (out._version, hidden_states._version, self.weight._version))
        return out


def runs_forward_of(module: nn.Module, reference: type) -> bool:
    """Whether ``module``'s class has the very forward code of ``reference``'s (same bytecode and names): how Mistral's,
    Qwen2's and other copies of a Llama module are recognised. Decorators (transformers' deprecation wrappers) are
    looked through: their wrapper code is the same for every function they wrap."""
    forward = getattr(type(module), "forward", None)
    code = getattr(inspect.unwrap(forward), "__code__", None) if forward is not None else None
    want = inspect.unwrap(reference.forward).__code__
    return code is not None and code.co_code == want.co_code and code.co_names == want.co_names


# The upstream forwards that the fast path's mixins (here, in fastlora and in attention) stand in for, as far as
# they have been checked: a release whose signature or steps differ gets no fast path for that module (with a
# warning) instead of a mixin that passes it arguments it no longer takes.
DECODER_PARAMETERS = {"self", "hidden_states", "attention_mask", "position_ids", "use_cache", "cache_position",
                      "position_embeddings", "**", *upstream.CACHE_NAMES}
DECODER_STEPS = {"input_layernorm", "self_attn", "post_attention_layernorm", "mlp"}
ATTENTION_PARAMETERS = ("self", "hidden_states", "position_embeddings", "attention_mask")


def known_decoder_layer(cls: type) -> bool:
    """Whether ``cls.forward`` takes the arguments and runs the steps ``InPlaceResidual.forward`` reproduces."""
    parameters = upstream.forward_parameters(cls)
    steps = set(inspect.unwrap(cls.forward).__code__.co_names) - {"super"}
    return set(parameters) <= DECODER_PARAMETERS and "**" in parameters and DECODER_STEPS <= steps \
        and not {name for name in steps if name.endswith(("norm", "_attn", "mlp"))} - DECODER_STEPS


def known_attention(cls: type) -> bool:
    """Whether ``cls.forward`` takes (hidden_states, position_embeddings, attention_mask, the KV cache, [cache_position],
    **kwargs): what ``attention._FusedRotaryAttention`` passes on when it falls back."""
    parameters = upstream.forward_parameters(cls)
    return (parameters[:4] == ATTENTION_PARAMETERS and len(parameters) > 4 and parameters[4] in upstream.CACHE_NAMES
            and parameters[-1] == "**" and set(parameters[5:-1]) <= {"cache_position"})


def llama_rms_norm(module: nn.Module) -> bool:
    """Whether ``module`` computes exactly LlamaRMSNorm's forward (Mistral's and Qwen2's are the same code)."""
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    return runs_forward_of(module, LlamaRMSNorm) and hasattr(module, "variance_epsilon")


@functools.cache
def mixed_class(prefix: str, mixin: type, cls: type) -> type:
    """``cls`` with ``mixin``'s methods first, named ``prefix + cls.__name__``: built once per class, shared by every
    module that ``speed_up_lora`` switches to it (FSDP's wrap policy matches layers by these names)."""
    return type(f"{prefix}{cls.__name__}", (mixin, cls), {"__module__": mixin.__module__})


def normed_source(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float] | None:
    """(input, weight, epsilon) of the fused RMSNorm whose untouched output ``x`` is, else None."""
    tag = getattr(x, "_fcmatch_norm", None)
    if tag is None or x.is_inference():
        return None
    source, weight, eps, versions = tag
    return (source, weight, eps) if (x._version, source._version, weight._version) == versions else None


class Rotary(torch.autograd.Function):
    """Llama's rotary embedding, in place, of (batch, tokens, heads * head_dim) queries or keys, one C pass.

    In place because the projection's output is not needed afterwards: a new tensor per call left a freed
    (tokens x hidden) block behind in every layer that glibc's aligned allocations did not reuse.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(cos, sin)
        ctx.mark_dirty(x)
        heads = x.view(*x.shape[:-1], -1, cos.shape[-1])
        kernels.rotary(heads, cos, sin, out=heads)
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        cos, sin = ctx.saved_tensors
        heads = grad.contiguous()
        heads = heads.view(*heads.shape[:-1], -1, cos.shape[-1])
        return kernels.rotary(heads, cos, sin, backward=True).view(grad.shape), None, None


class InPlaceResidual:
    """Mixin over ``LlamaDecoderLayer``: the same steps, with each residual added into the attention's or the MLP's
    output in place when that output is a fresh tensor of fcmatch's fused functions (nothing else holds it).

    ``residual + out`` wrote a third (tokens x hidden) tensor and freed ``out``: two blocks per layer that glibc's
    aligned allocations left unused, so the step's heap grew by more than it kept.
    """

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, use_cache: bool | None = False,
                position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None, **kwargs: Any) -> torch.Tensor:
        # the KV cache arrives as ``cache`` or ``past_key_values`` (transformers renamed it) and is passed on under the
        # name the attention declares; every argument by keyword, as positions differ between releases
        cache = upstream.pop_cache(kwargs)
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        hidden_states, _ = self.self_attn(hidden_states=hidden_states, attention_mask=attention_mask,
                                          position_ids=position_ids, use_cache=use_cache,
                                          position_embeddings=position_embeddings,
                                          **upstream.cache_kwargs(self.self_attn, cache), **kwargs)
        hidden_states = add_residual(hidden_states, residual)
        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        hidden_states = self.mlp(hidden_states)
        return add_residual(hidden_states, residual)


def add_residual(out: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """``residual + out``, into ``out`` when an autograd function whose backward does not read its output made it
    (one that sets ``output_unread``, as fcmatch's fused LoRA functions do)."""
    owner = getattr(out.grad_fn, "_forward_cls", None)
    if getattr(owner, "output_unread", False) and out.shape == residual.shape and out.dtype == residual.dtype:
        return out.add_(residual)
    return residual + out


def llama_decoder_layer(module: nn.Module) -> bool:
    """Whether ``module`` runs LlamaDecoderLayer's forward code (Mistral's and Qwen2's layers are the same code)."""
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    return runs_forward_of(module, LlamaDecoderLayer)
