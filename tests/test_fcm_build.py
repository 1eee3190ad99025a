"""fcmatch.fcm: merging sentence maps into a corpus map (hand-made maps with known clusters), evidence and
weights, the editable merge table, reading several inputs. A fake embedder stands in for MiniLM."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.data.formats import FormatError, write_jsonl
from fcmatch.fcm.build import build_corpus, parse_input, read_sources
from fcmatch.fcm.config import BuildConfig, MergeSettings
from fcmatch.fcm.corpus import CorpusMap, load_corpus, save_corpus
from fcmatch.fcm.merge import cluster_forms, corpus_clusters, read_merge_table, write_merge_table

# Hand-placed unit vectors: "rainfall"/"precipitation" are one concept (cos 0.96), "crop yield"/"harvest"
# another (cos 0.92); "income" ~ "household income" (cos 0.9) ~ "household size" (cos 0.9) while "income"
# and "household size" are far apart (cos 0.62): the chain single linkage merges and average does not.
_VECTORS = {
    "rainfall": [1.0, 0.0, 0.0, 0.0],
    "precipitation": [0.96, 0.28, 0.0, 0.0],
    "crop yield": [0.0, 1.0, 0.0, 0.0],
    "harvest": [0.0, 0.92, 0.392, 0.0],
    "income": [0.0, 0.0, 0.0, 1.0],
    "household income": [0.0, 0.0, 0.436, 0.9],
    "household size": [0.0, 0.0, 0.785, 0.62],
    "drought": [0.6, -0.8, 0.0, 0.0],
}


def fake_embed(texts: list[str]) -> np.ndarray:
    """Unit rows from :data:`_VECTORS`; any other text gets its own direction (far from everything)."""
    rows = []
    for text in texts:
        v = np.array(_VECTORS.get(text, [0.0] * 4) + [0.0] * 8)
        if text not in _VECTORS:
            v[4 + sum(map(ord, text)) % 8] = 1.0
        rows.append(v / np.linalg.norm(v))
    return np.array(rows)


def sentence(text: str, *edges: tuple[str, str, int], source: str = "doc") -> CausalMap:
    return CausalMap(text, [Edge(c, e, s) for c, e, s in edges], source)


def _groups(clusters) -> set[frozenset[str]]:
    return {frozenset(c.forms) for c in clusters}


def test_normalisation_merges_spellings_without_embeddings():
    clusters = cluster_forms(Counter({"Rainfall": 2, "rainfall.": 1, "crop yield": 1}), threshold=1.0,
                             embedder=fake_embed)
    assert _groups(clusters) == {frozenset({"Rainfall", "rainfall."}), frozenset({"crop yield"})}
    assert clusters[0].id == "c1" and clusters[0].name == "Rainfall" and clusters[0].forms == {"Rainfall": 2,
                                                                                               "rainfall.": 1}


def test_average_linkage_does_not_chain_but_single_linkage_does():
    forms = Counter({"income": 1, "household income": 1, "household size": 1})
    assert _groups(cluster_forms(forms, 0.85, "average", embedder=fake_embed)) == {
        frozenset({"income", "household income"}), frozenset({"household size"})}
    assert _groups(cluster_forms(forms, 0.85, "single", embedder=fake_embed)) == {frozenset(forms)}


def test_codebook_snaps_forms_and_names_the_cluster():
    forms = Counter({"precipitation": 3, "harvest": 1, "drought": 1})
    clusters = cluster_forms(forms, 1.0, codebook=["Rainfall", "crop yield"], codebook_threshold=0.9,
                             embedder=fake_embed)
    by_form = {f: c for c in clusters for f in c.forms}
    assert by_form["precipitation"].name == "Rainfall"
    assert by_form["harvest"].name == "crop yield"
    assert by_form["drought"].name == "drought"


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="thresholds"):
        cluster_forms(Counter({"a": 1}), threshold=1.5, embedder=fake_embed)
    with pytest.raises(ValueError, match="linkage"):
        cluster_forms(Counter({"a": 1}), linkage="ward", embedder=fake_embed)


MAPS = [
    ("model", sentence("Rainfall raises crop yield.", ("Rainfall", "crop yield", 1), source="d1")),
    ("model", sentence("More precipitation, a better harvest.", ("precipitation", "harvest", 1), source="d2")),
    ("model", sentence("Rain lowers the harvest here.", ("rainfall", "harvest", -1), source="d3")),
    ("model", sentence("Drought lowers crop yield.", ("drought", "crop yield", -1), ("rainfall", "precipitation", 1),
                       source="d4")),
]


def test_build_merges_concepts_and_keeps_evidence_and_conflicts():
    corpus = build_corpus(MAPS, MergeSettings(threshold=0.9), embedder=fake_embed)
    assert len(corpus.concepts) == 3
    edges = {(corpus.name(e.cause), corpus.name(e.effect)): e for e in corpus.edges}
    rain = next(c for c in corpus.concepts.values() if "precipitation" in c.forms)
    assert set(rain.forms) == {"Rainfall", "precipitation", "rainfall"}
    yield_ = next(c for c in corpus.concepts.values() if "harvest" in c.forms)
    e = edges[(rain.name, yield_.name)]
    assert (e.count, e.positive, e.negative, e.conflict, e.sign) == (3, 2, 1, True, 1)
    # weight = support * agreement = 3/(3+1) * (2-1)/3 = 0.25
    assert e.weight(1.0) == pytest.approx(0.25)
    first = e.evidence[0]
    assert (first.sentence, first.document, first.source, first.cause_span, first.effect_span) == (
        "Rainfall raises crop yield.", "d1", "model", (0, 8), (16, 26))
    assert (e.evidence[1].cause_span, e.evidence[1].effect_span) == ((5, 18), (29, 36))
    assert e.evidence[2].cause_span is None  # "rainfall" does not occur verbatim in "Rain lowers ..."
    m = corpus.meta
    assert (m["sentences"], m["sentence_edges"], m["self_loops_dropped"], m["corpus_edges"],
            m["conflicting_edges"]) == (4, 5, 1, 2, 1)
    drought = edges[("drought", yield_.name)]
    assert drought.weight(1.0) == pytest.approx(-0.5)


def test_weight_uses_confidence_and_prior():
    maps = [("a", CausalMap("s1", [Edge("x", "y", 1)], meta={"confidence": 0.9})),
            ("b", CausalMap("s2", [Edge("x", "y", -1)], meta={"confidence": 0.3}))]
    corpus = build_corpus(maps, MergeSettings(threshold=1.0), weight_prior=2.0, embedder=fake_embed)
    (edge,) = corpus.edges
    # agreement (0.9 - 0.3) / 1.2 = 0.5, support 2 / (2 + 2) = 0.5
    assert edge.weight(2.0) == pytest.approx(0.25)
    assert edge.sources == ["a", "b"] and corpus.sources() == ["a", "b"]


def test_corpus_json_round_trip(tmp_path):
    corpus = build_corpus(MAPS, MergeSettings(threshold=0.9), embedder=fake_embed)
    back = load_corpus(save_corpus(corpus, tmp_path / "c.json"))
    assert back.to_dict() == corpus.to_dict()


def test_load_corpus_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{\n nope", encoding="utf-8")
    with pytest.raises(FormatError, match=r"bad.json:2"):
        load_corpus(bad)
    bad.write_text(json.dumps({"format": "something else"}), encoding="utf-8")
    with pytest.raises(FormatError, match="not an fcmatch corpus map"):
        load_corpus(bad)
    data = {"format": "fcmatch-corpus-map", "concepts": [{"id": "c1", "name": "a"}],
            "edges": [{"cause": "c1", "effect": "c9"}]}
    with pytest.raises(FormatError, match="edge 0 names unknown concept 'c9'"):
        CorpusMap.from_dict(data)


def test_merge_table_edit_split_merge_rename(tmp_path):
    corpus = build_corpus(MAPS, MergeSettings(threshold=0.9), embedder=fake_embed)
    table = tmp_path / "merges.csv"
    write_merge_table(corpus_clusters(corpus), table)
    fixed = read_merge_table(table)
    assert fixed["precipitation"][0] == fixed["rainfall"][0]
    # a person splits "precipitation" off, renames it, and merges drought into crop yield's cluster
    rows = [
        "cluster_id,canonical_name,surface_forms,count",
        "r1,Rain,Rainfall | rainfall,3",
        "r2,Precipitation (split),precipitation,2",
        "y1,Yield,crop yield | harvest,4",
        "y1,,drought,1",
    ]
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    edited = build_corpus(MAPS, MergeSettings(threshold=0.9, merges=str(table)), embedder=fake_embed)
    assert {c.id: c.name for c in edited.concepts.values()} == {"r1": "Rain", "r2": "Precipitation (split)",
                                                                 "y1": "Yield"}
    assert {(e.cause, e.effect) for e in edited.edges} == {("r1", "y1"), ("r2", "y1"), ("r1", "r2")}
    assert edited.meta["self_loops_dropped"] == 1  # drought -> crop yield is now inside y1
    assert edited.meta["merge"]["forms_not_in_table"] == 0


def test_forms_missing_from_table_are_clustered_automatically(tmp_path):
    table = tmp_path / "m.csv"
    table.write_text("cluster_id,canonical_name,surface_forms\nc1,Rain,rainfall | precipitation\n",
                     encoding="utf-8")
    corpus = build_corpus(MAPS, MergeSettings(threshold=0.9, merges=str(table)), embedder=fake_embed)
    ids = {c.name: c.id for c in corpus.concepts.values()}
    assert ids["Rain"] == "c1" and "c1" not in {v for k, v in ids.items() if k != "Rain"}
    assert corpus.meta["merge"]["forms_not_in_table"] == 3  # crop yield, harvest, drought


def test_merge_table_errors(tmp_path):
    table = tmp_path / "m.csv"
    with pytest.raises(FileNotFoundError):
        read_merge_table(table)
    table.write_text("id,name\n", encoding="utf-8")
    with pytest.raises(FormatError, match="missing column"):
        read_merge_table(table)
    table.write_text("cluster_id,canonical_name,surface_forms\n,x,a\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"m.csv:2: empty cluster_id"):
        read_merge_table(table)
    table.write_text("cluster_id,canonical_name,surface_forms\na,x,rain\nb,y,Rain.\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"m.csv:3: form 'Rain.' is already in cluster 'a' \(line 2\)"):
        read_merge_table(table)


def test_read_sources_names_inputs(tmp_path):
    path = tmp_path / "run7.jsonl"
    write_jsonl([m for _, m in MAPS], path)
    assert parse_input(f"gold={path}") == ("gold", str(path))
    assert parse_input(str(path)) == ("run7", str(path))
    assert {s for s, _ in read_sources([str(path)])} == {"run7"}
    assert {s for s, _ in read_sources([f"knn={path}"])} == {"knn"}


def test_run_build_writes_corpus_and_config(tmp_path, monkeypatch):
    from fcmatch.fcm.build import run_build

    monkeypatch.setattr("fcmatch.evaluate.encoder.embed", lambda texts, folder=None: fake_embed(texts))
    path = tmp_path / "maps.jsonl"
    write_jsonl([m for _, m in MAPS], path)
    out = tmp_path / "out" / "corpus.json"
    corpus = run_build(BuildConfig(inputs=[f"m={path}"], output=str(out), merge=MergeSettings(threshold=0.9)))
    assert load_corpus(out).to_dict() == corpus.to_dict()
    assert corpus.meta["inputs"] == [f"m={path}"]
    assert (tmp_path / "out" / "corpus.config.yaml").is_file()
