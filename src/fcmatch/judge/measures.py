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

- ``soft_match`` and ``bertscore_concepts``: soft edge F1 through a one-to-one node assignment, and
  concept F1 with BERTScore node similarity (:mod:`fcmatch.judge.semantic`).
- ``sign_agreement``, ``node_coverage``, ``direction_f1``, ``graph_edit``: graph structure
  (:mod:`fcmatch.judge.structure`).
- ``grounding_lexical``, ``grounding_embedding``, ``degenerate`` and the floor ``edge_count`` ("more
  edges wins"): reference-free (:mod:`fcmatch.judge.grounding`).
- ``learned``: a logistic (Bradley-Terry) model on feature differences of two maps, trained on
  verdicts (:mod:`fcmatch.judge.learned`).
- ``llm_judge``: the embedded SmolLM2 asked which of two maps fits the sentence better
  (:mod:`fcmatch.judge.llm_judge`); optional (run only when named: one forward pass per ordered pair),
  ``llm_judge_sample`` the same on 6 sampled pairs per sentence.

Empty maps: both empty scores 1, one empty 0 (the convention of :mod:`fcmatch.evaluate.graph`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fcmatch.data.causal_map import CausalMap, normalize_concept
from fcmatch.evaluate.graph import compare_maps
from fcmatch.evaluate.matching import MATCHERS
from fcmatch.judge import grounding, semantic, structure
from fcmatch.judge.judgements import JudgementData
from fcmatch.judge.learned import LearnedMeasure
from fcmatch.judge.llm_judge import ModelJudge
from fcmatch.judge.quality import coverage, quality_f1
from fcmatch.judge.semantic import distinct_edges, node_similarity, soft_f1_of
from fcmatch.judge.tables import GridFamily, Sentence

Settings = dict[str, Any]


@dataclass(frozen=True)
class Measure:
    """A map-vs-map score with the settings grid that cross-validation chooses from.

    Attributes:
        name: registry key.
        score: ``(reference, candidate, settings) -> float`` in [0, 1].
        grid: candidate settings; a one-element grid means nothing is tuned.
        description: one line for the docs and the report table.
        prepare: optional ``(maps) -> None`` run once with every map before scoring (batches the
            MiniLM encoding).
        reference_free: the score ignores the reference (scored once per item).
        optional: left out of a run unless named.
    """

    name: str
    score: Callable[[CausalMap, CausalMap, Settings], float]
    grid: list[Settings] = field(default_factory=lambda: [{}])
    description: str = ""
    prepare: Callable[[list[CausalMap]], None] | None = None
    reference_free: bool = False
    optional: bool = False

    def family(self, data: JudgementData, sentences: dict[str, Sentence],
               params: dict[str, Any] | None = None) -> GridFamily:
        """This measure on one study; with ``params`` (a frozen fit) only their settings are scored."""
        measure = self if params is None else replace(self, grid=[params["settings"]])
        return GridFamily(measure, data, sentences)


def _grid(**axes: list[Any]) -> list[Settings]:
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def _graph_f1(matcher: str) -> Callable[[CausalMap, CausalMap, Settings], float]:
    def score(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
        return compare_maps(reference, candidate, matcher, settings.get("threshold")).f1

    return score




def edge_similarity(reference: CausalMap, candidate: CausalMap, settings: Settings) -> np.ndarray:
    """(reference edges x candidate edges) soft edge similarities, as described in the module docstring."""
    ref, cand = distinct_edges(reference), distinct_edges(candidate)
    if not ref or not cand:
        return np.zeros((len(ref), len(cand)))
    ref_nodes = list(dict.fromkeys(x for c, e, _ in ref for x in (c, e)))
    cand_nodes = list(dict.fromkeys(x for c, e, _ in cand for x in (c, e)))
    node = node_similarity(ref_nodes, cand_nodes, settings)
    ri = {x: k for k, x in enumerate(ref_nodes)}
    ci = {x: k for k, x in enumerate(cand_nodes)}
    rc, re_, rs = (np.array(v) for v in zip(*[(ri[c], ri[e], s) for c, e, s in ref], strict=True))
    cc, ce, cs = (np.array(v) for v in zip(*[(ci[c], ci[e], s) for c, e, s in cand], strict=True))
    sim = node[np.ix_(rc, cc)] * node[np.ix_(re_, ce)]
    return sim * np.where(rs[:, None] == cs[None, :], 1.0, settings.get("sign_credit", 0.0))


def soft_f1(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Similarity-weighted edge F1 (module docstring)."""
    return soft_f1_of(edge_similarity(reference, candidate, settings))


def concept_f1(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Similarity-weighted F1 over the distinct (normalised) concepts of the two maps."""
    ref = list(dict.fromkeys(normalize_concept(x) for x in reference.concepts))
    cand = list(dict.fromkeys(normalize_concept(x) for x in candidate.concepts))
    if not ref or not cand:
        return soft_f1_of(np.zeros((len(ref), len(cand))))
    return soft_f1_of(node_similarity(ref, cand, settings))


def blend(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """``(1 - w) * soft_f1 + w * concept_f1`` with ``w = settings["concept_weight"]``."""
    w = settings.get("concept_weight", 0.5)
    return (1 - w) * soft_f1(reference, candidate, settings) + w * concept_f1(reference, candidate, settings)


def _prepare_embeddings(maps: list[CausalMap]) -> None:
    MATCHERS["embedding"].prepare([c for m in maps for c in m.concepts])


def _prepare_spans(maps: list[CausalMap]) -> None:
    _prepare_embeddings(maps)
    grounding.prepare_spans(list(dict.fromkeys(m.text for m in maps)))


def _size(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    return coverage(reference, candidate)


def fixed(measure: Measure, **settings: Any) -> Measure:
    """``measure`` with a one-point grid: nothing tuned (the learned measure's features)."""
    return replace(measure, grid=[settings])


_THRESHOLDS = {
    "exact": [1.0],
    "fuzzy": [0.5, 0.6, 0.7, 0.8, 0.9],
    "token": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    "embedding": [0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "paper": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
}

MEASURES: dict[str, Measure | LearnedMeasure | ModelJudge] = {
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
_NEW_FAMILIES = [
    Measure("soft_match", semantic.soft_match, _grid(nodes=["embedding"], floor=[0.3, 0.5, 0.7], sign_credit=[0.0, 0.5]),
            "soft edge F1 through a one-to-one MiniLM node assignment", _prepare_embeddings),
    Measure("bertscore_concepts", semantic.bertscore_concepts, _grid(floor=[0.0, 0.6, 0.8]),
            "soft F1 over concepts, BERTScore (MiniLM) node similarity, one-to-one", semantic.prepare_bertscore),
    Measure("sign_agreement", structure.sign_agreement, _grid(nodes=["embedding"], floor=[0.5, 0.7]),
            "share of lined-up edges (MiniLM one-to-one nodes) with the reference's sign", _prepare_embeddings),
    Measure("node_coverage", structure.node_coverage, _grid(nodes=["embedding"], floor=[0.5, 0.7]),
            "share of the reference's concepts assigned a candidate concept (MiniLM, one-to-one)", _prepare_embeddings),
    Measure("direction_f1", structure.direction_f1,
            _grid(nodes=["embedding"], threshold=[0.5, 0.7], penalty=[0.0, 0.5, 1.0]),
            "graph F1 times (1 - penalty * share of candidate edges that reverse a reference edge)",
            _prepare_embeddings),
    Measure("graph_edit", structure.graph_edit, _grid(nodes=["embedding"], sign_cost=[0.5, 1.0]),
            "1 - normalised graph edit distance (networkx; node substitution 1 - MiniLM cosine)", _prepare_embeddings),
    Measure("grounding_lexical", grounding.grounding_lexical, [{}],
            "reference-free: share of concept words (stemmed) found in the sentence", reference_free=True),
    Measure("grounding_embedding", grounding.grounding_embedding, [{}],
            "reference-free: mean best MiniLM cosine of each concept with a span of the sentence",
            _prepare_spans, reference_free=True),
    Measure("degenerate", grounding.degenerate, [{}],
            "reference-free: share of edges that are not self-loops, both-sign pairs or two-cycles", reference_free=True),
    Measure("edge_count", grounding.edge_count, [{}], "floor: more distinct edges wins (n / (n + 1))",
            reference_free=True),
]
MEASURES.update({m.name: m for m in _NEW_FAMILIES})

# features at each matcher's documented default (nothing tuned per feature); which set and how much
# shrinkage is chosen inside the training folds
_FEATURES = {
    "f1": fixed(MEASURES["f1_embedding"], threshold=0.7),
    "soft_match": fixed(MEASURES["soft_match"], nodes="embedding", floor=0.5, sign_credit=0.5),
    "concept_f1": fixed(MEASURES["concept_f1"], nodes="embedding", floor=0.5),
    "bertscore_concepts": fixed(MEASURES["bertscore_concepts"], floor=0.0),
    "sign_agreement": fixed(MEASURES["sign_agreement"], nodes="embedding", floor=0.5),
    "node_coverage": fixed(MEASURES["node_coverage"], nodes="embedding", floor=0.5),
    "direction": Measure("direction", structure.direction_ok, [{"nodes": "embedding", "threshold": 0.7}],
                         prepare=_prepare_embeddings),
    "graph_edit": fixed(MEASURES["graph_edit"], nodes="embedding", sign_cost=1.0),
    "size": Measure("size", _size, [{}]),
    "grounding_lexical": MEASURES["grounding_lexical"],
    "grounding_embedding": MEASURES["grounding_embedding"],
    "degenerate": MEASURES["degenerate"],
    "edge_count": MEASURES["edge_count"],
}
_AGREEMENT = ["f1", "soft_match", "concept_f1", "bertscore_concepts", "sign_agreement", "node_coverage",
              "direction", "graph_edit", "size"]
_QUALITY = ["grounding_lexical", "grounding_embedding", "degenerate", "edge_count"]
MEASURES["learned"] = LearnedMeasure(
    "learned",
    _FEATURES,
    {"agreement": _AGREEMENT, "quality": _QUALITY, "all": _AGREEMENT + _QUALITY},
    ridges=[1.0, 10.0, 100.0],
    description="logistic model on feature differences of the two maps, trained on verdicts",
)
MEASURES["llm_judge"] = ModelJudge()
# 6 of the 45 pairs per sentence: 120 forward passes (~27k tokens) instead of 900
MEASURES["llm_judge_sample"] = ModelJudge("llm_judge_sample", max_pairs=6,
                                          description="the model judge on 6 sampled pairs per sentence")
