"""Semantic node similarity and soft matching of two causal maps through a one-to-one node assignment.

Node similarities: every matcher of :data:`fcmatch.evaluate.matching.MATCHERS` (``embedding`` is the
MiniLM cosine) plus ``bertscore``, the BERTScore F1 (Zhang et al. 2020, the ``bert-score`` package)
of two concepts with the same embedded all-MiniLM-L6-v2 encoder: each word piece of one concept is
matched to its most similar word piece of the other by contextual cosine, so "heavy rainfall" and
"rain" share credit through their best-matching pieces rather than one pooled vector.

:func:`soft_match` assigns the two maps' concepts one-to-one (Hungarian, maximising total similarity
above a floor) and credits a reference edge ``(c, e, s)`` with ``sim(c, c') * sim(e, e')`` when the
candidate has an edge ``(c', e')`` between the assigned concepts, times ``sign_credit`` when its sign
differs; edges are then assigned one-to-one, so a candidate edge counts once. Soft P = TP / |candidate
edges|, R = TP / |reference edges|.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from fcmatch.data.causal_map import CausalMap, normalize_concept
from fcmatch.evaluate.matching import MATCHERS

Settings = dict[str, Any]
BERTSCORE_BATCH = 64


@functools.cache
def _bertscorer() -> Any:
    from bert_score import BERTScorer

    from fcmatch.models import encoder_path, quiet_loading

    with quiet_loading():
        # all 6 layers of MiniLM: bert-score's default layer table has no entry for a local folder
        return BERTScorer(model_type=str(encoder_path()), num_layers=6, lang="en")


_BERTSCORE: dict[tuple[str, str], float] = {}


def bertscore_similarity(gold: list[str], pred: list[str]) -> np.ndarray:
    """BERTScore F1 of every (gold, pred) pair of normalised concepts, clipped to [0, 1], cached per pair."""
    bertscore_similarity_pairs([a for a in gold for _ in pred], [b for _ in gold for b in pred])
    g = [normalize_concept(x) for x in gold]
    p = [normalize_concept(x) for x in pred]
    return np.array([[_BERTSCORE[(a, b)] for b in p] for a in g], dtype=np.float64).reshape(len(g), len(p))


def prepare_bertscore(maps: list[CausalMap]) -> None:
    """Score every pair of concepts that share a sentence in one call: bert-score embeds each distinct
    string once per call, so one call per map pair would re-embed the same concepts ~90 times."""
    by_text: dict[str, set[str]] = {}
    for m in maps:
        by_text.setdefault(m.text, set()).update(m.concepts)
    gold = [a for concepts in by_text.values() for a in sorted(concepts) for _ in sorted(concepts)]
    pred = [b for concepts in by_text.values() for _ in sorted(concepts) for b in sorted(concepts)]
    if gold:
        bertscore_similarity_pairs(gold, pred)


def bertscore_similarity_pairs(gold: list[str], pred: list[str]) -> None:
    """Fill the cache for the (gold[k], pred[k]) pairs of normalised concepts."""
    todo = list(dict.fromkeys((normalize_concept(a), normalize_concept(b)) for a, b in zip(gold, pred, strict=True)))
    todo = [t for t in todo if t not in _BERTSCORE]
    if todo:
        _, _, f1 = _bertscorer().score([b for _, b in todo], [a for a, _ in todo], batch_size=BERTSCORE_BATCH)
        _BERTSCORE.update(zip(todo, np.clip(f1.numpy().astype(np.float64), 0.0, 1.0).tolist(), strict=True))


def node_similarity(gold: list[str], pred: list[str], settings: Settings) -> np.ndarray:
    """(gold x pred) similarities under ``settings["nodes"]`` (a matcher name or ``bertscore``; default
    ``embedding``), zeroed below ``settings["floor"]`` (default 0)."""
    name = settings.get("nodes", "embedding")
    if not gold or not pred:
        return np.zeros((len(gold), len(pred)))
    sim = bertscore_similarity(gold, pred) if name == "bertscore" else MATCHERS[name].similarity(gold, pred)
    return np.where(sim >= settings.get("floor", 0.0), sim, 0.0)


def prepare(concepts: list[str], nodes: str = "embedding") -> None:
    """Batch the encoder work for ``concepts`` up front (only the MiniLM matcher caches per string)."""
    if nodes == "embedding":
        MATCHERS["embedding"].prepare(concepts)


def soft_f1_of(similarity: np.ndarray) -> float:
    """Soft F1 of a (reference x candidate) similarity matrix under a one-to-one assignment; both empty 1."""
    n_ref, n_cand = similarity.shape
    if n_ref == 0 and n_cand == 0:
        return 1.0
    if n_ref == 0 or n_cand == 0:
        return 0.0
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    tp = float(similarity[rows, cols].sum())
    return 2 * tp / (n_ref + n_cand)  # = 2PR / (P + R) with P = tp / n_cand, R = tp / n_ref


def distinct_edges(cmap: CausalMap) -> list[tuple[str, str, int]]:
    """The map's edges as distinct (normalised cause, normalised effect, sign) triples, in order."""
    return list(dict.fromkeys(e.key() for e in cmap.edges))


def nodes_of(edges: list[tuple[str, str, int]]) -> list[str]:
    """Distinct concepts of a list of edge triples, in order of appearance."""
    return list(dict.fromkeys(x for c, e, _ in edges for x in (c, e)))


def assign_nodes(reference: CausalMap, candidate: CausalMap, settings: Settings) -> dict[str, tuple[str, float]]:
    """One-to-one node assignment: reference concept -> (candidate concept, similarity), similarity > 0.

    Similarity from :func:`node_similarity`; pairs below ``settings["floor"]`` never match.
    """
    ref, cand = nodes_of(distinct_edges(reference)), nodes_of(distinct_edges(candidate))
    sim = node_similarity(ref, cand, settings)
    if sim.size == 0:
        return {}
    rows, cols = linear_sum_assignment(sim, maximize=True)
    return {ref[i]: (cand[j], float(sim[i, j])) for i, j in zip(rows, cols, strict=True) if sim[i, j] > 0}


def soft_match(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Soft edge F1 through a one-to-one node assignment (module docstring).

    Args:
        reference: the map to agree with.
        candidate: the map graded.
        settings: ``nodes`` (default ``embedding``), ``floor`` (default 0), ``sign_credit`` (default 0).

    Returns:
        A value in [0, 1]; both maps empty 1, one empty 0.
    """
    ref, cand = distinct_edges(reference), distinct_edges(candidate)
    if not ref or not cand:
        return soft_f1_of(np.zeros((len(ref), len(cand))))
    mapping = assign_nodes(reference, candidate, settings)
    credit = settings.get("sign_credit", 0.0)
    sim = np.zeros((len(ref), len(cand)))
    where = {}
    for j, (c, e, s) in enumerate(cand):
        where.setdefault((c, e), []).append((j, s))
    for i, (c, e, s) in enumerate(ref):
        if c in mapping and e in mapping:
            (c2, sc), (e2, se) = mapping[c], mapping[e]
            for j, s2 in where.get((c2, e2), []):
                sim[i, j] = sc * se * (1.0 if s == s2 else credit)
    return soft_f1_of(sim)


def bertscore_concepts(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Soft F1 over the distinct concepts of the two maps with BERTScore node similarity, one-to-one."""
    ref = list(dict.fromkeys(normalize_concept(x) for x in reference.concepts))
    cand = list(dict.fromkeys(normalize_concept(x) for x in candidate.concepts))
    return soft_f1_of(node_similarity(ref, cand, {**settings, "nodes": "bertscore"}))
