"""Graph-structure measures of a candidate causal map against a reference map.

Concepts are assigned one-to-one through :func:`fcmatch.judge.semantic.assign_nodes` (MiniLM cosine
by default, pairs below ``floor`` never match); then

- :func:`sign_agreement`: of the reference edges whose two ends map onto a candidate edge in the same
  direction (any sign), the share whose sign agrees; 0 when no edge lines up (no evidence of agreement).
- :func:`node_coverage`: share of the reference's concepts assigned to some candidate concept.
- :func:`direction_f1`: graph F1 (:func:`fcmatch.evaluate.graph.compare_maps`) times
  ``1 - penalty * swapped / candidate edges``, where a swapped edge is one whose reverse is a reference
  edge; graph F1 already counts it wrong, the penalty says a reversed claim is worse than a missing one.
- :func:`graph_edit`: ``1 - GED / (|V1| + |V2| + |E1| + |E2|)`` with networkx's graph edit distance
  (deleting one graph and inserting the other costs the denominator): node substitution ``1 - sim``,
  insertion and deletion 1; edge substitution ``sign_cost`` when the signs differ, insertion and
  deletion 1. Exact GED is exponential, so only the first edit path of networkx's depth-first search
  is taken: with no upper bound yet it never backtracks, so it costs one assignment per level
  (polynomial), is deterministic, and is an upper bound on the distance.

Both maps empty score 1; exactly one empty scores 0.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from fcmatch.data.causal_map import CausalMap
from fcmatch.evaluate.graph import compare_maps
from fcmatch.judge.semantic import assign_nodes, distinct_edges, node_similarity, nodes_of

Settings = dict[str, Any]


def _empty(reference: CausalMap, candidate: CausalMap) -> float | None:
    ref, cand = bool(distinct_edges(reference)), bool(distinct_edges(candidate))
    if ref and cand:
        return None
    return 1.0 if not ref and not cand else 0.0


def _lined_up(reference: CausalMap, candidate: CausalMap, settings: Settings) -> tuple[int, int]:
    """(reference edges lined up with a candidate edge in the same direction, those with the same sign)."""
    mapping = assign_nodes(reference, candidate, settings)
    signs: dict[tuple[str, str], set[int]] = {}
    for c, e, s in distinct_edges(candidate):
        signs.setdefault((c, e), set()).add(s)
    lined = agree = 0
    for c, e, s in distinct_edges(reference):
        if c in mapping and e in mapping:
            found = signs.get((mapping[c][0], mapping[e][0]))
            if found:
                lined += 1
                agree += s in found
    return lined, agree


def sign_agreement(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Share of lined-up edges with the same sign (module docstring); settings ``nodes``, ``floor``."""
    empty = _empty(reference, candidate)
    if empty is not None:
        return empty
    lined, agree = _lined_up(reference, candidate, settings)
    return agree / lined if lined else 0.0


def node_coverage(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Share of the reference's concepts assigned to a candidate concept; settings ``nodes``, ``floor``."""
    empty = _empty(reference, candidate)
    if empty is not None:
        return empty
    ref_nodes = nodes_of(distinct_edges(reference))
    return len(assign_nodes(reference, candidate, settings)) / len(ref_nodes)


def direction_f1(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Graph F1 with swapped edges penalised; settings ``nodes``, ``threshold``, ``penalty`` (default 1)."""
    counts = compare_maps(reference, candidate, settings.get("nodes", "embedding"), settings.get("threshold"))
    if counts.n_pred == 0:
        return counts.f1
    return counts.f1 * (1.0 - settings.get("penalty", 1.0) * counts.swapped / counts.n_pred)


def direction_ok(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """``1 - swapped / candidate edges`` (1 for an empty candidate); settings ``nodes``, ``threshold``."""
    counts = compare_maps(reference, candidate, settings.get("nodes", "embedding"), settings.get("threshold"))
    return 1.0 - counts.swapped / counts.n_pred if counts.n_pred else 1.0


def _digraph(edges: list[tuple[str, str, int]], offset: int) -> Any:
    import networkx as nx

    graph = nx.DiGraph()
    names = nodes_of(edges)
    for k in range(len(names)):
        graph.add_node(k + offset, index=k)
    index = {x: k + offset for k, x in enumerate(names)}
    for c, e, s in edges:
        # a pair given both signs is one edge of sign 0 here: a DiGraph holds one edge per ordered pair
        key = (index[c], index[e])
        graph.add_edge(*key, sign=0 if graph.has_edge(*key) and graph.edges[key]["sign"] != s else s)
    return graph


@functools.lru_cache(maxsize=100_000)
def _edit_similarity(ref: tuple, cand: tuple, nodes: str, sign_cost: float) -> float:
    import networkx as nx

    ref_edges, cand_edges = list(ref), list(cand)
    g1, g2 = _digraph(ref_edges, 0), _digraph(cand_edges, 10_000)
    sim = node_similarity(nodes_of(ref_edges), nodes_of(cand_edges), {"nodes": nodes})
    total = g1.number_of_nodes() + g2.number_of_nodes() + g1.number_of_edges() + g2.number_of_edges()
    # first path: 900 ordered pairs of ../shared/data/match in ~5 s; the second improving path took
    # over 15 minutes on the same pairs (the search then backtracks under the first path's bound)
    paths = nx.optimize_graph_edit_distance(
        g1, g2,
        node_subst_cost=lambda a, b: 1.0 - float(sim[a["index"], b["index"]]),
        node_del_cost=lambda a: 1.0, node_ins_cost=lambda a: 1.0,
        edge_subst_cost=lambda a, b: 0.0 if a["sign"] == b["sign"] else sign_cost,
        edge_del_cost=lambda a: 1.0, edge_ins_cost=lambda a: 1.0,
    )
    best = min(float(next(paths, total)), float(total))
    return float(np.clip(1.0 - best / total, 0.0, 1.0))


def graph_edit(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Normalised graph edit similarity (module docstring); settings ``nodes``, ``sign_cost`` (default 1)."""
    empty = _empty(reference, candidate)
    if empty is not None:
        return empty
    return _edit_similarity(tuple(distinct_edges(reference)), tuple(distinct_edges(candidate)),
                            settings.get("nodes", "embedding"), float(settings.get("sign_cost", 1.0)))
