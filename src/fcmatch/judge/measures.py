"""Automatic measures of how well one causal map agrees with another, for alignment with people.

A measure scores a candidate map against a reference map of the same sentence, in [0, 1], under
settings drawn from a small grid; :mod:`fcmatch.judge.align` tunes the settings by cross-validation
over sentences. The registry :data:`MEASURES` is the extension point (a test walks it):

- ``f1_<matcher>``: graph F1 over signed edges (:func:`fcmatch.evaluate.graph.compare_maps`) with
  each node matcher of :data:`fcmatch.evaluate.matching.MATCHERS`, its threshold tuned.
- ``soft_f1``: similarity-weighted edge F1. Edge similarity is
  ``sim(cause, cause') * sim(effect, effect')`` (node similarity from a matcher, zeroed below a
  floor), times ``sign_credit`` when the signs differ; edges are assigned one-to-one (Hungarian)
  and the assigned similarities summed into a soft true-positive count, so P = TP / |candidate|,
  R = TP / |reference|. Partial credit instead of the all-or-nothing of graph F1.
- ``concept_f1``: the same soft F1 over the sets of concepts (nodes), ignoring edges.
- ``blend``: ``(1 - w) * soft_f1 + w * concept_f1``.
- ``quality_f1``: graph F1 mixed with verdict-free item quality of the candidate (groundedness in
  the sentence, no degenerate edges) and its edge count relative to the reference's
  (:mod:`fcmatch.judge.quality`).

Empty maps: both empty scores 1, one empty 0 (the convention of :mod:`fcmatch.evaluate.graph`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from fcmatch.data.causal_map import CausalMap, normalize_concept
from fcmatch.evaluate.graph import compare_maps
from fcmatch.evaluate.matching import MATCHERS
from fcmatch.judge.quality import quality_f1

Settings = dict[str, Any]


@dataclass(frozen=True)
class Measure:
    """A map-vs-map score with the settings grid that cross-validation chooses from.

    Attributes:
        name: registry key.
        score: ``(reference, candidate, settings) -> float`` in [0, 1].
        grid: candidate settings; a one-element grid means nothing is tuned.
        description: one line for the docs and the report table.
        prepare: optional ``(concepts) -> None`` run once with every concept before scoring (batches
            the MiniLM encoding).
    """

    name: str
    score: Callable[[CausalMap, CausalMap, Settings], float]
    grid: list[Settings] = field(default_factory=lambda: [{}])
    description: str = ""
    prepare: Callable[[list[str]], None] | None = None


def _grid(**axes: list[Any]) -> list[Settings]:
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def _graph_f1(matcher: str) -> Callable[[CausalMap, CausalMap, Settings], float]:
    def score(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
        return compare_maps(reference, candidate, matcher, settings.get("threshold")).f1

    return score


def _node_similarity(a: list[str], b: list[str], settings: Settings) -> np.ndarray:
    sim = MATCHERS[settings.get("nodes", "embedding")].similarity(a, b)
    return np.where(sim >= settings.get("floor", 0.0), sim, 0.0)


def _soft_f1(similarity: np.ndarray) -> float:
    """Soft F1 of a (reference x candidate) similarity matrix under a one-to-one assignment."""
    n_ref, n_cand = similarity.shape
    if n_ref == 0 and n_cand == 0:
        return 1.0
    if n_ref == 0 or n_cand == 0:
        return 0.0
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    tp = float(similarity[rows, cols].sum())
    return 2 * tp / (n_ref + n_cand)  # = 2PR / (P + R) with P = tp / n_cand, R = tp / n_ref


def _distinct_edges(cmap: CausalMap) -> list[tuple[str, str, int]]:
    return list(dict.fromkeys(e.key() for e in cmap.edges))


def edge_similarity(reference: CausalMap, candidate: CausalMap, settings: Settings) -> np.ndarray:
    """(reference edges x candidate edges) soft edge similarities, as described in the module docstring."""
    ref, cand = _distinct_edges(reference), _distinct_edges(candidate)
    if not ref or not cand:
        return np.zeros((len(ref), len(cand)))
    ref_nodes = list(dict.fromkeys(x for c, e, _ in ref for x in (c, e)))
    cand_nodes = list(dict.fromkeys(x for c, e, _ in cand for x in (c, e)))
    node = _node_similarity(ref_nodes, cand_nodes, settings)
    ri = {x: k for k, x in enumerate(ref_nodes)}
    ci = {x: k for k, x in enumerate(cand_nodes)}
    rc, re_, rs = (np.array(v) for v in zip(*[(ri[c], ri[e], s) for c, e, s in ref], strict=True))
    cc, ce, cs = (np.array(v) for v in zip(*[(ci[c], ci[e], s) for c, e, s in cand], strict=True))
    sim = node[np.ix_(rc, cc)] * node[np.ix_(re_, ce)]
    return sim * np.where(rs[:, None] == cs[None, :], 1.0, settings.get("sign_credit", 0.0))


def soft_f1(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Similarity-weighted edge F1 (module docstring)."""
    return _soft_f1(edge_similarity(reference, candidate, settings))


def concept_f1(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Similarity-weighted F1 over the distinct (normalised) concepts of the two maps."""
    ref = list(dict.fromkeys(normalize_concept(x) for x in reference.concepts))
    cand = list(dict.fromkeys(normalize_concept(x) for x in candidate.concepts))
    if not ref or not cand:
        return _soft_f1(np.zeros((len(ref), len(cand))))
    return _soft_f1(_node_similarity(ref, cand, settings))


def blend(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """``(1 - w) * soft_f1 + w * concept_f1`` with ``w = settings["concept_weight"]``."""
    w = settings.get("concept_weight", 0.5)
    return (1 - w) * soft_f1(reference, candidate, settings) + w * concept_f1(reference, candidate, settings)


def _prepare_embeddings(concepts: list[str]) -> None:
    MATCHERS["embedding"].prepare(concepts)


_THRESHOLDS = {
    "exact": [1.0],
    "fuzzy": [0.5, 0.6, 0.7, 0.8, 0.9],
    "token": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    "embedding": [0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "paper": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
}

MEASURES: dict[str, Measure] = {
    f"f1_{name}": Measure(
        f"f1_{name}",
        _graph_f1(name),
        _grid(threshold=_THRESHOLDS.get(name, [MATCHERS[name].threshold])),
        f"graph F1, nodes matched by {name} ({MATCHERS[name].description})",
        _prepare_embeddings if name == "embedding" else None,
    )
    for name in MATCHERS
}
MEASURES["soft_f1"] = Measure(
    "soft_f1",
    soft_f1,
    _grid(nodes=["embedding", "token"], floor=[0.0, 0.3, 0.5], sign_credit=[0.0, 0.5, 1.0]),
    "soft edge F1: node similarity products, partial credit for sign errors",
    _prepare_embeddings,
)
MEASURES["concept_f1"] = Measure(
    "concept_f1",
    concept_f1,
    _grid(nodes=["embedding", "token"], floor=[0.0, 0.3, 0.5]),
    "soft F1 over concepts (nodes), edges ignored",
    _prepare_embeddings,
)
MEASURES["blend"] = Measure(
    "blend",
    blend,
    _grid(nodes=["embedding"], floor=[0.0, 0.3, 0.5], sign_credit=[0.5, 1.0], concept_weight=[0.25, 0.5, 0.75]),
    "(1 - w) soft edge F1 + w concept F1",
    _prepare_embeddings,
)
MEASURES["quality_f1"] = Measure(
    "quality_f1",
    quality_f1,
    # weights on a 0.1 grid (84 points with the thresholds): finer grids only add ways to overfit ten sentences
    _grid(nodes=["embedding"], threshold=[0.5, 0.6, 0.7], quality_weight=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
          size_weight=[0.0, 0.1, 0.2, 0.3]),
    "(1-q-s) graph F1 + q cleanliness*groundedness + s coverage of the reference's edge count",
    _prepare_embeddings,
)
