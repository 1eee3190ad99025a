"""Several LoRA adapters on one base: peft named adapters, switched per call, or a weighted merge of them.

The reference study loaded its adapters into separate model copies or merged them with
``add_weighted_adapter``; here the answerer, validator and EXAR adapters are loaded once onto one base
(``PeftModel.from_pretrained(..., adapter_name=)`` then ``load_adapter``) and :meth:`AdapterSet.use` calls
``set_adapter`` before each batch. :func:`measure` compares memory and speed with separately loaded models
and with merged adapters (``cat``, ``linear``, ``svd``).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

COMBINATIONS = ("cat", "linear", "svd")


def adapter_folder(run: str | os.PathLike) -> Path:
    """A run folder's ``adapter/`` (as fcmatch.train exports it), or the folder itself when it is an adapter."""
    run = Path(run)
    return run / "adapter" if (run / "adapter" / "adapter_config.json").is_file() else run


class AdapterSet:
    """One base model with named adapters; ``use(name)`` returns the model with that adapter active."""

    def __init__(self, base: Any, adapters: dict[str, str | os.PathLike]):
        """Args: base: a causal LM (not yet a PeftModel); adapters: name -> adapter or run folder (order kept).

        Raises:
            ValueError: no adapters.
        """
        from peft import PeftModel

        from fcmatch.models import quiet_peft

        if not adapters:
            raise ValueError("an AdapterSet needs at least one adapter")
        names = list(adapters)
        with quiet_peft():
            self.model = PeftModel.from_pretrained(base, adapter_folder(adapters[names[0]]), adapter_name=names[0])
            for name in names[1:]:
                self.model.load_adapter(adapter_folder(adapters[name]), adapter_name=name)
        self.model.eval()
        self.names = names

    def use(self, name: str) -> Any:
        """The model with adapter ``name`` active.

        Raises:
            KeyError: an adapter that is not loaded.
        """
        if name not in self.model.peft_config:
            raise KeyError(f"adapter {name!r} is not loaded; loaded: {', '.join(self.model.peft_config)}")
        self.model.set_adapter(name)
        return self.model

    def merge(self, names: Sequence[str], weights: Sequence[float], combination: str, name: str) -> Any:
        """Add the weighted merge of ``names`` as adapter ``name`` (peft ``add_weighted_adapter``) and use it.

        Raises:
            ValueError: an unknown combination type.
        """
        if combination not in COMBINATIONS:
            raise ValueError(f"combination {combination!r}: choose one of {', '.join(COMBINATIONS)}")
        self.model.add_weighted_adapter(list(names), list(weights), name, combination_type=combination)
        return self.use(name)


def parameter_bytes(model: Any) -> int:
    """Bytes held by a model's parameters (each distinct tensor counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel() * p.element_size()
    return total


def adapter_bytes(model: Any, name: str) -> int:
    """Bytes of one named adapter's LoRA weights in a PeftModel."""
    return sum(p.numel() * p.element_size() for n, p in model.named_parameters() if f".{name}." in n)


def _timed(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


@torch.no_grad()
def measure(load_base: Callable[[], Any], adapters: dict[str, str | os.PathLike], input_ids: torch.Tensor,
            combinations: Sequence[str] = ("cat", "linear"), merge_weights: Sequence[float] | None = None,
            repeats: int = 3) -> dict[str, Any]:
    """Memory and speed of one base with switched adapters, separate model copies, and weighted merges.

    Args:
        load_base: returns a fresh base model (called once per copy).
        adapters: name -> adapter folder.
        input_ids: one batch (rows, length) for the timed forward passes.
        combinations: add_weighted_adapter types to measure.
        merge_weights: one weight per adapter for the merges; default equal weights.
        repeats: timed forwards per configuration (after one warm-up).

    Returns:
        ``{"one_base": {"parameter_mb", "seconds_per_call"}, "separate": {...}, "merged": {type: {...}}}``;
        a call is one forward with one adapter (one_base: after ``set_adapter``), averaged over the adapters.
    """
    from peft import PeftModel

    from fcmatch.models import quiet_peft

    mb = 2**20
    names = list(adapters)
    shared = AdapterSet(load_base(), adapters)
    switch = sum(_timed(lambda n=n: shared.use(n)(input_ids=input_ids), repeats) for n in names) / len(names)
    out: dict[str, Any] = {"adapters": names, "batch": list(input_ids.shape),
                           "one_base": {"parameter_mb": parameter_bytes(shared.model) / mb, "seconds_per_call": switch}}
    merged = {}
    base_bytes = parameter_bytes(shared.model) - sum(adapter_bytes(shared.model, n) for n in names)
    for combination in combinations:
        model = shared.merge(names, list(merge_weights or [1.0 / len(names)] * len(names)), combination,
                             f"merged_{combination}")
        merged[combination] = {"seconds_per_call": _timed(lambda m=model: m(input_ids=input_ids), repeats),
                               # what a model holding only the base and the merge needs
                               "parameter_mb": (base_bytes + adapter_bytes(model, f"merged_{combination}")) / mb}
        shared.use(names[0]).delete_adapter(f"merged_{combination}")  # switch first: peft warns on deleting the active one
    out["merged"] = merged
    shared.model = None  # free the shared copy before loading the separate ones
    gc.collect()
    copies, total, seconds = [], 0, 0.0
    with quiet_peft():
        for name in names:
            copies.append(PeftModel.from_pretrained(load_base(), adapter_folder(adapters[name])).eval())
    for model in copies:
        total += parameter_bytes(model)
        seconds += _timed(lambda m=model: m(input_ids=input_ids), repeats)
    out["separate"] = {"parameter_mb": total / mb, "seconds_per_call": seconds / len(names)}
    return out
