"""``fcmatch fcm build``: many sentence maps (several files, any format) -> one corpus map with provenance.

Each input file is a source (a model run or an annotator): ``NAME=FILE`` names it, otherwise the file's
stem does; in a MATCH file the record's labeler is the source. A map's own ``source`` field (the corpus
or document it came from, e.g. ``habitus``) becomes the evidence's ``document``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from fcmatch.data.causal_map import CausalMap, normalize_concept
from fcmatch.data.formats import read_maps
from fcmatch.fcm.config import BuildConfig, MergeSettings
from fcmatch.fcm.corpus import Concept, CorpusEdge, CorpusMap, Evidence, save_corpus
from fcmatch.fcm.merge import Embedder, cluster_forms, read_merge_table

log = logging.getLogger(__name__)


def parse_input(item: str) -> tuple[str, str]:
    """``NAME=FILE`` -> (name, file); a bare ``FILE`` is named by its stem."""
    name, eq, path = item.partition("=")
    if eq and name and not Path(item).exists():
        return name, path
    return Path(item).stem, item


def read_sources(items: Sequence[str]) -> list[tuple[str, CausalMap]]:
    """(source, map) for every map of every input (``NAME=FILE`` or ``FILE``)."""
    out = []
    for item in items:
        name, path = parse_input(item)
        for cmap in read_maps(path):
            out.append((str(cmap.meta.get("labeler") or name), cmap))
    return out


def _span(sentence: str, concept: str) -> tuple[int, int] | None:
    start = sentence.lower().find(concept.lower())
    return None if start < 0 else (start, start + len(concept))


def _confidence(cmap: CausalMap) -> float:
    value = cmap.meta.get("confidence", 1.0)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 1.0


def build_corpus(
    maps: Sequence[tuple[str, CausalMap]],
    merge: MergeSettings | None = None,
    weight_prior: float = 1.0,
    embedder: Embedder | None = None,
) -> CorpusMap:
    """Merge sentence maps into one corpus map.

    Args:
        maps: (source, sentence map) pairs; the source is the model or annotator.
        merge: how concepts merge (threshold, linkage, codebook, reviewed table); default settings if None.
        weight_prior: the prior of the edge support ``n / (n + prior)``.
        embedder: texts -> unit vectors; default MiniLM (tests pass a fake).

    Returns:
        The corpus map; ``meta`` counts sentences, sentence edges and the self-loops merging created
        (an edge whose cause and effect fell into one concept is dropped and counted, not kept).
    """
    merge = merge or MergeSettings()
    forms: Counter = Counter()
    for _, cmap in maps:
        for edge in cmap.edges:
            forms[edge.cause] += 1
            forms[edge.effect] += 1
    codebook: list[str] = []
    if merge.codebook:
        codebook = list(dict.fromkeys(c for m in read_maps(merge.codebook) for c in m.concepts))
    fixed = read_merge_table(merge.merges) if merge.merges else None
    clusters = cluster_forms(forms, merge.threshold, merge.linkage, codebook, merge.codebook_threshold, fixed,
                             embedder, merge.encoder)
    concept_of = {normalize_concept(f): c.id for c in clusters for f in c.forms}
    concepts = {c.id: Concept(c.id, c.name, c.forms) for c in clusters}
    edges: dict[tuple[str, str], CorpusEdge] = {}
    loops = sentence_edges = 0
    for source, cmap in maps:
        for edge in cmap.edges:
            sentence_edges += 1
            cause, effect = concept_of[normalize_concept(edge.cause)], concept_of[normalize_concept(edge.effect)]
            if cause == effect:
                loops += 1
                continue
            evidence = Evidence(cmap.text, edge.cause, edge.effect, edge.sign, source, cmap.source,
                                _span(cmap.text, edge.cause), _span(cmap.text, edge.effect), _confidence(cmap))
            edges.setdefault((cause, effect), CorpusEdge(cause, effect)).evidence.append(evidence)
    unlisted = sorted({normalize_concept(f) for f in forms} - set(fixed)) if fixed else []
    meta = {
        "sentences": len(maps), "sentence_edges": sentence_edges, "self_loops_dropped": loops,
        "surface_forms": len({normalize_concept(f) for f in forms}), "concepts": len(concepts),
        "corpus_edges": len(edges), "conflicting_edges": sum(e.conflict for e in edges.values()),
        "sources": sorted({s for s, _ in maps}), "weight_prior": weight_prior,
        "merge": {"threshold": merge.threshold, "linkage": merge.linkage, "codebook": merge.codebook,
                  "codebook_threshold": merge.codebook_threshold, "merges": merge.merges,
                  "forms_not_in_table": len(unlisted)},
    }
    ordered = sorted(edges.values(), key=lambda e: (-e.count, e.cause, e.effect))
    return CorpusMap(concepts, ordered, meta)


def run_build(config: BuildConfig) -> CorpusMap:
    """Run ``fcmatch fcm build``: read the inputs, build, write the corpus map and its config beside it."""
    from fcmatch.config import save_beside

    maps = read_sources(config.inputs)
    corpus = build_corpus(maps, config.merge, config.weight_prior)
    corpus.meta["inputs"] = list(config.inputs)
    save_corpus(corpus, config.output)
    save_beside(config, config.output)
    m = corpus.meta
    log.info("%d sentences, %d sentence edges -> %d concepts (%d surface forms), %d corpus edges "
             "(%d with conflicting signs, %d self-loops dropped) -> %s", m["sentences"], m["sentence_edges"],
             m["concepts"], m["surface_forms"], m["corpus_edges"], m["conflicting_edges"],
             m["self_loops_dropped"], config.output)
    return corpus
