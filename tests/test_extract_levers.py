"""Extraction levers: retrieved demonstrations, codebook snapping and self-consistency voting."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fcmatch.config import ConfigError, load_config
from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.data.formats import read_jsonl, write_jsonl
from fcmatch.extract import ExtractConfig, extract
from fcmatch.extract.codebook import Codebook, SnapStats
from fcmatch.extract.consistency import vote, vote_maps
from fcmatch.extract.pipeline import resolve_recipe
from fcmatch.extract.retrieval import Retriever
from fcmatch.tasks import TASKS
from fcmatch.tasks.causal import RETRIEVED_HEADER, RetrievalTask, prompt_messages, to_example


def _write(maps: list[CausalMap], path: Path) -> Path:
    write_jsonl(maps, path)
    return path


POOL = [
    CausalMap("Rain increases crop yield.", [Edge("rainfall", "crop yields", 1)]),
    CausalMap("Drought lowers maize yield.", [Edge("drought", "crop yields", -1)]),
    CausalMap("Higher taxes reduce consumption.", [Edge("taxes", "consumption", -1)]),
    CausalMap("Fishing pressure depletes fish stocks.", [Edge("fishing pressure", "fish stocks", -1)]),
    CausalMap("Trust in institutions improves cooperation.", [Edge("institutional trust", "cooperation", 1)]),
]


def test_retrieval_never_returns_the_sentence_itself_and_is_deterministic() -> None:
    retriever = Retriever(POOL, k=2)
    texts = [m.text for m in POOL]
    first = retriever.indices(texts)
    assert first == retriever.indices(texts)
    for i, hits in enumerate(first):
        assert len(hits) == 2 and i not in hits
    # the same sentence with other spacing is still itself
    assert 0 not in retriever.indices(["Rain  increases crop yield."])[0]
    # a new sentence may retrieve anything, nearest first
    assert retriever.indices(["Rainfall raises the yield of crops."])[0][0] == 0


def test_retrieval_breaks_ties_by_pool_order() -> None:
    twins = [CausalMap("Rain increases crop yield.", [Edge("a", "b", 1)], meta={"n": n}) for n in range(3)]
    retriever = Retriever([*twins, POOL[2]], k=3)
    assert retriever.indices(["Rain raises crop yield."]) == [[0, 1, 2]]


def test_retrieval_task_training_prompt_has_no_leakage(tmp_path: Path) -> None:
    path = _write(POOL, tmp_path / "train.jsonl")
    records = RetrievalTask(k=2).read_records(path)
    for record in records:
        shown = record.meta["retrieved"]
        assert len(shown) == 2 and all(m.text != record.text for m in shown)
        messages = to_example(record)["messages"]
        user = messages[-2]["content"]
        assert RETRIEVED_HEADER in user and user.count(record.text) == 1
        assert user.rstrip().endswith(record.text)
        assert messages[-1]["content"] == "\n".join(
            f"{e.cause} -> {e.effect} ({'+' if e.sign > 0 else '-'})" for e in record.edges)
    assert TASKS["causal-rag"].prompt_messages(records[0]) == prompt_messages(records[0], retrieved=records[0].meta["retrieved"])


def test_plain_prompt_is_unchanged_without_retrieval() -> None:
    assert prompt_messages("Rain increases crop yield.") == prompt_messages("Rain increases crop yield.", retrieved=())
    assert RETRIEVED_HEADER not in prompt_messages("Rain increases crop yield.")[-1]["content"]


def test_snapping_is_one_to_one_within_a_map() -> None:
    codebook = Codebook(["crop yields", "rainfall"])
    # both predicted concepts are nearest to "crop yields"; only one may take it
    pred = CausalMap("s", [Edge("crop yield", "yield of crops", 1)])
    stats = SnapStats()
    snapped = codebook.snap(pred, threshold=0.0, stats=stats)
    ends = [snapped.edges[0].cause, snapped.edges[0].effect]
    assert len({e.lower() for e in ends}) == 2
    assert ends.count("crop yields") == 1
    assert stats.concepts == 2 and stats.snapped + stats.kept == 2 and stats.snapped >= 1


def test_snapping_keeps_codebook_concepts_and_far_ones() -> None:
    codebook = Codebook(["crop yields", "rainfall"])
    pred = CausalMap("s", [Edge("Crop yields.", "rainfal", -1), Edge("quantum chromodynamics", "rainfall", 1)])
    snapped, stats = codebook.snap_all([pred], threshold=0.9)
    edges = snapped[0].edges
    # already a codebook concept: kept even when another node is close to it
    assert edges[1] == Edge("quantum chromodynamics", "rainfall", 1)
    assert edges[0].cause == "Crop yields."
    assert stats.in_codebook == 2 and stats.concepts == 4
    assert "quantum chromodynamics" not in snapped[0].meta["snapped"]
    assert len(codebook) == 2 and "Rainfall" in codebook
    with pytest.raises(ValueError, match="threshold"):
        codebook.snap(pred, 1.5)


def test_vote_keeps_majority_edges() -> None:
    a, b, c = Edge("rain", "yield", 1), Edge("drought", "yield", -1), Edge("rain", "yield", -1)
    samples = [[a, b], [Edge("Rain.", "yield", 1)], [a, c, a]]
    assert vote(samples) == [a]  # 3 votes for a (spelling and repeats do not split it), 1 for b and c
    assert vote(samples, min_votes=1) == [a, b, c]
    assert vote(samples, min_votes=4) == []
    with pytest.raises(ValueError):
        vote([])
    with pytest.raises(ValueError):
        vote(samples, min_votes=0)


def test_vote_maps_per_sentence() -> None:
    runs = [[CausalMap("s1", [Edge("x", "y", 1)]), CausalMap("s2", [])],
            [CausalMap("s1", [Edge("x", "y", 1)]), CausalMap("s2", [Edge("p", "q", 1)])]]
    voted = vote_maps(runs)
    assert [m.edges for m in voted] == [[Edge("x", "y", 1)], []]
    assert voted[0].meta["votes"] == {"samples": 2, "min_votes": 2}
    with pytest.raises(ValueError, match="differs"):
        vote_maps([runs[0], [CausalMap("other", []), runs[1][1]]])


def test_resolve_recipe_reads_the_run_folder(tmp_path: Path) -> None:
    train = _write(POOL, tmp_path / "train.jsonl")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"task": "causal-rag", "train_file": str(train)}))
    config = resolve_recipe(ExtractConfig("in.jsonl", "out.jsonl", model=str(run)))
    assert config.retrieval_k == TASKS["causal-rag"].k and config.pool == str(train)
    assert config.snap_threshold == TASKS["causal-rag"].snap_threshold
    off = resolve_recipe(ExtractConfig("in.jsonl", "out.jsonl", model=str(run), retrieval_k=0, snap_threshold=0))
    assert (off.retrieval_k, off.snap_threshold, off.pool) == (0, 0, None)
    (run / "config.yaml").write_text(yaml.safe_dump({"task": "causal-rag", "train_file": "gone.csv"}))
    with pytest.raises(ConfigError, match="--pool"):
        resolve_recipe(ExtractConfig("in.jsonl", "out.jsonl", model=str(run)))
    with pytest.raises(ConfigError, match="--retrieval-k"):
        ExtractConfig("a", "b", shots=1, demos="d", retrieval_k=2)


def test_extract_with_retrieval_and_snapping(tiny_model_dir: Path, tmp_path: Path) -> None:
    train = _write(POOL, tmp_path / "train.jsonl")
    inputs = _write(POOL[:2], tmp_path / "in.jsonl")
    out = tmp_path / "pred.jsonl"
    extract(ExtractConfig(str(inputs), str(out), model=str(tiny_model_dir), retrieval_k=2, snap_threshold=0.8,
                          pool=str(train), progress=False))
    preds = read_jsonl(out)
    for i, pred in enumerate(preds):
        assert len(pred.meta["retrieved"]) == 2 and i not in pred.meta["retrieved"]
        assert "snapped" in pred.meta
    saved = load_config(ExtractConfig, out)
    assert (saved.retrieval_k, saved.snap_threshold, saved.pool) == (2, 0.8, str(train))
