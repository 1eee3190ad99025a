"""``fcmatch fcm evaluate``: a predicted corpus map against the gold one built from the same sentences.

A second view of extraction quality, closer to what users consume than per-sentence F1:

- **concept clusters** are matched one-to-one (Hungarian, :func:`fcmatch.evaluate.matching.assign`): first
  the clusters that share a normalised surface form, then the rest by the MiniLM cosine of their canonical
  names at >= ``match_threshold`` (:func:`match_concepts`). Concept P/R/F1 count matched clusters.
- **corpus edges**: each predicted edge is translated through the concept matching; an edge is right when
  the gold corpus map has the same (cause, effect) and, for "with sign", the same majority sign.
- **weights**: Pearson and Spearman correlation of the edge weights over the union of gold and translated
  predicted edges (an edge missing on one side has weight 0 there), and over the shared edges only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fcmatch.data.causal_map import normalize_concept
from fcmatch.fcm.build import build_corpus, read_sources
from fcmatch.fcm.config import CorpusEvaluateConfig
from fcmatch.fcm.corpus import CorpusMap, save_corpus
from fcmatch.fcm.merge import Embedder, default_embedder

log = logging.getLogger(__name__)


def _prf(hits: int, pred: int, gold: int) -> dict[str, float]:
    p = hits / pred if pred else 0.0
    r = hits / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "hits": hits,
            "pred": pred, "gold": gold}


def match_concepts(gold: CorpusMap, pred: CorpusMap, threshold: float,
                   embedder: Embedder | None = None) -> dict[str, str]:
    """Predicted concept id -> gold concept id, one-to-one, in two rounds.

    1. Clusters that share a normalised surface form are matched first (Hungarian on the number of
       occurrences they share), so an exact match is never traded for two near ones.
    2. The clusters left are matched on the MiniLM cosine of their canonical names (Hungarian over the
       pairs at >= ``threshold``).
    """
    from fcmatch.evaluate.matching import assign

    g_ids, p_ids = list(gold.concepts), list(pred.concepts)
    if not g_ids or not p_ids:
        return {}
    owner = {normalize_concept(f): i for i, c in enumerate(g_ids) for f in gold.concepts[c].forms}
    shared = np.zeros((len(g_ids), len(p_ids)))
    for j, c in enumerate(p_ids):
        for f, n in pred.concepts[c].forms.items():
            i = owner.get(normalize_concept(f))
            if i is not None:
                shared[i, j] += n
    top = shared.max()
    pairs = [(i, j) for i, j, _ in assign(shared / top, 1e-9, True)] if top > 0 else []
    rows = [i for i in range(len(g_ids)) if i not in {i for i, _ in pairs}]
    cols = [j for j in range(len(p_ids)) if j not in {j for _, j in pairs}]
    if rows and cols:
        embedder = embedder or default_embedder(None)
        g_vec = np.asarray(embedder([normalize_concept(gold.name(g_ids[i])) for i in rows]), dtype=np.float64)
        p_vec = np.asarray(embedder([normalize_concept(pred.name(p_ids[j])) for j in cols]), dtype=np.float64)
        sim = np.clip(g_vec @ p_vec.T, 0.0, 1.0)
        pairs += [(rows[a], cols[b]) for a, b, _ in assign(sim, threshold, True)]
    return {p_ids[j]: g_ids[i] for i, j in pairs}


def _correlations(x: Sequence[float], y: Sequence[float]) -> dict[str, float | None]:
    from scipy.stats import pearsonr, spearmanr

    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return {"pearson": None, "spearman": None, "n": len(x)}
    return {"pearson": float(pearsonr(x, y)[0]), "spearman": float(spearmanr(x, y)[0]), "n": len(x)}


def compare(gold: CorpusMap, pred: CorpusMap, match_threshold: float = 0.7, embedder: Embedder | None = None,
            mapping: dict[str, str] | None = None) -> dict[str, object]:
    """Concept-cluster, edge (with and without sign) and weight agreement of two corpus maps.

    Args:
        gold, pred: the corpus maps.
        match_threshold: see :func:`match_concepts`.
        embedder: texts -> unit vectors; default MiniLM.
        mapping: a concept matching already computed by :func:`match_concepts` (then nothing is embedded).
    """
    if mapping is None:
        mapping = match_concepts(gold, pred, match_threshold, embedder)
    gp, pp = gold.weight_prior, pred.weight_prior
    gold_edges = {(e.cause, e.effect): e for e in gold.edges}
    translated: dict[tuple[str, str], list] = {}
    for e in pred.edges:
        key = (mapping.get(e.cause, "pred:" + e.cause), mapping.get(e.effect, "pred:" + e.effect))
        translated.setdefault(key, []).append(e)
    hits = sum(1 for k in translated if k in gold_edges)
    signed = sum(1 for k, es in translated.items() if k in gold_edges
                 and max(es, key=lambda e: e.count).sign == gold_edges[k].sign)
    union = sorted(set(gold_edges) | set(translated))
    g_w = [gold_edges[k].weight(gp) if k in gold_edges else 0.0 for k in union]
    p_w = [max((e.weight(pp) for e in translated[k]), key=abs) if k in translated else 0.0 for k in union]
    shared = [i for i, k in enumerate(union) if k in gold_edges and k in translated]
    return {
        "gold": {"concepts": len(gold.concepts), "edges": len(gold.edges), "sentences": gold.meta.get("sentences")},
        "pred": {"concepts": len(pred.concepts), "edges": len(pred.edges), "sentences": pred.meta.get("sentences")},
        "concepts": _prf(len(mapping), len(pred.concepts), len(gold.concepts)),
        "edges": _prf(hits, len(translated), len(gold_edges)),
        "edges_with_sign": _prf(signed, len(translated), len(gold_edges)),
        "weight_correlation_union": _correlations(g_w, p_w),
        "weight_correlation_shared": _correlations([g_w[i] for i in shared], [p_w[i] for i in shared]),
        "match_threshold": match_threshold,
    }


def plot_pair(gold: CorpusMap, pred: CorpusMap, mapping: dict[str, str], path: str | Path,
              max_nodes: int = 30) -> Path:
    """Gold and predicted corpus maps side by side on the same layout: the gold map's ``max_nodes`` best
    connected concepts, and on the right the predicted concepts matched to them (``mapping``: predicted id
    -> gold id), each drawn where its gold counterpart is, so an edge in the same place is an agreement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fcmatch.data.formats import atomic_write
    from fcmatch.fcm.export import draw, layout, top_concepts

    nodes, edges = top_concepts(gold, max_nodes)
    pos = layout(gold, nodes, edges)
    counterpart = {g: p for p, g in mapping.items() if g in pos}
    fig, axes = plt.subplots(1, 2, figsize=(18, 9))
    draw(gold, path, title=f"gold: the {len(pos)} best connected of {len(gold.concepts)} concepts "
         f"({len(gold.edges)} edges in all)", ax=axes[0], nodes=set(pos), pos=pos)
    draw(pred, path, title=f"predicted: the concepts matched to those ({len(counterpart)}), at the same places "
         f"({len(pred.concepts)} concepts, {len(pred.edges)} edges in all)", ax=axes[1],
         nodes=set(counterpart.values()), pos={p: pos[g] for g, p in counterpart.items()})
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format=Path(path).suffix.lstrip(".") or "png", dpi=100)
    plt.close(fig)
    return Path(path)


def run_evaluate(config: CorpusEvaluateConfig) -> dict[str, object]:
    """Run ``fcmatch fcm evaluate``: build both corpus maps, compare, write gold.json, pred.json,
    metrics.json, compare.png and the config into ``config.out_dir``."""
    from fcmatch.config import save_beside

    out = Path(config.out_dir)
    gold = build_corpus(read_sources([f"gold={config.gold}"]), config.merge, config.weight_prior)
    pred = build_corpus(read_sources([f"pred={config.pred}"]), config.merge, config.weight_prior)
    from fcmatch.data.formats import atomic_write

    mapping = match_concepts(gold, pred, config.match_threshold, default_embedder(config.merge.encoder))
    metrics = compare(gold, pred, config.match_threshold, mapping=mapping)
    save_corpus(gold, out / "gold.json")
    save_corpus(pred, out / "pred.json")
    with atomic_write(out / "metrics.json") as handle:
        handle.write(json.dumps(metrics, indent=1) + "\n")
    plot_pair(gold, pred, mapping, out / "compare.png")
    save_beside(config, out)
    return metrics
