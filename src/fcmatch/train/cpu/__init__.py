"""The CPU fast path of ``fcmatch.train``: one optional backend, chosen by ``TrainConfig.fast_paths`` and recorded in
the run's ``manifest.json``.

``sft`` uses it when :func:`enabled` (``fast_paths: auto`` and the device is a CPU), through two calls:

- :func:`process_setup`, once, before the model loads: glibc's malloc settings and fcmatch's CPU allocator, or
  transparent huge pages for torch's own allocator where that cannot be built (``memory``);
- :func:`prepare`, on the prepared model: the fused LoRA layers, dropout, gated MLP, RMSNorm, rotary and residual
  paths (``patch.speed_up_lora``, peft models only) and causal attention within packed examples as a C kernel
  (``attention``).

Each returns what it applied, for the manifest. With ``fast_paths: off`` (or on a GPU) neither runs: the model is
peft's and transformers', attention over packed rows is sdpa per example (``fcmatch.train.attention``), and nothing
process-wide changes. Importing this package changes nothing either; the C kernels (``kernels``) and the allocator
are compiled at first use (``build``). See docs/training.md, "The CPU fast path".
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch

from fcmatch.train.cpu import attention, kernels, memory

if TYPE_CHECKING:
    from fcmatch.train.config import TrainConfig

FAST_PATHS = ("auto", "off")
SWITCHES = ("FCMATCH_KERNELS", "FCMATCH_ALLOCATOR", memory.THP_VARIABLE)  # environment variables the manifest records


def enabled(fast_paths: str, device: torch.device | str) -> bool:
    """Whether ``fast_paths`` (a ``TrainConfig.fast_paths`` value) turns the fast path on for training on ``device``."""
    return fast_paths == "auto" and torch.device(device).type == "cpu"


def process_setup() -> dict[str, Any]:
    """Make the fast path's process-wide memory settings (see ``memory``); they last for the rest of the process.

    Returns:
        ``malloc_tuned``: glibc's mmap threshold pinned and trimming off; ``allocator``: ``fcmatch-malloc`` when
        fcmatch's allocator is installed, else ``torch``, whose large tensors then get transparent huge pages if
        ``THP_MEM_ALLOC_ENABLE`` was unset (set to 1 here) and torch has not allocated yet; ``huge_pages``: whether
        they apply.
    """
    tuned = memory.keep_freed_memory()
    installed = memory.use_malloc_allocator()
    if not installed:
        memory.enable_huge_pages()
    return {"malloc_tuned": tuned, "allocator": "fcmatch-malloc" if installed else "torch",
            "huge_pages": memory.huge_pages()}


def process_state() -> dict[str, Any]:
    """This process's CPU allocator and huge pages, whichever path ran (an earlier run in the same process may have
    installed fcmatch's allocator for good)."""
    return {"huge_pages": memory.huge_pages(),
            "cpu_allocator": "fcmatch-malloc" if memory.malloc_allocator_installed() else "torch"}


def kernels_built() -> dict[str, Any]:
    """Whether the C kernels are built (building them on first call) and for what: the instruction set, floats per
    vector, compiler and flags."""
    library = kernels.library()
    if library is None:
        return {"built": False}
    return {"built": True, "isa": library.isa, "vector_width": library.vector_width, **(library.build or {})}


def _head_dim(model: Any) -> int | None:
    config = getattr(model, "config", None)
    if config is None:
        return None
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def prepare(model: Any, config: TrainConfig) -> dict[str, Any]:
    """Give a model prepared by its method (``fcmatch.train.methods``) the fast paths, in place.

    Args:
        model: a peft model (lora, dora, qlora: every fast path) or a plain one (bitfit, full: the attention kernel).
        config: the run's config; with ``packing`` (``fcmatch.train.attention.enable`` has switched the model to
            packed attention) the attention kernel takes the packed rows.

    Returns:
        ``kernels``: :func:`kernels_built`; ``layers``: how many modules got each fast path
        (``patch.speed_up_lora``'s counts, all 0 for a model without peft adapters); ``attention_kernel``: whether
        packed rows go to the C attention kernel (fp32, head size 64, no attention dropout, kernels built).
    """
    from fcmatch.train.cpu.patch import speed_up_lora

    built = kernels_built()
    if hasattr(model, "peft_config"):
        layers = speed_up_lora(model)
    else:
        layers = dict.fromkeys(("dropout", "fused", "mlp", "norm", "rotary", "residual"), 0)
    switched = config.packing and attention.enable(model)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    kernel = (switched and built["built"] and _head_dim(base) == kernels.ATTENTION_HEAD_DIM
              and not getattr(base.config, "attention_dropout", 0.0)
              and next(base.parameters()).dtype == torch.float32)
    return {"kernels": built, "layers": layers, "attention_kernel": bool(kernel)}


def record(fast_paths: str, device: torch.device | str, setup: dict[str, Any] | None,
           applied: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest's ``fast_paths`` section: the setting, what it resolved to on ``device`` (``cpu`` or ``off``),
    what :func:`process_setup` and :func:`prepare` applied, and the fast path's environment switches that are set."""
    section: dict[str, Any] = {"config": fast_paths, "resolved": "cpu" if enabled(fast_paths, device) else "off"}
    if setup is not None:
        section["process"] = setup
    if applied is not None:
        section.update(applied)
    switches = {name: os.environ[name] for name in SWITCHES if name in os.environ}
    if switches:
        section["environment"] = switches
    return section
