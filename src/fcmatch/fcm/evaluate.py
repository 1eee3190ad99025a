"""``fcmatch fcm evaluate``: a predicted corpus map against the gold one built from the same sentences.

A second view of extraction quality, closer to what users consume than per-sentence F1:

- **concept clusters** are matched one-to-one (Hungarian, :func:`fcmatch.evaluate.matching.assign`): a gold
  and a predicted cluster score 1 when they share a normalised surface form, else the MiniLM cosine of
  their canonical names; pairs at >= ``match_threshold`` may match. Concept P/R/F1 count matched clusters.
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
from fcmatch.fcm.merge import Embedder

log = logging.getLogger(__name__)


def _prf(hits: int, pred: int, gold: int) -> dict[str, float]:
    p = hits / pred if pred else 0.0
    r = hits / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "hits": hits,
            "pred": pred, "gold": gold}


def match_concepts(gold: CorpusMap, pred: CorpusMap, threshold: float,
                   embedder: Embedder | None = None) -> dict[str, str]:
    """Predicted concept id -> gold concept id, one-to-one (see the module docstring)."""
    from fcmatch.evaluate.matching import assign

    g_ids, p_ids = list(gold.concepts), list(pred.concepts)
    if not g_ids or not p_ids:
        return {}
    if embedder is None:
        from fcmatch.evaluate.encoder import embed as embedder  # noqa: N813
    g_vec = np.asarray(embedder([normalize_concept(gold.name(c)) for c in g_ids]), dtype=np.float64)
    p_vec = np.asarray(embedder([normalize_concept(pred.name(c)) for c in p_ids]), dtype=np.float64)
    sim = np.clip(g_vec @ p_vec.T, 0.0, 1.0)
    owner = {normalize_concept(f): i for i, c in enumerate(g_ids) for f in gold.concepts[c].forms}
    for j, c in enumerate(p_ids):
        for f in pred.concepts[c].forms:
            i = owner.get(normalize_concept(f))
            if i is not None:
                sim[i, j] = 1.0
    return {p_ids[j]: g_ids[i] for i, j, _ in assign(sim, threshold, True)}


def _correlations(x: Sequence[float], y: Sequence[float]) -> dict[str, float | None]:
    from scipy.stats import pearsonr, spearmanr

    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return {"pearson": None, "spearman": None, "n": len(x)}
    return {"pearson": float(pearsonr(x, y)[0]), "spearman": float(spearmanr(x, y)[0]), "n": len(x)}


def compare(gold: CorpusMap, pred: CorpusMap, match_threshold: float = 0.7,
            embedder: Embedder | None = None) -> dict[str, object]:
    """Concept-cluster, edge (with and without sign) and weight agreement of two corpus maps."""
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


def plot_pair(gold: CorpusMap, pred: CorpusMap, path: str | Path, max_nodes: int = 35) -> Path:
    """Gold and predicted corpus maps side by side (their best connected concepts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fcmatch.data.formats import atomic_write
    from fcmatch.fcm.export import draw

    fig, axes = plt.subplots(1, 2, figsize=(18, 9))
    for ax, corpus, name in ((axes[0], gold, "gold"), (axes[1], pred, "predicted")):
        draw(corpus, path, max_nodes, 0.0, f"{name}: {len(corpus.concepts)} concepts, {len(corpus.edges)} edges "
             f"(top {max_nodes} concepts drawn)", ax=ax)
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
    metrics = compare(gold, pred, config.match_threshold)
    save_corpus(gold, out / "gold.json")
    save_corpus(pred, out / "pred.json")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    plot_pair(gold, pred, out / "compare.png")
    save_beside(config, out)
    return metrics
