"""Codebook snapping: replace a predicted concept by the nearest concept of the training split's codebook.

Gold concepts in the reference data are coded, not copied from the sentence, and most of a new split's
concepts already occur among the training split's (74% of val's, normalised). A model that writes
"Transport costs" where the coders wrote "transportation costs" loses the edge under exact matching; snapping
to the codebook recovers it when the two are close (MiniLM cosine, :func:`fcmatch.evaluate.encoder.embed`,
at or above a threshold), and leaves a concept as it is when nothing in the codebook is close enough, so new
concepts can still be written.

Within one map the snapping is one-to-one: two different predicted concepts never map onto the same codebook
concept (that would merge two nodes and could turn two edges into one, or an edge into a self-loop). A
predicted concept that already is a codebook concept keeps it; the others are assigned by the Hungarian
algorithm over the admissible pairs, maximising the summed cosine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from fcmatch.data.causal_map import CausalMap, Edge, normalize_concept


@dataclass
class SnapStats:
    """What snapping did to a set of maps.

    Attributes:
        concepts: distinct predicted concepts seen (per map).
        in_codebook: of those, already a codebook concept (kept).
        snapped: replaced by a different codebook concept.
        kept: neither (no codebook concept close enough, or its nearest was taken by another node).
    """

    concepts: int = 0
    in_codebook: int = 0
    snapped: int = 0
    kept: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Codebook:
    """The distinct concepts of a set of causal maps, embedded once.

    Args:
        concepts: concept names; duplicates after :func:`normalize_concept` are kept once (first form).
        encoder: a Hugging Face encoder folder; default the embedded all-MiniLM-L6-v2.

    Raises:
        ValueError: no concepts.
    """

    def __init__(self, concepts: Iterable[str], encoder: str | os.PathLike | None = None) -> None:
        from fcmatch.evaluate.encoder import embed

        forms: dict[str, str] = {}
        for concept in concepts:
            forms.setdefault(normalize_concept(concept), concept.strip())
        if not forms:
            raise ValueError("the codebook is empty")
        self.keys = list(forms)
        self.names = list(forms.values())
        self.encoder = encoder
        self._index = {key: i for i, key in enumerate(self.keys)}
        embed(sorted(self.keys, key=len), encoder)  # length order pads less (see retrieval.Retriever)
        self._vectors = embed(self.keys, encoder)

    @classmethod
    def from_maps(cls, maps: Iterable[CausalMap], encoder: str | os.PathLike | None = None) -> Codebook:
        """The codebook of every cause and effect in ``maps``."""
        return cls((c for m in maps for e in m.edges for c in (e.cause, e.effect)), encoder)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, concept: str) -> bool:
        return normalize_concept(concept) in self._index

    def assign(self, concepts: Sequence[str], threshold: float) -> list[int | None]:
        """The codebook index each concept snaps to, or None where it stays as written.

        Args:
            concepts: distinct concepts of one map (distinct after :func:`normalize_concept`).
            threshold: minimum cosine in [0, 1] for a snap.

        Returns:
            One entry per concept; no codebook index appears twice.
        """
        from scipy.optimize import linear_sum_assignment

        from fcmatch.evaluate.encoder import embed

        out: list[int | None] = [self._index.get(normalize_concept(c)) for c in concepts]
        todo = [i for i, hit in enumerate(out) if hit is None]
        if not todo:
            return out
        sims = embed([normalize_concept(concepts[i]) for i in todo], self.encoder) @ self._vectors.T
        taken = [hit for hit in out if hit is not None]
        sims[:, taken] = 0.0  # a concept some node already is cannot be given to another node
        ok = sims >= threshold
        rows, cols = linear_sum_assignment(np.where(ok, sims, 0.0), maximize=True)
        for r, c in zip(rows, cols, strict=True):
            if ok[r, c]:
                out[todo[r]] = int(c)
        return out

    def snap(self, cmap: CausalMap, threshold: float, stats: SnapStats | None = None) -> CausalMap:
        """``cmap`` with each concept replaced by its codebook concept (see :meth:`assign`).

        The replacements are recorded in ``meta["snapped"]`` as ``{written: codebook concept}``.

        Raises:
            ValueError: ``threshold`` outside [0, 1].
        """
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"snap threshold must be in [0, 1], got {threshold}")
        names = list(dict.fromkeys(normalize_concept(c) for e in cmap.edges for c in (e.cause, e.effect)))
        written = {}
        for e in cmap.edges:
            for c in (e.cause, e.effect):
                written.setdefault(normalize_concept(c), c)
        hits = self.assign(names, threshold)
        mapping: dict[str, str] = {}
        for name, hit in zip(names, hits, strict=True):
            if stats is not None:
                stats.concepts += 1
                if hit is None:
                    stats.kept += 1
                elif self.keys[hit] == name:
                    stats.in_codebook += 1
                else:
                    stats.snapped += 1
            mapping[name] = written[name] if hit is None or self.keys[hit] == name else self.names[hit]
        edges = [Edge(mapping[normalize_concept(e.cause)], mapping[normalize_concept(e.effect)], e.sign)
                 for e in cmap.edges]
        snapped = {written[n]: mapping[n] for n in names if mapping[n] != written[n]}
        return CausalMap(cmap.text, edges, cmap.source, {**cmap.meta, "snapped": snapped})

    def snap_all(self, maps: Sequence[CausalMap], threshold: float) -> tuple[list[CausalMap], SnapStats]:
        """:meth:`snap` every map; returns the maps and the pooled :class:`SnapStats`."""
        from fcmatch.evaluate.encoder import embed

        # one batched encoding of every predicted concept instead of one small batch per map
        embed(list({normalize_concept(c) for m in maps for c in m.concepts}), self.encoder)
        stats = SnapStats()
        return [self.snap(m, threshold, stats) for m in maps], stats
