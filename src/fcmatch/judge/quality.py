"""Item-quality features of one causal map that need no verdicts and no reference, and the measure built on them.

Measured on ../shared/data/match (docs/judging.md), judges reject maps that a consensus F1 alone ranks
in the middle: edges copied from another sentence, a pair given both signs, ``a -> b`` next to
``b -> a``, and maps with fewer edges than the others. Three cheap features catch these:

- :func:`groundedness`: share of the concepts' word tokens (Porter-stemmed) that occur in the sentence.
- :func:`cleanliness`: share of distinct edges that are not degenerate (self-loop, a pair with both
  signs, or a two-cycle).
- :func:`coverage`: the candidate's distinct-edge count relative to the reference's, capped at 1.

:func:`quality_f1` mixes them with graph F1:
``(1 - q - s) * F1 + q * cleanliness * groundedness + s * coverage``. Unlike a similarity,
``quality_f1(m, m) < 1`` when ``m`` itself is ungrounded or degenerate: it grades the candidate, not
only its agreement with the reference.
"""

from __future__ import annotations

import functools
from typing import Any

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.evaluate.graph import compare_maps

Settings = dict[str, Any]


@functools.cache
def _tokenizer() -> Any:
    from rouge_score import tokenizers

    # rouge-score's tokenizer: lower-case alphanumeric words, Porter stems for words over 3 letters,
    # so "registering" in a concept counts as grounded in a sentence that says "registered"
    return tokenizers.DefaultTokenizer(use_stemmer=True)


def _tokens(text: str) -> list[str]:
    return _tokenizer().tokenize(text)


def _distinct_edges(cmap: CausalMap) -> list[tuple[str, str, int]]:
    return list(dict.fromkeys(e.key() for e in cmap.edges))


def groundedness(cmap: CausalMap) -> float:
    """Share of the word tokens of the map's concepts that occur in ``cmap.text`` (after stemming).

    Returns:
        A value in [0, 1]; 1 for a map with no concepts (nothing in it is ungrounded; its emptiness is
        what F1 and :func:`coverage` penalise).
    """
    words = [w for c in cmap.concepts for w in _tokens(c)]
    if not words:
        return 1.0
    sentence = set(_tokens(cmap.text))
    return sum(w in sentence for w in words) / len(words)


def cleanliness(cmap: CausalMap) -> float:
    """Share of distinct edges that are not degenerate: a self-loop, a (cause, effect) pair given
    both signs, or an edge whose reverse is also in the map. 1 for an empty map."""
    edges = _distinct_edges(cmap)
    if not edges:
        return 1.0
    pairs = [(c, e) for c, e, _ in edges]
    seen = set(pairs)
    bad = [c == e or pairs.count((c, e)) > 1 or (e, c) in seen for c, e in pairs]
    return 1.0 - sum(bad) / len(edges)


def coverage(reference: CausalMap, candidate: CausalMap) -> float:
    """``min(1, candidate edges / reference edges)`` over distinct edges; 1 when the reference is empty.

    Judges preferred fuller maps at equal agreement; the cap keeps a map from gaining by producing
    more edges than the reference has.
    """
    n_ref, n_cand = len(_distinct_edges(reference)), len(_distinct_edges(candidate))
    return 1.0 if n_ref == 0 else min(1.0, n_cand / n_ref)


@functools.lru_cache(maxsize=100_000)
def _edges_f1(reference: tuple[Edge, ...], candidate: tuple[Edge, ...], nodes: str, threshold: float) -> float:
    # cached because the weight grid re-scores each pair under the same matcher and threshold (28 weight
    # points per threshold); compare_maps reads only the edges, so the text can be left out of the key
    return compare_maps(CausalMap("", list(reference)), CausalMap("", list(candidate)), nodes, threshold).f1


@functools.lru_cache(maxsize=10_000)
def _item_quality(text: str, edges: tuple[Edge, ...]) -> float:
    cmap = CausalMap(text, list(edges))
    return cleanliness(cmap) * groundedness(cmap)


def item_quality(cmap: CausalMap) -> float:
    """``cleanliness * groundedness`` of one map, in [0, 1]."""
    return _item_quality(cmap.text, tuple(cmap.edges))


def quality_f1(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Graph F1 mixed with the candidate's item quality and coverage (module docstring).

    Args:
        reference: the map to agree with.
        candidate: the map graded.
        settings: ``nodes`` (matcher name, default ``"embedding"``), ``threshold`` (node threshold,
            default the matcher's), ``quality_weight`` q and ``size_weight`` s (defaults 0; q + s <= 1).

    Returns:
        A value in [0, 1].

    Raises:
        ValueError: when the weights are negative or sum above 1.
    """
    q, s = settings.get("quality_weight", 0.0), settings.get("size_weight", 0.0)
    if q < 0 or s < 0 or q + s > 1:
        raise ValueError(f"quality_weight and size_weight must be >= 0 with sum <= 1, got {q} and {s}")
    f1 = _edges_f1(tuple(reference.edges), tuple(candidate.edges), settings.get("nodes", "embedding"),
                   settings.get("threshold"))
    return (1 - q - s) * f1 + q * item_quality(candidate) + s * coverage(reference, candidate)
