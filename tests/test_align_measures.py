"""The item-quality features and ``quality_f1`` (fcmatch.judge.quality) on hand-computed maps."""

from __future__ import annotations

import pytest

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.judge.measures import MEASURES
from fcmatch.judge.quality import cleanliness, coverage, groundedness, item_quality, quality_f1

TEXT = "Rain causes floods and damage."


def test_groundedness_counts_stemmed_words_found_in_the_sentence():
    # "flooding" and "floods" share the Porter stem "flood"
    assert groundedness(CausalMap(TEXT, [Edge("rain", "flooding")])) == 1.0
    # rain yes, drought no: 1 of 2 words
    assert groundedness(CausalMap(TEXT, [Edge("rain", "drought")])) == pytest.approx(0.5)
    # an edge copied from another sentence next to a grounded one: colostrum, diseases absent; 2 of 4 words
    assert groundedness(CausalMap(TEXT, [Edge("colostrum", "diseases", -1), Edge("rain", "floods")])) \
        == pytest.approx(2 / 4)
    assert groundedness(CausalMap(TEXT)) == 1.0  # nothing ungrounded in an empty map


def test_cleanliness_flags_both_signs_two_cycles_and_self_loops():
    edges = [Edge("a", "b", 1), Edge("a", "b", -1), Edge("b", "c"), Edge("c", "b"), Edge("d", "e")]
    # a->b twice with opposite signs and the b<->c cycle: 4 of 5 distinct edges degenerate
    assert cleanliness(CausalMap(TEXT, edges)) == pytest.approx(1 / 5)
    assert cleanliness(CausalMap(TEXT, [Edge("a", "a"), Edge("a", "b")])) == pytest.approx(0.5)
    # exact duplicates are one distinct edge, not a degenerate pair
    assert cleanliness(CausalMap(TEXT, [Edge("a", "b"), Edge("A", "b.")])) == 1.0
    assert cleanliness(CausalMap(TEXT)) == 1.0


def test_coverage_is_capped_edge_count_ratio():
    ref = CausalMap(TEXT, [Edge("a", "b"), Edge("b", "c"), Edge("c", "d"), Edge("d", "e")])
    assert coverage(ref, CausalMap(TEXT, [Edge("x", "y")])) == pytest.approx(0.25)
    assert coverage(ref, CausalMap(TEXT, [Edge(str(k), "y") for k in range(6)])) == 1.0
    assert coverage(CausalMap(TEXT), CausalMap(TEXT)) == 1.0
    assert coverage(ref, CausalMap(TEXT)) == 0.0


def test_quality_f1_by_hand():
    ref = CausalMap(TEXT, [Edge("rain", "flood"), Edge("flood", "damage")])
    cand = CausalMap(TEXT, [Edge("rain", "flood")])
    settings = {"nodes": "exact", "quality_weight": 0.5, "size_weight": 0.3}
    # exact F1: P = 1, R = 1/2, F1 = 2/3; quality 1 (clean, every word in the sentence); coverage 1/2
    assert quality_f1(ref, cand, settings) == pytest.approx(0.2 * 2 / 3 + 0.5 * 1 + 0.3 * 0.5)
    assert quality_f1(ref, ref, settings) == pytest.approx(1.0)
    # the same edges read off another sentence: F1 and coverage unchanged, quality 0
    off = CausalMap("Sun dries fields.", cand.edges)
    assert item_quality(off) == 0.0
    assert quality_f1(ref, off, settings) == pytest.approx(0.2 * 2 / 3 + 0.3 * 0.5)
    # with no weights it is graph F1
    assert quality_f1(ref, cand, {"nodes": "exact"}) == pytest.approx(2 / 3)


def test_quality_f1_rejects_weights_over_one():
    with pytest.raises(ValueError, match="sum <= 1"):
        quality_f1(CausalMap(TEXT), CausalMap(TEXT), {"nodes": "exact", "quality_weight": 0.8, "size_weight": 0.3})


def test_quality_f1_grid_keeps_weights_under_one():
    assert all(s["quality_weight"] + s["size_weight"] <= 1 for s in MEASURES["quality_f1"].grid)
