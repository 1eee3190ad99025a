"""Resumable checkpoints: trainable weights, optimizer, scheduler, RNG states and the step, written atomically.

A checkpoint is written to ``checkpoints/.tmp-step-N`` and renamed to ``checkpoints/step-N`` only when
complete, so a run killed at any moment (even mid-write, even with SIGKILL) leaves either the previous
checkpoints or the new one, never a half-written one that a resume would trust. The data position is
a pure function of the step (see ``data.step_examples``), so the step number restores it.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fcmatch.train import distributed

_STEP = re.compile(r"^step-(\d+)$")


def checkpoints_dir(run: Path) -> Path:
    """``RUN/checkpoints``."""
    return run / "checkpoints"


def list_checkpoints(run: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = checkpoints_dir(run)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def rng_state() -> dict[str, Any]:
    """Python, torch (CPU and CUDA) RNG states of this process."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_weights(params: dict[str, torch.Tensor], path: Path) -> None:
    """Trainable tensors to a safetensors file."""
    save_file({name: p.detach().to("cpu").contiguous() for name, p in params.items()}, str(path))


def save(run: Path, step: int, params: dict[str, torch.Tensor], optimizer: Any, scheduler: Any,
         state: dict[str, Any], keep: int, scaler: Any = None) -> Path:
    """Write checkpoint ``step`` and prune all but the newest ``keep``; every process must call it.

    Args:
        run: the run folder.
        step: optimizer steps done.
        params: trainable parameters by name (identical in every process, or FSDP shards of them).
        optimizer, scheduler: their ``state_dict`` is saved.
        scaler: fp16 loss scaling (``torch.amp.GradScaler``); its scale is saved when it is enabled.
        state: JSON-serialisable trainer state (best validation loss, patience counter, ...).
        keep: newest checkpoints to keep.

    Returns:
        The checkpoint folder.
    """
    folder = checkpoints_dir(run)
    final = folder / f"step-{step:06d}"
    tmp = folder / f".tmp-step-{step:06d}"
    if distributed.rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    distributed.barrier()
    # each process has its own dropout RNG stream
    torch.save(rng_state(), tmp / f"rng-{distributed.rank()}.pt")
    # whole tensors on rank 0 (FSDP shards gathered), so the files are the same under ddp and fsdp
    weights, optimizer_state = distributed.gather_full(params), distributed.gather_full(optimizer.state_dict())
    distributed.barrier()
    if distributed.rank() == 0:
        save_weights(weights, tmp / "trainable.safetensors")
        blob = {"optimizer": optimizer_state, "scheduler": scheduler.state_dict()}
        if scaler is not None and scaler.is_enabled():
            blob["scaler"] = scaler.state_dict()
        torch.save(blob, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({**state, "step": step, "world_size": distributed.world()}))
        _fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(folder)
        for old in list_checkpoints(run)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    distributed.barrier()
    return final


def _fsync_dir(path: Path) -> None:
    # files first, then the folder entry, so the rename never points at data still in the page cache
    for child in path.iterdir() if path.is_dir() else ():
        if child.is_file():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(folder: Path, params: dict[str, torch.Tensor], optimizer: Any, scheduler: Any,
         scaler: Any = None) -> dict[str, Any]:
    """Restore a checkpoint into live objects (the loss scale too, when both it and ``scaler`` have one); returns
    the trainer state (with ``step``).

    Raises:
        RuntimeError: the checkpoint's parameters or process count do not match this run.
    """
    state = json.loads((folder / "state.json").read_text())
    if state.get("world_size", 1) != distributed.world():
        raise RuntimeError(
            f"{folder} was written by {state.get('world_size')} processes; resume with the same number "
            f"(this run has {distributed.world()})"
        )
    saved = load_file(str(folder / "trainable.safetensors"))
    if set(saved) != set(params):
        raise RuntimeError(f"{folder}: its trainable parameters do not match this model and method")
    distributed.copy_full(params, saved)
    blob = torch.load(folder / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(distributed.shard_optimizer_state(blob["optimizer"], optimizer))
    scheduler.load_state_dict(blob["scheduler"])
    if scaler is not None and scaler.is_enabled() and "scaler" in blob:
        scaler.load_state_dict(blob["scaler"])
    set_rng_state(torch.load(folder / f"rng-{distributed.rank()}.pt", weights_only=False))
    return state
