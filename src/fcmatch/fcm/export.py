"""Exports of a corpus map: GraphML and GEXF (networkx; Gephi, Cytoscape, yEd), JSON with provenance, CSV
edge lists, a Mental Modeler-style adjacency matrix, and static PNG/SVG drawings (networkx + matplotlib).

GraphML and GEXF attributes must be scalars, so a node's surface forms and an edge's evidence travel as
JSON text attributes (``forms``, ``evidence``); :func:`graph_to_corpus` reads them back, so both formats
round-trip losslessly. Mental Modeler's native ``.mmp`` project format has no published specification, so
it is not written; the square weight matrix with concept names on the first row and column is the form its
matrix view shows and that FCM tools (FCMapper, the R ``fcm`` package) read.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from fcmatch.data.formats import atomic_write
from fcmatch.fcm.corpus import Concept, CorpusEdge, CorpusMap, Evidence, save_corpus


def corpus_to_graph(corpus: CorpusMap) -> Any:
    """A ``networkx.DiGraph``: nodes = concept ids (``label``, ``count``, ``forms``), edges with ``weight``,
    ``sign``, ``count``, ``positive``, ``negative``, ``conflict``, ``sources`` and ``evidence`` (JSON)."""
    import networkx as nx

    g = nx.DiGraph(weight_prior=corpus.weight_prior, meta=json.dumps(corpus.meta, ensure_ascii=False))
    for c in corpus.concepts.values():
        g.add_node(c.id, label=c.name, count=c.count, forms=json.dumps(c.forms, ensure_ascii=False))
    for e in corpus.edges:
        g.add_edge(e.cause, e.effect, weight=float(e.weight(corpus.weight_prior)), sign=int(e.sign), count=e.count,
                   positive=e.positive, negative=e.negative, conflict=bool(e.conflict), sources=";".join(e.sources),
                   evidence=json.dumps([v.to_dict() for v in e.evidence], ensure_ascii=False))
    return g


def graph_to_corpus(g: Any) -> CorpusMap:
    """Inverse of :func:`corpus_to_graph` (as read back from GraphML or GEXF)."""
    concepts = {str(n): Concept(str(n), str(d.get("label", n)), json.loads(d.get("forms") or "{}"))
                for n, d in g.nodes(data=True)}
    edges = [CorpusEdge(str(u), str(v), [Evidence.from_dict(x) for x in json.loads(d.get("evidence") or "[]")])
             for u, v, d in g.edges(data=True)]
    meta = json.loads(g.graph.get("meta") or "{}")
    return CorpusMap(concepts, edges, meta)


def write_graphml(corpus: CorpusMap, path: str | os.PathLike) -> Path:
    import networkx as nx

    with atomic_write(path, "wb") as handle:
        nx.write_graphml(corpus_to_graph(corpus), handle)
    return Path(path)


def read_graphml(path: str | os.PathLike) -> CorpusMap:
    import networkx as nx

    return graph_to_corpus(nx.read_graphml(path))


def write_gexf(corpus: CorpusMap, path: str | os.PathLike) -> Path:
    import networkx as nx

    g = corpus_to_graph(corpus)
    g.graph.pop("meta")  # GEXF keeps no graph attributes of this kind; the JSON export has them
    g.graph.pop("weight_prior")
    with atomic_write(path, "wb") as handle:
        nx.write_gexf(g, handle)
    return Path(path)


def read_gexf(path: str | os.PathLike) -> CorpusMap:
    import networkx as nx

    return graph_to_corpus(nx.read_gexf(path))


def write_edges_csv(corpus: CorpusMap, path: str | os.PathLike) -> Path:
    """One row per corpus edge (:meth:`CorpusMap.edge_rows`)."""
    rows = corpus.edge_rows()
    with atomic_write(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["cause", "effect", "weight"])
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def write_matrix_csv(corpus: CorpusMap, path: str | os.PathLike) -> Path:
    """The square weight matrix (scaled into [-1, 1]), concept names on the first row and column."""
    from fcmatch.fcm.inference import weight_matrix

    ids, w = weight_matrix(corpus)
    names = [corpus.name(c) for c in ids]
    with atomic_write(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *names])
        for name, row in zip(names, w, strict=True):
            writer.writerow([name, *(f"{x:.6g}" for x in row)])
    return Path(path)


def read_matrix_csv(path: str | os.PathLike) -> tuple[list[str], list[list[float]]]:
    """(names, rows) of a matrix written by :func:`write_matrix_csv`."""
    with open(path, encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    return table[0][1:], [[float(x) for x in row[1:]] for row in table[1:]]


def top_concepts(corpus: CorpusMap, max_nodes: int, min_weight: float = 0.0) -> tuple[set[str], list[CorpusEdge]]:
    """The ``max_nodes`` best connected concepts (summed |weight|) and the edges among them at >= min_weight."""
    prior = corpus.weight_prior
    kept = [e for e in corpus.edges if abs(e.weight(prior)) >= min_weight]
    strength: dict[str, float] = {}
    for e in kept:
        for end in (e.cause, e.effect):
            strength[end] = strength.get(end, 0.0) + abs(e.weight(prior))
    nodes = set(sorted(strength, key=lambda c: (-strength[c], c))[:max_nodes])
    return nodes, [e for e in kept if e.cause in nodes and e.effect in nodes]


def layout(corpus: CorpusMap, nodes: set[str], edges: list[CorpusEdge]) -> dict[str, tuple[float, float]]:
    """Kamada-Kawai positions (in [-1, 1]) of ``nodes`` linked by ``edges``; stable for a given map."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(sorted(nodes))
    g.add_edges_from((e.cause, e.effect) for e in edges)
    if len(g) < 3:
        return {n: (float(i), 0.0) for i, n in enumerate(g.nodes)}
    return {n: (float(x), float(y)) for n, (x, y) in nx.kamada_kawai_layout(g).items()}


def draw(corpus: CorpusMap, path: str | os.PathLike, max_nodes: int = 60, min_weight: float = 0.0,
         title: str = "", ax: Any = None, nodes: set[str] | None = None,
         pos: dict[str, tuple[float, float]] | None = None) -> Path | None:
    """A static drawing (PNG or SVG by extension): green = positive, red = negative, dashed = conflicting
    signs, width = |weight|, node size = how often the concept occurs.

    Args:
        corpus: the corpus map.
        path: the PNG or SVG file (unused with ``ax``).
        max_nodes: draw the best connected concepts only (:func:`top_concepts`), unless ``nodes`` is given.
        min_weight: leave out edges with a smaller |weight|.
        title: the title; default counts what is drawn.
        ax: a matplotlib axis to draw on instead of a new figure (then nothing is written).
        nodes: the concept ids to draw (concepts with no drawn edge are left out either way).
        pos: positions by concept id; default :func:`layout`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    prior = corpus.weight_prior
    if nodes is None:
        nodes, edges = top_concepts(corpus, max_nodes, min_weight)
    else:
        edges = [e for e in corpus.edges
                 if e.cause in nodes and e.effect in nodes and abs(e.weight(prior)) >= min_weight]
    linked = {end for e in edges for end in (e.cause, e.effect)}
    g = nx.DiGraph()
    g.add_nodes_from(sorted(linked))
    g.add_edges_from((e.cause, e.effect) for e in edges)
    pos = pos if pos is not None else layout(corpus, linked, edges)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(12, 9))
    sizes = [40 + 300 * min(corpus.concepts[n].count, 40) ** 0.5 for n in g.nodes]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=sizes, node_color="#dbe7f3", edgecolors="#4a6d8c")
    for style, pick in (("solid", lambda e: not e.conflict), ("dashed", lambda e: e.conflict)):
        chosen = [e for e in edges if pick(e)]
        nx.draw_networkx_edges(g, pos, ax=ax, edgelist=[(e.cause, e.effect) for e in chosen], style=style,
                               width=[0.5 + 3 * abs(e.weight(prior)) for e in chosen], arrowsize=10,
                               edge_color=["#2e7d32" if e.sign > 0 else "#c62828" for e in chosen],
                               node_size=sizes, connectionstyle="arc3,rad=0.08")
    labels = {n: corpus.name(n)[:28] for n in g.nodes}
    nx.draw_networkx_labels(g, pos, labels=labels, ax=ax, font_size=7)
    ax.set_title(title or f"{len(g)} of {len(corpus.concepts)} concepts, {len(edges)} edges")
    ax.axis("off")
    if not own:
        return None
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format=Path(path).suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    return Path(path)


def export(corpus: CorpusMap, out_dir: str | os.PathLike, formats: list[str], max_nodes: int = 60,
           min_weight: float = 0.0) -> list[Path]:
    """Write ``formats`` (see :data:`fcmatch.fcm.config.EXPORTS`) into ``out_dir`` as ``corpus.<ext>``."""
    from fcmatch.fcm.html import write_html

    out = Path(out_dir)
    writers = {
        "graphml": lambda: write_graphml(corpus, out / "corpus.graphml"),
        "gexf": lambda: write_gexf(corpus, out / "corpus.gexf"),
        "json": lambda: save_corpus(corpus, out / "corpus.json"),
        "csv": lambda: write_edges_csv(corpus, out / "corpus.edges.csv"),
        "mentalmodeler": lambda: write_matrix_csv(corpus, out / "corpus.matrix.csv"),
        "html": lambda: write_html(corpus, out / "corpus.html", min_weight),
        "png": lambda: draw(corpus, out / "corpus.png", max_nodes, min_weight),
        "svg": lambda: draw(corpus, out / "corpus.svg", max_nodes, min_weight),
    }
    return [writers[f]() for f in dict.fromkeys(formats)]
