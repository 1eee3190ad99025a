"""Self-consistency: sample several answers per sentence and keep the edges enough of them propose.

An edge is identified by its normalised cause, effect and sign (:func:`normalize_concept`), so two samples
that spell a concept differently ("Crop yield" and "crop yield.") vote for the same edge. The kept edge is
written as its first sample spelled it. Raising ``min_votes`` trades recall for precision; sweeping it from
1 to the number of samples draws the precision/recall curve.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from fcmatch.data.causal_map import CausalMap, Edge, normalize_concept


def edge_key(edge: Edge) -> tuple[str, str, int]:
    """The identity of an edge for voting."""
    return normalize_concept(edge.cause), normalize_concept(edge.effect), edge.sign


def vote(samples: Sequence[Sequence[Edge]], min_votes: int | None = None) -> list[Edge]:
    """The edges proposed by at least ``min_votes`` of the samples.

    Args:
        samples: one edge list per sampled answer of the same sentence; an edge repeated within one sample
            counts once.
        min_votes: default a strict majority, ``len(samples) // 2 + 1``.

    Returns:
        The kept edges, most votes first, ties in order of first appearance.

    Raises:
        ValueError: no samples, or ``min_votes`` < 1.
    """
    if not samples:
        raise ValueError("vote needs at least one sample")
    need = len(samples) // 2 + 1 if min_votes is None else min_votes
    if need < 1:
        raise ValueError(f"min_votes must be >= 1, got {min_votes}")
    counts: Counter[tuple[str, str, int]] = Counter()
    first: dict[tuple[str, str, int], Edge] = {}
    for sample in samples:
        keys = {}
        for edge in sample:
            keys.setdefault(edge_key(edge), edge)
        for key, edge in keys.items():
            counts[key] += 1
            first.setdefault(key, edge)
    order = {key: i for i, key in enumerate(first)}
    kept = sorted((k for k, n in counts.items() if n >= need), key=lambda k: (-counts[k], order[k]))
    return [first[k] for k in kept]


def vote_maps(samples: Sequence[Sequence[CausalMap]], min_votes: int | None = None) -> list[CausalMap]:
    """Per sentence, :func:`vote` over the maps of several sampled prediction runs.

    Args:
        samples: ``samples[s][i]`` is run ``s``'s prediction for sentence ``i``; every run covers the same
            sentences in the same order.
        min_votes: as in :func:`vote`.

    Returns:
        One map per sentence, meta from the first run plus ``votes``: ``{"samples": n, "min_votes": m}``.

    Raises:
        ValueError: no runs, runs of different lengths, or sentences that differ between runs.
    """
    if not samples:
        raise ValueError("vote_maps needs at least one run")
    n = len(samples[0])
    if any(len(run) != n for run in samples):
        raise ValueError("every sampled run must cover the same sentences")
    need = len(samples) // 2 + 1 if min_votes is None else min_votes
    out = []
    for i in range(n):
        maps = [run[i] for run in samples]
        if any(m.text != maps[0].text for m in maps):
            raise ValueError(f"sentence {i} differs between the sampled runs")
        edges = vote([m.edges for m in maps], need)
        meta = {**maps[0].meta, "votes": {"samples": len(maps), "min_votes": need}}
        out.append(CausalMap(maps[0].text, edges, maps[0].source, meta))
    return out
