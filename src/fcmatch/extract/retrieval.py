"""Retrieval of demonstrations: the k training sentences most similar to a sentence, with their coded edges.

Similarity is the cosine of the embedded all-MiniLM-L6-v2 sentence embeddings
(:func:`fcmatch.evaluate.encoder.embed`). The same retriever builds the prompts a model is fine-tuned on
and the prompts it is later asked to extract with, so the model meets the same kind of demonstrations
both times. A sentence never retrieves itself: pool entries with the query's text (after collapsing
whitespace) are skipped, so a training sentence's prompt cannot contain its own answer. Ties are broken by
pool order, which makes the choice deterministic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from fcmatch.data.causal_map import CausalMap


def _key(text: str) -> str:
    return " ".join(text.split())


class Retriever:
    """Nearest training sentences by MiniLM cosine.

    Args:
        pool: the sentences to retrieve from (a training split), one causal map each.
        k: how many neighbours :meth:`neighbours` returns.
        encoder: a Hugging Face encoder folder; default the embedded all-MiniLM-L6-v2.

    Raises:
        ValueError: ``k`` < 1 or an empty pool.
    """

    def __init__(self, pool: Sequence[CausalMap], k: int, encoder: str | os.PathLike | None = None) -> None:
        if k < 1:
            raise ValueError(f"retrieval k must be >= 1, got {k}")
        if not pool:
            raise ValueError("the retrieval pool is empty")
        from fcmatch.evaluate.encoder import embed

        self.pool = list(pool)
        self.k = k
        self.encoder = encoder
        self._keys = [_key(m.text) for m in self.pool]
        texts = [m.text for m in self.pool]
        # encoding in length order first pads each batch of 64 to similar lengths: 3x fewer token positions on the
        # reference training split than file order; the cache then serves the rows in pool order
        embed(sorted(set(texts), key=len), encoder)
        self._vectors = embed(texts, encoder)

    def indices(self, texts: Sequence[str]) -> list[list[int]]:
        """Pool indices of the ``k`` nearest neighbours of each text, most similar first, never the text itself."""
        from fcmatch.evaluate.encoder import embed

        if not texts:
            return []
        sims = embed(list(texts), self.encoder) @ self._vectors.T
        out = []
        for text, row in zip(texts, sims, strict=True):
            # a stable sort on -similarity keeps pool order among ties
            order = np.argsort(-row, kind="stable")
            key = _key(text)
            out.append([int(i) for i in order if self._keys[i] != key][: self.k])
        return out

    def neighbours(self, texts: Sequence[str]) -> list[list[CausalMap]]:
        """The ``k`` nearest pool maps of each text (see :meth:`indices`)."""
        return [[self.pool[i] for i in row] for row in self.indices(texts)]
