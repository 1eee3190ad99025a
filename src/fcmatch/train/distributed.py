"""Several processes (torchrun / accelerate launch): process group, ranks, gradient sum, FSDP sharding.

``distributed: ddp``: each process holds the whole model and its slice of every global batch. Gradients
are summed with one flat all-reduce per optimizer step; with the loss of every micro-batch divided by
the token count of the whole global batch, the sum is exactly the gradient that one process would get
on the same global batch (what DDP does, without DDP's bucket bookkeeping around peft's frozen base).

``distributed: fsdp``: :func:`shard` applies PyTorch's FSDP2 (``fully_shard``): every parameter becomes
a DTensor holding 1/N of it, gathered whole around each decoder layer's forward and backward, and its
gradient is reduce-scattered, summed rather than FSDP's default mean, so the same loss scaling holds.
:func:`gather_full` and :func:`copy_full` convert between shards and the whole tensors that checkpoints
and exports hold, so checkpoint files are the same under ddp and fsdp.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor, distribute_tensor

from fcmatch.train.data import Batch
from fcmatch.train.loss import batch_loss_sum

log = logging.getLogger(__name__)
_LOSS = "fcmatch_loss_sum"  # the model's attribute holding the loss as an FSDP forward method


def init() -> bool:
    """Join the process group that torchrun / accelerate launch describe in the environment.

    Returns:
        True when running with more than one process.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return True


def active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if active() else 0


def world() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if active() else 1


def device() -> torch.device:
    """This process's device: its local CUDA device, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every process (no-op alone)."""
    if active():
        dist.barrier()


def sum_gradients(params: list[torch.Tensor]) -> None:
    """Replace each parameter's gradient by its sum over processes (one flat all-reduce)."""
    if not active():
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset: offset + n].view_as(p).clone()
        offset += n


def sum_floats(*values: float) -> list[float]:
    """Sum scalars over processes."""
    if not active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def shard(model: Any) -> Any:
    """Shard ``model`` over the processes with FSDP2: each decoder layer is one unit, the whole model the root.

    The root unit holds what the layers do not (embeddings, final norm, LM head, tied or not). Frozen and
    trainable parameters may share a unit (LoRA inside a layer); FSDP2 reduce-scatters only the
    gradients that exist.

    Returns:
        ``model``, sharded in place; unchanged without a process group.
    """
    if not active():
        log.warning("distributed=fsdp with one process: nothing to shard, training unsharded")
        return model
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    mesh = init_device_mesh(device().type, (world(),))
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layer_types = set(getattr(base, "_no_split_modules", None) or ())  # transformers' names for its decoder layers
    layers = [m for m in model.modules() if type(m).__name__ in layer_types]
    # bottom-up: a unit takes the parameters that no earlier (inner) unit took
    units = [fully_shard(layer, mesh=mesh) for layer in layers] + [fully_shard(model, mesh=mesh)]
    for unit in units:
        # the loop divides each loss by the global batch's token count and wants gradients summed over
        # processes; FSDP's default divides by the process count. Plain SUM also runs on gloo (no PREMUL_SUM).
        unit.set_gradient_divide_factor(1.0)
        unit.set_force_sum_reduction_for_comms(True)
    # the loss calls the decoder body and the LM head itself, never model.forward, and FSDP gathers the
    # root unit only around a forward of the root: register the loss as one
    setattr(model, _LOSS, functools.partial(batch_loss_sum, model))
    register_fsdp_forward_method(model, _LOSS)
    return model


def loss_sum(model: Any, batch: Batch, chunk: int) -> torch.Tensor:
    """:func:`fcmatch.train.loss.batch_loss_sum` of ``model``, through the FSDP root when it is sharded."""
    forward = getattr(model, _LOSS, None)
    return forward(batch, chunk) if forward is not None else batch_loss_sum(model, batch, chunk)


def sharded(model: Any) -> bool:
    """True when :func:`shard` has sharded ``model``."""
    return any(isinstance(p, DTensor) for p in model.parameters())


def gather_full(values: dict[Any, Any]) -> dict[Any, Any]:
    """Copy of a nested dict (parameters, an optimizer's ``state_dict``) with sharded tensors made whole.

    Every process must call it (each DTensor is one all-gather, in the dict's order, which is the same in
    every process); only rank 0 keeps the whole tensors, on the CPU, one at a time, so no device ever
    holds more than one gathered tensor. Unsharded values pass through unchanged; a tensor found under two
    keys (tied embeddings) is gathered once and stays one tensor, so ``save_pretrained`` still sees the tie.

    Returns:
        The copy on rank 0; an empty dict elsewhere.
    """
    done: dict[int, torch.Tensor | None] = {}

    def whole(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: whole(v) for key, v in value.items()}
        if isinstance(value, DTensor):
            if id(value) not in done:
                full = value.full_tensor()
                done[id(value)] = full.cpu() if rank() == 0 else None
            return done[id(value)]
        return value

    gathered = whole(values)
    return gathered if rank() == 0 else {}


def _like(param: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """``full`` (a whole tensor) in the layout of ``param``: this process's shard when ``param`` is sharded."""
    full = full.to(param.device)
    if isinstance(param, DTensor):
        # src_data_rank=None: every process read the same file, so each cuts its own shard, no communication
        return distribute_tensor(full, param.device_mesh, param.placements, src_data_rank=None)
    return full


def copy_full(params: dict[str, torch.Tensor], full: dict[str, torch.Tensor]) -> None:
    """Copy whole tensors (from a checkpoint file) into parameters, sharded or not, by name."""
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(_like(param, full[name]))


def shard_optimizer_state(state: dict[str, Any], optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """An optimizer ``state_dict`` of whole tensors (from :func:`gather_full`) cut to this process's shards.

    Per-parameter tensors shaped like their (whole) parameter become its shard; others (Adam's step
    count) stay as they are. Unsharded parameters take the state unchanged.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]  # the ids state_dict() uses
    for index, values in state["state"].items():
        param = params[index]
        if isinstance(param, DTensor):
            for key, value in values.items():
                if torch.is_tensor(value) and value.shape == param.shape:
                    values[key] = _like(param, value)
    return state


def shutdown() -> None:
    """Leave the process group if this module created one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
