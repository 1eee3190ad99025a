"""Edge scores with hand-computed counts: sign flips, swaps, empty sets, micro vs macro, real val data."""

from __future__ import annotations

import pytest

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.evaluate.graph import EdgeCounts, compare_maps, evaluate_maps


def cmap(text, *edges):
    return CausalMap(text, [Edge(c, e, s) for c, e, s in edges])


def test_correct_sign_flip_and_swap_are_counted_separately():
    gold = cmap("s", ("rain", "yield", 1), ("drought", "yield", -1), ("yield", "income", 1))
    pred = cmap("s", ("Rain", "yield", 1), ("drought", "yield", 1), ("income", "yield", 1), ("x", "y", 1))
    c = compare_maps(gold, pred)
    assert (c.tp, c.fp, c.fn, c.sign_errors, c.swapped, c.n_gold, c.n_pred) == (1, 3, 2, 1, 1, 3, 4)
    assert c.precision == pytest.approx(1 / 4)
    assert c.recall == pytest.approx(1 / 3)
    assert c.f1 == pytest.approx(2 * (1 / 4) * (1 / 3) / (1 / 4 + 1 / 3))  # = 2/7


def test_duplicate_edges_count_once():
    gold = cmap("s", ("a", "b", 1))
    pred = cmap("s", ("a", "b", 1), ("A.", "b", 1))
    c = compare_maps(gold, pred)
    assert (c.tp, c.fp, c.n_pred, c.f1) == (1, 0, 1, 1.0)


@pytest.mark.parametrize(
    ("gold_edges", "pred_edges", "expected"),
    [
        ([], [], 1.0),  # a correct "no causal claim"
        ([], [("a", "b", 1)], 0.0),
        ([("a", "b", 1)], [], 0.0),
    ],
)
def test_empty_set_convention(gold_edges, pred_edges, expected):
    c = compare_maps(cmap("s", *gold_edges), cmap("s", *pred_edges))
    assert c.precision == c.recall == c.f1 == expected


def test_one_to_one_matches_each_gold_edge_once_paper_many_to_many_counts_both():
    # two predicted nodes resemble the single gold cause; the predicted edges are otherwise identical
    gold = cmap("s", ("water quality", "fish stocks", 1))
    pred = cmap("s", ("water quality", "fish stocks", 1), ("quality of water", "fish stocks", 1))
    one = compare_maps(gold, pred, "token", threshold=0.5)
    assert (one.tp, one.fp, one.fn) == (1, 1, 0)
    assert one.precision == 0.5 and one.recall == 1.0
    many = compare_maps(gold, pred, "paper")
    # both predicted edges are correct, and they found the one gold edge
    assert (many.tp, many.fp, many.fn) == (1, 0, 0)
    assert many.precision == many.recall == 1.0


def test_soft_matching_credits_near_misses_that_exact_does_not():
    gold = cmap("s", ("crop yield", "farmer income", 1))
    pred = cmap("s", ("crop yields", "income of farmers", 1))
    assert compare_maps(gold, pred, "exact").tp == 0
    # word order defeats fuzzy ("farmer income" vs "income of farmers": ratio 0.4); meaning does not
    assert compare_maps(gold, pred, "fuzzy").tp == 0
    assert compare_maps(gold, pred, "embedding").tp == 1
    assert compare_maps(gold, pred, "paper").tp == 1  # stemmed ROUGE-1: 1.0 and 0.8


def test_micro_vs_macro_by_hand():
    gold = [
        cmap("One sentence.", ("a", "b", 1)),
        cmap("Two  sentence.", ("c", "d", 1), ("e", "f", 1), ("g", "h", -1)),
    ]
    pred = [
        cmap("Two sentence.", ("c", "d", 1), ("x", "y", 1)),  # whitespace differs: still paired
        cmap("One sentence.", ("a", "b", 1)),
        cmap("Not in gold.", ("p", "q", 1)),
    ]
    out = evaluate_maps(gold, pred)
    # sentence 1: P = R = F1 = 1; sentence 2: tp 1, fp 1, fn 2 -> P 1/2, R 1/3, F1 2/5
    assert out["macro"]["precision"] == pytest.approx((1 + 1 / 2) / 2)
    assert out["macro"]["recall"] == pytest.approx((1 + 1 / 3) / 2)
    assert out["macro"]["f1"] == pytest.approx((1 + 2 / 5) / 2)
    # pooled: tp 2, fp 1, fn 2 -> P 2/3, R 2/4, F1 4/7
    assert out["micro"]["precision"] == pytest.approx(2 / 3)
    assert out["micro"]["recall"] == pytest.approx(1 / 2)
    assert out["micro"]["f1"] == pytest.approx(4 / 7)
    assert out["sentences"] == 2
    assert out["counts"]["extra_predictions"] == 1 and out["counts"]["missing_predictions"] == 0
    assert [row["f1"] for row in out["per_sentence"]] == pytest.approx([1.0, 0.4])


def test_missing_prediction_counts_as_empty():
    gold = [cmap("a.", ("a", "b", 1)), cmap("b.")]
    out = evaluate_maps(gold, [])
    assert out["counts"]["missing_predictions"] == 2
    # sentence 1: gold edge, nothing predicted -> 0; sentence 2: both empty -> 1
    assert out["macro"]["f1"] == pytest.approx(0.5)
    assert out["micro"]["recall"] == 0.0 and out["per_sentence"][0]["missing"] is True


def test_duplicate_sentence_and_bad_threshold_are_clear_errors():
    with pytest.raises(ValueError, match="twice"):
        evaluate_maps([cmap("a."), cmap("a. ")], [])
    with pytest.raises(ValueError, match="threshold must be in"):
        evaluate_maps([cmap("a.")], [], threshold=-0.1)  # even with nothing to match


def test_counts_add_up():
    total = EdgeCounts(1, 2, 3, 0, 1, 4, 3) + EdgeCounts(1, 0, 0, 0, 0, 1, 1)
    assert total == EdgeCounts(2, 2, 3, 0, 1, 5, 4)


@pytest.mark.shared
def test_val_against_itself_scores_one(shared_data):
    from fcmatch.data.formats import read_maps

    val = read_maps(shared_data / "causal" / "val_data.csv")
    out = evaluate_maps(val, val)
    assert out["sentences"] == 204
    assert out["micro"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert out["macro"]["f1"] == 1.0
    assert out["counts"]["n_gold"] == out["counts"]["tp"]
