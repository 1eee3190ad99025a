"""CPU fast paths for peft's LoRA layers: cheap dropout masks and a fused adapter update.

Dropout. peft applies ``nn.Dropout`` to the input of every adapter: on SmolLM2 with adapters on all linear layers
that is 210 masks over (tokens x 576..1536) per micro-batch. On a CPU ``torch.bernoulli_`` spends about
10 ns per element, and dropout plus its multiplies took a third of a LoRA training step (profiled).

``FastDropout`` keeps the semantics (each element of the input is zeroed independently with probability
``p``, survivors are scaled by 1/(1-p), a fresh mask for every adapter and call) but draws the mask from
the 16-bit slices of full-range 64-bit ``torch.randint`` numbers: four mask elements per random draw, from
torch's seeded CPU generator, so runs stay reproducible and resumable. ``p`` is rounded to a multiple of
1/65536 (0.05 becomes 0.0500031). The backward pass reuses the 1-byte mask. Other devices use
``F.dropout``, which is fast there.

Fused update. peft computes ``result + lora_B(lora_A(dropout(x))) * scaling``: two extra passes over the
(tokens x out) output per adapter, forward and backward. ``FusedLoraLinear`` folds the scaling and the sum
into one ``torch.addmm`` (the GEMM's alpha and its accumulate), with the same value and gradients; layers
it does not cover (DoRA and other variants, merged or disabled adapters, several active adapters, a
LoRA bias, extra arguments, an input whose dtype differs from the adapter's, as with a bf16 base and peft's
fp32 adapters on a GPU) take peft's own forward.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

_LEVELS = 1 << 16


def drop_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """Boolean mask of ``shape``, True (drop) with probability round(p * 65536) / 65536, independently."""
    n = shape.numel()
    draws = torch.randint(-(1 << 63), (1 << 63) - 1, ((n + 3) // 4,), dtype=torch.int64)
    return draws.view(torch.int16)[:n].view(shape) < round(p * _LEVELS) - _LEVELS // 2


class _MaskedScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float) -> torch.Tensor:
        drop = drop_mask(x.shape, p)
        scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(drop)
        ctx.scale = scale
        return torch.where(drop, 0.0, x).mul_(scale)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (drop,) = ctx.saved_tensors
        return torch.where(drop, 0.0, grad).mul_(ctx.scale), None


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with CPU masks drawn four elements per random number (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        return _MaskedScale.apply(x, self.p)


class _FusedForward:
    """Mixin over peft's ``lora.Linear`` whose forward adds the scaled adapter inside one addmm."""

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        active = self.active_adapters
        name = active[0] if len(active) == 1 else None
        if (args or kwargs or self.disable_adapters or self.merged or name not in self.lora_A
                or name in self.lora_variant or self.lora_B[name].bias is not None):
            return super().forward(x, *args, **kwargs)
        lora_a, lora_b = self.lora_A[name], self.lora_B[name]
        if x.dtype != lora_a.weight.dtype:  # e.g. a bf16 base with fp32 adapters: peft's mixed-precision path
            return super().forward(x, *args, **kwargs)
        result = self.base_layer(x)
        low = lora_a(self.lora_dropout[name](x))
        fused = torch.addmm(result.reshape(-1, result.shape[-1]), low.reshape(-1, low.shape[-1]), lora_b.weight.t(),
                            alpha=self.scaling[name])
        return fused.view(result.shape)


@functools.cache
def _classes() -> tuple[type, type]:
    """peft's ``lora.Linear`` and its fused subclass (built once, so every model shares one class)."""
    from peft.tuners.lora.layer import Linear

    return Linear, type("FusedLoraLinear", (_FusedForward, Linear), {"__module__": __name__})


def speed_up_lora(model: nn.Module) -> dict[str, int]:
    """Give a peft LoRA model the fast paths above, in place; returns how many dropouts and layers changed.

    Every ``nn.Dropout`` in peft's ``lora_dropout`` containers becomes ``FastDropout``, and every plain
    ``lora.Linear`` (exactly that class: not the 4-bit one) gets the fused forward.
    """
    linear, fused_class = _classes()
    counts = {"dropout": 0, "fused": 0}
    for module in model.modules():
        container = getattr(module, "lora_dropout", None)
        if isinstance(container, nn.ModuleDict):
            for name, layer in container.items():
                if type(layer) is nn.Dropout and layer.p > 0:
                    container[name] = FastDropout(layer.p)
                    counts["dropout"] += 1
        if type(module) is linear:
            module.__class__ = fused_class
            counts["fused"] += 1
    return counts
