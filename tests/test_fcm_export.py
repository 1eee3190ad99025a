"""fcmatch.fcm.export and .html: GraphML, GEXF, JSON and CSV round trips, the matrix CSV, the drawings and the
interactive page (self-contained and linked-asset forms)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from fcmatch.fcm.build import build_corpus
from fcmatch.fcm.config import MergeSettings
from fcmatch.fcm.corpus import CorpusMap, Evidence, load_corpus
from fcmatch.fcm.export import (
    export,
    read_gexf,
    read_graphml,
    read_matrix_csv,
    top_concepts,
    write_edges_csv,
    write_gexf,
    write_graphml,
    write_matrix_csv,
)
from fcmatch.fcm.html import page_data, render_html
from fcmatch.fcm.inference import weight_matrix
from test_fcm_build import MAPS, fake_embed


@pytest.fixture
def corpus() -> CorpusMap:
    corpus = build_corpus(MAPS, MergeSettings(threshold=0.9), embedder=fake_embed)
    # a sentence that would close a script element, and unicode, must survive every format
    corpus.edges[0].evidence.append(Evidence('Rain </script><!-- "x" & é', "rain", "yield", 1, "annotator B"))
    return corpus


def _same(a: CorpusMap, b: CorpusMap) -> None:
    assert {c.id: (c.name, c.forms) for c in a.concepts.values()} == {c.id: (c.name, c.forms)
                                                                      for c in b.concepts.values()}
    assert [(e.cause, e.effect, e.evidence) for e in a.edges] == [(e.cause, e.effect, e.evidence) for e in b.edges]


def test_graphml_round_trip(corpus, tmp_path):
    back = read_graphml(write_graphml(corpus, tmp_path / "c.graphml"))
    _same(corpus, back)
    assert back.meta == corpus.meta


def test_gexf_round_trip(corpus, tmp_path):
    path = write_gexf(corpus, tmp_path / "c.gexf")
    _same(corpus, read_gexf(path))
    assert "<gexf" in path.read_text(encoding="utf-8")


def test_graph_attributes_for_gephi(corpus, tmp_path):
    import networkx as nx

    g = nx.read_graphml(write_graphml(corpus, tmp_path / "c.graphml"))
    e = corpus.edges[0]
    data = g.edges[e.cause, e.effect]
    assert data["weight"] == pytest.approx(e.weight(1.0)) and data["count"] == e.count
    assert data["conflict"] == e.conflict and g.nodes[e.cause]["label"] == corpus.name(e.cause)


def test_edges_csv(corpus, tmp_path):
    with open(write_edges_csv(corpus, tmp_path / "e.csv"), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(corpus.edges)
    first = corpus.edges[0]
    assert rows[0]["cause"] == corpus.name(first.cause) and int(rows[0]["count"]) == first.count
    assert float(rows[0]["weight"]) == pytest.approx(first.weight(1.0), abs=1e-6)
    assert rows[0]["sources"] == "annotator B;model" and rows[0]["conflict"] == "True"


def test_matrix_csv(corpus, tmp_path):
    names, rows = read_matrix_csv(write_matrix_csv(corpus, tmp_path / "m.csv"))
    ids, w = weight_matrix(corpus)
    assert names == [corpus.name(c) for c in ids]
    assert np.allclose(rows, w, atol=1e-5)


def test_top_concepts_and_min_weight(corpus):
    nodes, edges = top_concepts(corpus, max_nodes=2, min_weight=0.0)
    assert len(nodes) == 2 and all(e.cause in nodes and e.effect in nodes for e in edges)
    _, strong = top_concepts(corpus, max_nodes=10, min_weight=0.45)
    assert [round(abs(e.weight(1.0)), 2) for e in strong] == [0.5]


def test_html_page_is_self_contained_and_escaped(corpus):
    page = render_html(corpus, 0.2)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert "<script>" in page and "</script><!--" not in page
    start = page.index('id="data">') + len('id="data">')
    data = json.loads(page[start:page.index("</script>", start)])
    assert data == json.loads(json.dumps(page_data(corpus)))
    assert data["sources"] == ["annotator B", "model"]


def test_html_page_with_linked_assets(corpus):
    page = render_html(corpus, assets="/fcm/assets")
    assert '<script src="/fcm/assets/fcm.js"></script>' in page and "<style>" not in page
    assert "<script>" not in page  # nothing inline to execute: fits a script-src 'self' policy


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_drawings(corpus, tmp_path, fmt):
    (path,) = export(corpus, tmp_path, [fmt])
    head = path.read_bytes()[:200]
    assert head.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in path.read_bytes()[:2000]


def test_export_all_formats(corpus, tmp_path):
    from fcmatch.fcm.config import EXPORTS

    paths = export(corpus, tmp_path / "out", list(EXPORTS))
    assert sorted(p.name for p in paths) == sorted(["corpus.graphml", "corpus.gexf", "corpus.json",
                                                    "corpus.edges.csv", "corpus.matrix.csv", "corpus.html",
                                                    "corpus.png", "corpus.svg"])
    _same(corpus, load_corpus(tmp_path / "out" / "corpus.json"))
