"""Fold a run's adapter into its base model: ``fcmatch merge RUN OUT`` writes a plain model folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def merge(run: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write ``out``: the base model with the run's adapter merged in, plus the tokenizer.

    The result loads with ``fcmatch.models.load(out)`` or ``AutoModelForCausalLM.from_pretrained(out)``
    and runs without peft. A run trained with method full or bitfit already holds a full model in
    ``RUN/model``, which is copied. QLoRA adapters are merged into the full-precision base (the 4-bit
    base's weights are its dequantised approximation; merging into the original is the usual choice).

    Raises:
        FileNotFoundError: ``run`` holds neither ``adapter/`` nor ``model/``.
        ValueError: ``out`` exists.
    """
    import torch

    from fcmatch.models import load

    run, out = Path(run), Path(out)
    if out.exists():
        raise ValueError(f"{out} exists; choose a new output folder")
    tmp = out.parent / f".tmp-{out.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    if (run / "model" / "config.json").is_file():
        shutil.copytree(run / "model", tmp)
    elif (run / "adapter" / "adapter_config.json").is_file() or (run / "adapter_config.json").is_file():
        model, tokenizer = load(run, dtype=torch.float32, device="cpu")
        model = model.merge_and_unload()
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    else:
        raise FileNotFoundError(f"{run}: no adapter/ or model/ folder; is it an fcmatch run folder?")
    os.replace(tmp, out)
    return out
