"""Completion-only causal-LM loss without full-vocabulary logits for positions that carry no loss.

``model(...).logits`` would hold (tokens x vocabulary) floats: for SmolLM2 (49,152 words) a 1,000-token
row is 197 MB of logits plus as much again for their gradient, and the LM head matmul on prompt tokens
is ~20% of the forward FLOPs wasted. Instead the decoder body gives hidden states, the loss positions
are gathered, and the head + cross-entropy run on those only, chunk by chunk.

For a plain linear head the chunks go through one autograd function that computes each chunk's gradient
(softmax - one-hot) @ W in the forward pass, while the chunk's logits are at hand, and keeps only that
(loss positions x hidden) gradient for backward: no logits are kept or recomputed, and every chunk reuses
one logits buffer. The buffer matters on a CPU: glibc serves blocks over 32 MB with fresh mmaps, and on this
VM first-touching a page costs ~9 us, so a new (400 x 49,152) fp32 logits block took ~180 ms per step to
fault in, more than its matmul.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.tensor import DTensor
from torch.utils.checkpoint import checkpoint

from fcmatch.train.data import IGNORE, Batch


def body_and_head(model: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The decoder body (hidden states out) and the LM head of a causal LM, peft-wrapped or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


_BUFFERS: dict[tuple[torch.device, int], torch.Tensor] = {}


def _logits_buffer(rows: int, vocab: int, device: torch.device) -> torch.Tensor:
    """A reused fp32 (rows x vocab) block; grows when a larger one is asked for, then stays."""
    key = (device, vocab)
    buffer = _BUFFERS.get(key)
    if buffer is None or buffer.shape[0] < rows:
        _BUFFERS.pop(key, None)  # free the old block before allocating the larger one
        buffer = _BUFFERS[key] = torch.empty(rows, vocab, dtype=torch.float32, device=device)
    return buffer[:rows]


class _HeadCrossEntropy(torch.autograd.Function):
    """sum_i CE(hidden_i W^T + b, target_i), chunk by chunk, with the gradients made in forward."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                targets: torch.Tensor, chunk: int, grad_enabled: bool) -> torch.Tensor:
        # needs_input_grad follows requires_grad even under no_grad (validation): no gradients are made there
        want_hidden, want_weight, want_bias = (grad_enabled and wanted for wanted in ctx.needs_input_grad[:3])
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if want_weight else None
        grad_bias = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device) if want_bias else None
        any_grad = want_hidden or want_weight or want_bias
        fp32 = weight.dtype == torch.float32
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, hidden.shape[0], chunk):
            h, t = hidden[start: start + chunk], targets[start: start + chunk, None]
            if fp32:
                logits = torch.mm(h, weight.t(), out=_logits_buffer(h.shape[0], weight.shape[0], h.device))
            else:  # float32 logits: a bf16 softmax over 49k words loses the small probabilities the loss is about
                logits = torch.mm(h, weight.t()).float()
            if bias is not None:
                logits.add_(bias)
            top = logits.amax(1, keepdim=True)
            picked = logits.gather(1, t)
            sums = logits.sub_(top).exp_().sum(1, keepdim=True)
            total += (sums.log() + top - picked).sum()
            if not any_grad:
                continue
            logits.div_(sums)  # softmax; minus one at the target: d(CE)/d(logits)
            logits.scatter_add_(1, t, logits.new_full(t.shape, -1.0))
            if grad_hidden is not None:
                grad_hidden[start: start + chunk] = torch.mm(logits.to(weight.dtype), weight)
            if grad_weight is not None:
                grad_weight.addmm_(logits.t(), h.float())
            if grad_bias is not None:
                grad_bias += logits.sum(0)
        ctx.save_for_backward(*(x for x in (grad_hidden, grad_weight, grad_bias) if x is not None))
        ctx.wanted = (want_hidden, want_weight, want_bias)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        saved = iter(ctx.saved_tensors)
        grads = [next(saved).mul(grad).to(dtype) if wanted else None for wanted, dtype in zip(ctx.wanted, ctx.dtypes, strict=True)]
        return *grads, None, None, None


def _chunk_loss(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # float32 logits: a bf16 softmax over 49k words loses the small probabilities the loss is about
    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")


def head_loss_sum(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
    """Sum of cross-entropies of ``head(hidden)`` against ``targets``, ``chunk`` rows at a time.

    A plain ``nn.Linear`` head takes the fused path above. Other heads (quantised, sharded, custom) run
    through autograd; with more than one chunk each chunk is then checkpointed, so backward recomputes its
    logits instead of keeping every chunk's (chunk x vocabulary) logits alive until then.

    Args:
        head: the LM head (hidden -> vocabulary logits).
        hidden: (n, hidden) states at the loss positions.
        targets: (n,) next-token ids.
        chunk: rows per chunk.
    """
    weight = getattr(head, "weight", None)
    if type(head) is nn.Linear and type(weight) is nn.Parameter and not isinstance(weight, DTensor):
        return _HeadCrossEntropy.apply(hidden, weight, head.bias, targets, chunk, torch.is_grad_enabled())
    if hidden.shape[0] <= chunk:
        return _chunk_loss(head, hidden, targets)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk):
        part = slice(start, start + chunk)
        total = total + checkpoint(_chunk_loss, head, hidden[part], targets[part], use_reentrant=False)
    return total


HALF = (torch.bfloat16, torch.float16)
_KEPT_DTYPE = "_fcmatch_autocast_dtype"  # set on a model whose half weights became fp32 master weights


def autocast_dtype(model: Any) -> torch.dtype | None:
    """The half dtype the decoder body runs under ``torch.autocast`` in, or None (fp32: no autocast).

    A model loaded in bf16 or fp16 (``dtype=auto`` on a CUDA GPU, or asked for) keeps its LoRA adapters in fp32
    (peft's mixed precision); autocast runs their products in the half dtype too, as the base's. Read from the
    LM head's weight, which has the load dtype under LoRA, DoRA and QLoRA (QLoRA's is its compute dtype), or from
    the mark :func:`use_fp32_master_weights` leaves when the trained half weights (``full``, ``bitfit``) became
    fp32.
    """
    return _half_dtype(model, body_and_head(model)[1])


def _half_dtype(model: Any, head: torch.nn.Module) -> torch.dtype | None:
    kept = getattr(model, _KEPT_DTYPE, None)
    if kept is not None:
        return kept
    return head.weight.dtype if head.weight.dtype in HALF else None


def use_fp32_master_weights(model: Any, params: dict[str, torch.Tensor]) -> int:
    """Make a half-precision model's trainable bf16 or fp16 parameters fp32 in place (``full``, and ``bitfit``'s
    biases); returns how many there were (0: nothing to do, for fp32, or LoRA whose adapters are fp32 already).

    This is torch's mixed-precision recipe: the optimizer updates fp32 weights and the body still runs in the half
    dtype under autocast, which casts them on the fly. Trained as half tensors, an update smaller than half the
    weight's last bit is lost: below 2^-9 of the weight in bf16, so at lr 1e-5 a weight of 0.01 would never move,
    and below 2^-12 in fp16, whose gradients also could not be unscaled for loss scaling. The cost is fp32 weights,
    gradients and optimizer state: 2 more bytes per trained parameter for each, as any mixed-precision trainer
    keeps.
    """
    half = autocast_dtype(model)  # None for fp32: no parameter has that dtype
    halves = [p for p in params.values() if p.dtype == half]
    if not halves:
        return 0
    setattr(model, _KEPT_DTYPE, half)
    for param in halves:
        param.data = param.data.float()
    return len(halves)


def batch_loss_sum(model: Any, batch: Batch, chunk: int = 128) -> torch.Tensor:
    """Summed cross-entropy over the completion positions of a micro-batch.

    Divide by the number of loss tokens of the whole optimizer step (all micro-batches and processes)
    to get the token-weighted mean that single-example training would give. A half-precision model's body
    runs under ``torch.autocast`` (:func:`autocast_dtype`); the LM head and the loss run outside it, on fp32
    logits.
    """
    body, head = body_and_head(model)
    # use_cache=False is load-bearing: transformers turns restarting position_ids into a block-diagonal
    # mask only when there is no attention mask and no KV cache (masking_utils.find_packed_sequence_indices)
    device = next(head.parameters()).device
    half = _half_dtype(model, head)  # autocast_dtype(model), without finding the head again
    with torch.autocast(device.type, dtype=half, enabled=half is not None):
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
