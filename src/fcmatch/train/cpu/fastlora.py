"""Fused LoRA layers for peft's ``lora.Linear`` and ``Linear4bit`` on a CPU: one autograd function per layer (or per
group of layers that read one input) that keeps little for backward.

Fused layer. peft computes ``base(x) + lora_B(lora_A(dropout(x))) * scaling`` as separate autograd nodes: two
extra passes over the (tokens x out) output per adapter, and for backward every adapter keeps its own
dropped copy of the input (4 bytes per element; q, k and v each keep one of the same normed hidden states).
``FusedLoraLinear`` runs the whole layer as one autograd function: the scaled adapter update is added
inside one ``addmm``, and backward keeps the input (shared by the adapters that read it) and the (tokens x r)
low-rank activations; the dropped input is rebuilt in backward for lora_A's gradient, and with the C kernels the
drop positions are drawn again from their seed rather than kept. The base layer may be ``nn.Linear`` or
bitsandbytes' 4-bit ``Linear4bit`` (QLoRA: its weight is dequantised again in backward, as bitsandbytes' own
backward does). Values and gradients are those of peft's layer (tested). Layers it does not cover (DoRA and other
variants, merged or disabled adapters, several active adapters, a LoRA bias, a trainable base, extra arguments, an
input whose dtype differs from the adapter's, as with a bf16 base and peft's fp32 adapters on a GPU) take peft's own
forward; non-CPU tensors over an ``nn.Linear`` take the same sum as one ``addmm`` with peft's dropout.

Grouped layers. With the C kernels, the adapters that read one input (q, k and v in a Llama attention, gate and up
in its MLP) run as one function, ``_GroupedLora``: one product with the stacked A matrices, dropout as a sparse
correction of it (no dropped copy in forward or backward), and the input gradient summed in place instead of by
autograd. Single layers with the kernels use the same correction for D(x) A^T and lora_A's gradient. When that
input is the output of a fused RMSNorm, backward recomputes it from the norm's input instead of keeping it.

Dropout is ``fcmatch.train.cpu.dropout``'s (positions drawn as geometric gaps), the gated MLP
``fcmatch.train.cpu.swiglu``'s; ``fcmatch.train.cpu.patch.speed_up_lora`` installs them all.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fcmatch.train.cpu import kernels
from fcmatch.train.cpu.dropout import drop_copy, drop_positions
from fcmatch.train.cpu.llama import normed_source


def _dense_weight(base: nn.Module, dtype: torch.dtype) -> torch.Tensor:
    """The (out, in) weight of a frozen base layer; a 4-bit one is dequantised, as bitsandbytes' own backward does."""
    if type(base) is nn.Linear:
        return base.weight
    import bitsandbytes.functional as bnb_functional

    # FSDP swaps in a plain Parameter without the quant state; bitsandbytes keeps a copy on the module for that
    state = getattr(base.weight, "quant_state", None) or base.quant_state
    return bnb_functional.dequantize_4bit(base.weight.data, state).to(dtype)


def _draw(ctx: Any, n: int, p: float) -> torch.Tensor | None:
    """The drop positions of n elements (None when p = 0). With the C kernels ``ctx`` keeps only their seed and
    backward draws them again (``_redraw``): 8 bytes per call instead of 8 bytes per dropped element, about 60 KB
    per token for SmolLM2 with adapters on all linear layers at p = 0.05."""
    ctx.drop = None
    if p <= 0:
        return None
    if kernels.library() is None:
        ctx.drop = drop_positions(n, p)
        return ctx.drop
    ctx.drop = (n, p, kernels.drop_seed())
    return kernels.drop_positions(*ctx.drop)


def _redraw(ctx: Any) -> torch.Tensor | None:
    """The positions ``_draw`` gave in forward."""
    return kernels.drop_positions(*ctx.drop) if isinstance(ctx.drop, tuple) else ctx.drop


def _adapter_forward(ctx: Any, flat: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor, base: nn.Module,
                     scaling: float, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """base(flat) + scaling * (D(flat) A^T) B^T for (tokens, in) ``flat``; returns it and the low-rank activations,
    and keeps base, scaling, 1/(1-p) and the dropout (``_draw``) on ``ctx`` for backward."""
    positions = _draw(ctx, flat.numel(), p)
    scale = 1.0 / (1.0 - p)
    if positions is not None and kernels.usable(flat, lora_a):  # no dropped copy: see _GroupedLora
        low = torch.mm(flat, lora_a.t())
        kernels.lora_drop_low(low, flat, lora_a, positions, 1)
        low.mul_(scale)
    else:
        low = (flat if positions is None else drop_copy(flat, positions, scale)) @ lora_a.t()
    out = base(flat).addmm_(low, lora_b.t(), alpha=scaling)
    ctx.base, ctx.scaling, ctx.scale = base, scaling, scale
    return out, low


def _grad_b(low: torch.Tensor, g: torch.Tensor, scaling: float) -> torch.Tensor:
    """lora_B's gradient scaling * g^T low as (low^T g)^T: MKL runs that (r, tokens) x (tokens, out) product about
    twice as fast as g^T low on CPU."""
    return torch.mm(low.t(), g).mul_(scaling).t().contiguous()


def _low_grads(ctx: Any, g: torch.Tensor, lora_b: torch.Tensor, low: torch.Tensor, wants_b: bool,
               scaling: float | None = None, out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The gradient of the (tokens, r) low-rank activations and, when wanted, of lora_B; with the C kernels both in
    one pass over g (``kernels.lora_low_grads``). ``out``, when given, receives the first (a column slice)."""
    scaling = ctx.scaling if scaling is None else scaling
    if wants_b and kernels.low_grads_fit(g, lora_b, low):
        return kernels.lora_low_grads(g, lora_b, low, scaling, out)
    grad_low = torch.mm(g, lora_b).mul_(scaling)
    if out is not None:
        grad_low = out.copy_(grad_low)
    return grad_low, _grad_b(low, g, scaling) if wants_b else None


def _input_grad(ctx: Any, g: torch.Tensor, grad_low: torch.Tensor, lora_a: torch.Tensor,
                positions: torch.Tensor | None) -> torch.Tensor:
    """(tokens, in) gradient of the layer input: g W + D(grad_low A), the dropped elements zeroed in place and
    1/(1-p) applied as addmm's beta (no extra pass)."""
    back = torch.mm(grad_low, lora_a)
    beta = 1.0
    if positions is not None:
        if kernels.usable(back):
            kernels.zero_positions(back, positions)
        else:
            back.view(-1).index_fill_(0, positions, 0.0)
        beta = ctx.scale
    return back.addmm_(g, _dense_weight(ctx.base, g.dtype), beta=beta)  # in place: torch.addmm would copy back first


def _dropped_grad_a(ctx: Any, grad_low: torch.Tensor, hidden: torch.Tensor,
                    positions: torch.Tensor | None) -> torch.Tensor:
    """lora_A's gradient grad_low^T D(hidden), zeroing the dropped elements of ``hidden`` (a scratch tensor) in
    place and applying 1/(1-p) to the small result."""
    if positions is None:
        return torch.mm(grad_low.t(), hidden)
    if kernels.usable(hidden):
        kernels.zero_positions(hidden, positions)
    else:
        hidden.view(-1).index_fill_(0, positions, 0.0)
    return torch.mm(grad_low.t(), hidden).mul_(ctx.scale)


def _reshaped(t: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Contiguous ``t`` in ``shape`` as a tensor of its own over the same memory rather than a view of ``t``.

    A function that returns several views may not have them changed in place (autograd's rule); its outputs
    made this way may, as ``llama.Rotary`` does to the queries and keys.
    """
    return t.new_empty(0).set_(t.untyped_storage(), t.storage_offset(), shape)


class _LoraLinear(torch.autograd.Function):
    """y = base(x) + scaling * (D(x) A^T) B^T for a frozen base layer, with D the dropout (identity when p = 0)."""

    output_unread = True  # backward never reads the output: llama.add_residual may add into it

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor, base: nn.Module,
                scaling: float, p: float) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        out, low = _adapter_forward(ctx, flat, lora_a, lora_b, base, scaling, p)
        ctx.save_for_backward(flat, lora_a, lora_b, low)
        return _reshaped(out, (*x.shape[:-1], out.shape[-1]))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        flat, lora_a, lora_b, low = ctx.saved_tensors
        positions = _redraw(ctx)
        g = grad.reshape(-1, grad.shape[-1])
        grad_low, grad_b = _low_grads(ctx, g, lora_b, low, ctx.needs_input_grad[2])
        grad_a = None
        if ctx.needs_input_grad[1]:
            if positions is not None and kernels.usable(flat, grad_low):  # no dropped copy: see _GroupedLora
                grad_a = torch.mm(grad_low.t(), flat)
                kernels.lora_drop_grad_a(grad_a, grad_low, flat, positions, 1)
                grad_a.mul_(ctx.scale)
            else:  # rebuilt here rather than kept from forward: 4 bytes per input element per adapter
                dropped = flat if positions is None else drop_copy(flat, positions, ctx.scale)
                grad_a = torch.mm(grad_low.t(), dropped)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = _input_grad(ctx, g, grad_low, lora_a, positions).view(*grad.shape[:-1], flat.shape[-1])
        return grad_x, grad_a, grad_b, None, None, None


class _GroupedLora(torch.autograd.Function):
    """base_j(x) + scaling_j * (D_j(x) A_j^T) B_j^T for J adapters that read one input x (q, k and v; gate and
    up), each with its own dropout D_j, as one function (C kernels, fp32 CPU tensors).

    One product x [A_1; ...; A_J]^T serves every adapter, and dropout is a sparse correction of it: the dropped
    elements' terms (5% of the product's work at p = 0.05) are subtracted by ``kernels.lora_drop_low``, so no
    dropped copy of x is written, in forward or backward. The J masks are one draw of positions over J * x.numel()
    elements: the same law as J independent draws. Backward does the same for lora_A's gradients and for the input
    gradient, which it sums over the adapters into one tensor (``addmm_`` in place) rather than leaving J tensors
    for autograd to add.

    When x is the output of a fused RMSNorm (``norm`` = its input, weight and epsilon; see ``llama.normed_source``),
    backward keeps that input, which the norm keeps anyway, and recomputes x from it (one pass over x) instead of
    keeping x: 4 bytes per element of x, two (tokens x hidden) tensors per Llama layer.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, bases: tuple[nn.Module, ...], scalings: tuple[float, ...], p: float,
                norm: tuple[torch.Tensor, torch.Tensor, float] | None,
                *weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
        flat = x.reshape(-1, x.shape[-1])
        lora_as, lora_bs = weights[0::2], weights[1::2]
        blocks, rank = len(bases), lora_as[0].shape[0]
        stacked = torch.cat(lora_as)
        low = torch.mm(flat, stacked.t())
        positions = _draw(ctx, blocks * flat.numel(), p)
        scale = 1.0 / (1.0 - p)
        if positions is not None:
            kernels.lora_drop_low(low, flat, stacked, positions, blocks)
            low.mul_(scale)
        outs = []
        for j, (base, lora_b, scaling) in enumerate(zip(bases, lora_bs, scalings, strict=True)):
            out = base(flat).addmm_(low[:, j * rank:(j + 1) * rank], lora_b.t(), alpha=scaling)
            outs.append(_reshaped(out, (*x.shape[:-1], out.shape[-1])))
        ctx.bases, ctx.scalings, ctx.scale, ctx.rank = bases, scalings, scale, rank
        ctx.norm = None if norm is None else norm[1:]
        ctx.save_for_backward(flat if norm is None else norm[0], low, *weights)
        return tuple(outs)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        kept, low, *weights = ctx.saved_tensors
        flat = kept if ctx.norm is None else kernels.rms_norm(kept, *ctx.norm)[0]
        flat = flat.reshape(-1, flat.shape[-1])
        positions = _redraw(ctx)
        lora_as, lora_bs = weights[0::2], weights[1::2]
        blocks, rank = len(ctx.bases), ctx.rank
        gs = [g.reshape(-1, g.shape[-1]) for g in grads]
        needs = ctx.needs_input_grad[5:]
        grad_weights: list[torch.Tensor | None] = [None] * len(weights)
        grad_low = torch.empty_like(low)
        for j, (g, lora_b, scaling) in enumerate(zip(gs, lora_bs, ctx.scalings, strict=True)):
            part = slice(j * rank, (j + 1) * rank)
            grad_weights[2 * j + 1] = _low_grads(ctx, g, lora_b, low[:, part], needs[2 * j + 1], scaling,
                                                 grad_low[:, part])[1]
        if any(needs[0::2]):
            grad_a = torch.mm(grad_low.t(), flat)
            if positions is not None:
                kernels.lora_drop_grad_a(grad_a, grad_low, flat, positions, blocks)
                grad_a.mul_(ctx.scale)
            grad_weights[0::2] = grad_a.split(rank)
        grad_x = None
        if ctx.needs_input_grad[0]:
            stacked = torch.cat(lora_as)
            grad_x = torch.mm(grad_low, stacked)
            beta = 1.0
            if positions is not None:
                kernels.lora_drop_back(grad_x, grad_low, stacked, positions, blocks)
                beta = ctx.scale  # dropout's 1/(1-p), applied by the first addmm_
            for g, base in zip(gs, ctx.bases, strict=True):
                grad_x.addmm_(g, _dense_weight(base, g.dtype), beta=beta)
                beta = 1.0
            grad_x = grad_x.view(*grads[0].shape[:-1], flat.shape[-1])
        return (grad_x, None, None, None, None, *grad_weights)


def _project(x: torch.Tensor, layers: tuple[nn.Module, ...]) -> tuple[torch.Tensor, ...]:
    """``tuple(layer(x) for layer in layers)``, as one ``_GroupedLora`` call when every layer is a fused LoRA layer
    over a frozen base with the same rank and dropout and the C kernels take ``x``; otherwise layer by layer."""
    names = [layer._cpu_function(x) if isinstance(layer, _FusedForward) else None for layer in layers]
    if None not in names and kernels.usable(x):
        args = [layer._function_args(name) for layer, name in zip(layers, names, strict=True)]
        if len({a[0].shape[0] for a in args}) == 1 and len({a[4] for a in args}) == 1 \
                and kernels.usable(*(t for a in args for t in a[:2])):
            weights = [t for a in args for t in a[:2]]
            return _GroupedLora.apply(x, tuple(a[2] for a in args), tuple(a[3] for a in args), args[0][4],
                                      normed_source(x), *weights)
    return tuple(layer(x) for layer in layers)


def _frozen(base: nn.Module) -> bool:
    return all(not param.requires_grad for param in base.parameters())


class _FusedForward:
    """Mixin over peft's ``lora.Linear`` / ``Linear4bit`` whose forward runs ``_LoraLinear`` on CPU tensors."""

    def _plain_adapter(self, x: torch.Tensor) -> str | None:
        """The one active adapter when plain LoRA maths applies to ``x``; None sends the call to peft."""
        active = self.active_adapters
        name = active[0] if len(active) == 1 else None
        if (self.disable_adapters or self.merged or name not in self.lora_A or name in self.lora_variant
                or self.lora_B[name].bias is not None):
            return None
        if x.dtype != self.lora_A[name].weight.dtype:  # e.g. a bf16 base with fp32 adapters: peft's mixed precision
            return None
        if torch.is_autocast_enabled(x.device.type):  # autocast would hand the fused maths half products
            return None
        return name

    def _function_args(self, name: str) -> tuple[Any, ...]:
        """(lora_a, lora_b, base, scaling, p) for ``_LoraLinear`` and ``_SwiGLULora``."""
        dropout = self.lora_dropout[name]
        p = dropout.p if isinstance(dropout, nn.Dropout) and dropout.training else 0.0
        return self.lora_A[name].weight, self.lora_B[name].weight, self.base_layer, self.scaling[name], p

    def _cpu_function(self, x: torch.Tensor) -> str | None:
        """The adapter name when the CPU autograd function applies to ``x`` (a frozen base), else None."""
        name = self._plain_adapter(x)
        return name if name is not None and x.device.type == "cpu" and _frozen(self.base_layer) else None

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        name = None if args or kwargs else self._plain_adapter(x)
        if name is None:
            return super().forward(x, *args, **kwargs)
        base = self.base_layer
        if x.device.type == "cpu" and _frozen(base):
            return _LoraLinear.apply(x, *self._function_args(name))
        if type(base) is not nn.Linear:
            return super().forward(x, *args, **kwargs)
        result = base(x)
        low = self.lora_A[name](self.lora_dropout[name](x))
        fused = torch.addmm(result.reshape(-1, result.shape[-1]), low.reshape(-1, low.shape[-1]),
                            self.lora_B[name].weight.t(), alpha=self.scaling[name])
        return fused.view(result.shape)
