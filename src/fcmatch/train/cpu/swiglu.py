"""The gated MLP of a Llama-style layer, ``down(silu(gate(x)) * up(x))``, as one autograd function on a CPU.

The down layer's function also computes the gated product (``_SwiGLULora``): backward keeps gate(x) and up(x) and
recomputes the rest, instead of the four (tokens x intermediate) tensors autograd keeps (gate output, its SiLU, up
output, their product), and with the C kernels its pass also makes the down adapter's lora_A gradient from the
product rebuilt in small blocks, so the product is never written. ``fcmatch.train.cpu.patch.speed_up_lora`` installs
``_FusedSwiGLU`` on every Llama-style MLP whose down layer is a fused LoRA layer.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fcmatch.train.cpu import kernels
from fcmatch.train.cpu.fastlora import (
    _adapter_forward,
    _dropped_grad_a,
    _FusedForward,
    _input_grad,
    _low_grads,
    _project,
    _redraw,
    _reshaped,
)
from fcmatch.train.cpu.llama import runs_forward_of


class _SwiGLULora(torch.autograd.Function):
    """down(silu(g) * u) for a LoRA ``down`` layer over a frozen base: ``_LoraLinear`` with the gated product inside.

    Autograd on the plain module keeps four (tokens x intermediate) tensors per layer for backward: g for the
    SiLU, silu(g) and u for the product, and the product itself as down's input. This keeps g and u only and
    recomputes silu(g) and the product in backward (two elementwise passes), about 30% less activation memory
    for a Llama-style layer.
    """

    output_unread = True

    @staticmethod
    def forward(ctx: Any, gate: torch.Tensor, up: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor,
                base: nn.Module, scaling: float, p: float) -> torch.Tensor:
        hidden = kernels.swiglu(gate, up) if kernels.usable(gate, up) else F.silu(gate).mul_(up)
        out, low = _adapter_forward(ctx, hidden.reshape(-1, hidden.shape[-1]), lora_a, lora_b, base, scaling, p)
        ctx.save_for_backward(gate, up, lora_a, lora_b, low)
        return _reshaped(out, (*gate.shape[:-1], out.shape[-1]))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        gate, up, lora_a, lora_b, low = ctx.saved_tensors
        positions = _redraw(ctx)
        g = grad.reshape(-1, grad.shape[-1])
        gate_flat, up_flat = gate.reshape(-1, gate.shape[-1]), up.reshape(-1, up.shape[-1])
        grad_low, grad_b = _low_grads(ctx, g, lora_b, low, ctx.needs_input_grad[3])
        if kernels.usable(gate_flat, up_flat):
            # one pass: the gate's gradient over grad_hidden, up's gradient, and lora_A's gradient from down's input
            # made again block by block (never written out)
            grad_gate = _input_grad(ctx, g, grad_low, lora_a, positions)
            grad_up, grad_a = kernels.swiglu_backward(grad_gate, gate_flat, up_flat,
                                                      grad_low if ctx.needs_input_grad[2] else None, positions, ctx.scale)
            return grad_gate.view(gate.shape), grad_up.view(up.shape), grad_a, grad_b, None, None, None
        act = F.silu(gate_flat)
        grad_a = None
        if ctx.needs_input_grad[2]:
            grad_a = _dropped_grad_a(ctx, grad_low, act * up_flat, positions)
        grad_gate = grad_up = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            grad_hidden = _input_grad(ctx, g, grad_low, lora_a, positions)
            if ctx.needs_input_grad[1]:
                grad_up = (grad_hidden * act).view(up.shape)
            if ctx.needs_input_grad[0]:
                grad_gate = torch.ops.aten.silu_backward(grad_hidden.mul_(up_flat), gate_flat).view(gate.shape)
        return grad_gate, grad_up, grad_a, grad_b, None, None, None


def _is_silu(module: nn.Module) -> bool:
    return isinstance(module, nn.SiLU) or type(module).__name__ == "SiLUActivation"


class _FusedSwiGLU:
    """Mixin over a Llama-style MLP (``down(act(gate(x)) * up(x))``) that runs ``_SwiGLULora`` for its down layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        down = self.down_proj
        name = down._cpu_function(x) if isinstance(down, _FusedForward) and _is_silu(self.act_fn) else None
        if name is None:
            return super().forward(x)
        gate, up = _project(x, (self.gate_proj, self.up_proj))
        if gate.dtype != x.dtype or up.dtype != x.dtype:
            return down(self.act_fn(gate) * up)
        return _SwiGLULora.apply(gate, up, *down._function_args(name))


def _swiglu_mlp(module: nn.Module) -> bool:
    """Whether ``module`` computes exactly LlamaMLP's forward (same code; Mistral, Qwen2/3 and Gemma share it)."""
    from transformers.models.llama.modeling_llama import LlamaMLP

    return runs_forward_of(module, LlamaMLP) and _is_silu(getattr(module, "act_fn", None))


