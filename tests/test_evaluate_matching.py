"""Node matchers: the registry, hand-computed similarities and one-to-one vs many-to-many assignment."""

from __future__ import annotations

import numpy as np
import pytest

from fcmatch.evaluate.matching import MATCHERS, assign, match_nodes, token_f1

GOLD = ["Crop yield", "drought", "farmer income"]
PRED = ["crop yields", "rainfall", "income of farmers", "drought."]


@pytest.mark.parametrize("name", sorted(MATCHERS))
def test_every_matcher_returns_a_unit_interval_matrix_of_the_right_shape(name):
    matcher = MATCHERS[name]
    sim = matcher.similarity(GOLD, PRED)
    assert sim.shape == (3, 4)
    assert np.all((sim >= 0) & (sim <= 1 + 1e-6))
    assert 0.0 <= matcher.threshold <= 1.0
    assert matcher.name == name and matcher.description
    # identical concepts (after normalisation) are fully similar for every matcher
    assert sim[1, 3] == pytest.approx(1.0, abs=1e-5)
    assert matcher.similarity([], PRED).shape == (0, 4)
    assert matcher.similarity(GOLD, []).shape == (3, 0)


def test_exact_uses_normalize_concept():
    sim = MATCHERS["exact"].similarity(["Crop  Yield."], ["crop yield", "crop yields"])
    assert sim.tolist() == [[1.0, 0.0]]


def test_fuzzy_is_the_rapidfuzz_ratio_on_normalised_text():
    # "crop yield" (10 chars) vs "crop yields" (11): Indel distance 1, ratio = 1 - 1/21
    sim = MATCHERS["fuzzy"].similarity(["Crop Yield"], ["crop yields"])
    assert sim[0, 0] == pytest.approx(1 - 1 / 21)


def test_token_f1_by_hand():
    # {farmer, income} vs {income, of, farmers}: one common word, 2 * 1 / (2 + 3)
    assert token_f1("farmer income", "income of farmers") == pytest.approx(0.4)
    assert token_f1("a b", "b a") == 1.0
    assert token_f1("", "") == 0.0


def test_many_to_one_one_to_one_gives_one_match_paper_gives_two():
    gold = ["water quality"]
    pred = ["water quality", "quality of water"]
    one = match_nodes(gold, pred, "token", threshold=0.5)
    assert len(one) == 1 and one[0][:2] == (0, 0)  # the better of the two wins
    many = match_nodes(gold, pred, "paper")
    assert [(g, p) for g, p, _ in many] == [(0, 0), (0, 1)]
    # the same many-to-many outcome from any matcher when asked
    assert len(match_nodes(gold, pred, "token", threshold=0.5, one_to_one=False)) == 2


def test_below_threshold_pairs_cannot_steal_a_partner():
    # Hungarian on raw similarities would pick (0,1)+(1,0) = 0.9+0.3 = 1.2 > 0.95 + 0.0 and then drop
    # the 0.3 pair; zeroing below-threshold entries first keeps the single strong pair 0->0 instead.
    sim = np.array([[0.95, 0.9], [0.3, 0.0]])
    assert assign(sim, 0.5, one_to_one=True) in ([(0, 0, 0.95)], [(0, 1, 0.9)])
    assert assign(sim, 0.5, one_to_one=True) == [(0, 0, 0.95)]


def test_unknown_matcher_and_bad_threshold_are_clear_errors():
    with pytest.raises(ValueError, match="unknown matcher 'nope'.*exact"):
        match_nodes(["a"], ["a"], "nope")
    with pytest.raises(ValueError, match="threshold"):
        match_nodes(["a"], ["a"], "exact", threshold=1.5)


def test_embedding_matcher_ranks_a_paraphrase_above_an_unrelated_concept():
    sim = MATCHERS["embedding"].similarity(["crop yield"], ["agricultural yields", "interest rates"])
    assert sim[0, 0] > 0.6 > sim[0, 1]
