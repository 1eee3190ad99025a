"""Several processes (torchrun / accelerate launch): process group, ranks, gradient sum.

Each process holds the whole (small) trainable state and its slice of every global batch. Gradients
are summed with one flat all-reduce per optimizer step; with the loss of every micro-batch divided by
the token count of the whole global batch, the sum is exactly the gradient that one process would get
on the same global batch (what DDP does, without DDP's bucket bookkeeping around peft's frozen base).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


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


def shutdown() -> None:
    """Leave the process group if this module created one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
