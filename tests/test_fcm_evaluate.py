"""fcmatch.fcm.evaluate: a predicted corpus map against a gold one, values computed by hand; and the real
val split (gold against itself) when ../shared is present."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcmatch.fcm.build import build_corpus
from fcmatch.fcm.config import MergeSettings
from fcmatch.fcm.corpus import Concept, CorpusMap
from fcmatch.fcm.evaluate import compare, match_concepts
from test_fcm_build import MAPS, fake_embed, sentence

VAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "causal" / "val_data.csv"

PRED = [
    ("pred", sentence("Rainfall raises crop yield.", ("rainfall", "crop yield", -1))),  # right edge, wrong sign
    ("pred", sentence("Drought lowers crop yield.", ("drought", "income", -1))),  # "income" matches nothing
]


def test_compare_by_hand():
    settings = MergeSettings(threshold=0.9)
    gold = build_corpus(MAPS, settings, embedder=fake_embed)
    pred = build_corpus(PRED, settings, embedder=fake_embed)
    m = compare(gold, pred, 0.7, embedder=fake_embed)
    # concepts: rainfall, crop yield, drought match gold (shared forms); income does not: P 3/4, R 3/3
    assert (m["concepts"]["hits"], m["concepts"]["precision"], m["concepts"]["recall"]) == (3, 0.75, 1.0)
    assert m["concepts"]["f1"] == pytest.approx(6 / 7)
    # edges: rain -> yield is in gold (P 1/2, R 1/2) but with the other sign
    assert (m["edges"]["hits"], m["edges"]["f1"]) == (1, 0.5)
    assert (m["edges_with_sign"]["hits"], m["edges_with_sign"]["f1"]) == (0, 0.0)
    # weights over the union (rain->yield, drought->yield, drought->income):
    # gold (0.25, -0.5, 0) vs pred (-0.5, 0, -0.5): Pearson -0.2083 / sqrt(0.2917 * 0.1667)
    assert m["weight_correlation_union"]["pearson"] == pytest.approx(-0.944911, abs=1e-5)
    assert m["weight_correlation_shared"] == {"pearson": None, "spearman": None, "n": 1}


@pytest.mark.shared
@pytest.mark.slow
def test_val_split_against_itself_is_perfect():
    from fcmatch.fcm.build import read_sources

    if not VAL.is_file():
        pytest.skip(f"{VAL} is absent")
    gold = build_corpus(read_sources([f"gold={VAL}"]))
    m = compare(gold, gold)
    assert m["edges_with_sign"]["f1"] == 1.0 and m["concepts"]["f1"] == 1.0
    assert gold.meta["sentences"] == 204


def test_shared_surface_forms_match_first():
    gold = CorpusMap({"g1": Concept("g1", "rainfall", {"rainfall": 1}), "g2": Concept("g2", "drought", {"drought": 1})})
    pred = CorpusMap({"p1": Concept("p1", "rainfall", {"Rainfall": 1}),
                      "p2": Concept("p2", "precipitation", {"precipitation": 1})})
    # by total cosine alone, rainfall~precipitation (0.96) + drought~rainfall (0.6) beats the exact match (1.0)
    assert match_concepts(gold, pred, 0.5, embedder=fake_embed) == {"p1": "g1"}
