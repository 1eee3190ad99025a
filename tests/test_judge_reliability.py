"""Reliability formulas on textbook cases, and the figures of the shared MATCH study."""

from __future__ import annotations

import numpy as np
import pytest

from fcmatch.judge.judgements import Comparison
from fcmatch.judge.reliability import (
    agreement,
    fleiss_kappa,
    repeat_consistency,
    spearman_brown,
    split_half,
    ssr,
    study_reliability,
)

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories, kappa = 0.210
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_wikipedia():
    assert fleiss_kappa(np.array(WIKIPEDIA_FLEISS)) == pytest.approx(0.210, abs=5e-4)


def test_spearman_brown_and_ssr():
    assert spearman_brown(0.6) == pytest.approx(2 * 0.6 / 1.6)
    assert spearman_brown(0.5, 3) == pytest.approx(0.75)
    # var([1, -1], ddof=1) = 2, mean SE^2 = 1: SSR = (2 - 1) / 2
    assert ssr([1.0, -1.0], [1.0, 1.0]) == pytest.approx(0.5)


def _verdicts(judge, verdicts):
    """One comparison per unit u: items 'u<k>/x' vs 'u<k>/y'; 'first' = x wins."""
    out = []
    for k, v in enumerate(verdicts):
        if v is not None:
            verdict = {"first": "A", "second": "B", "tie": "tie"}[v]
            out.append(Comparison(judge, f"u{k}/x", f"u{k}/y", verdict))
    return out


def test_agreement_hand_case():
    # two judges, four pairs: x x / x y / y y / y y in canonical codes (first, second)
    comps = _verdicts("j1", ["first", "first", "second", "second"]) + _verdicts("j2", ["first", "second", "second", "second"])
    out = agreement(comps)
    assert out["percent_agreement"] == pytest.approx(3 / 4)
    assert out["agreement_without_ties"] == pytest.approx(3 / 4)
    # Krippendorff by hand: coincidences o_ff = 2, o_fs = o_sf = 1, o_ss = 4; n_f = 3, n_s = 5, n = 8;
    # D_o = 2/8, D_e = 2 * 3 * 5 / (8 * 7); alpha = 1 - D_o / D_e = 8/15
    assert out["krippendorff_alpha"] == pytest.approx(8 / 15)
    # Fleiss by hand: P_bar = (1 + 0 + 1 + 1) / 4 = 3/4, p = (3/8, 5/8), P_e = 34/64; kappa = (3/4 - 34/64) / (30/64)
    assert out["fleiss_kappa"] == pytest.approx((0.75 - 34 / 64) / (30 / 64))


def test_agreement_ignores_order_and_counts_ties():
    comps = [Comparison("j1", "s/a", "s/b", "A"), Comparison("j2", "s/b", "s/a", "B"), Comparison("j3", "s/a", "s/b", "tie")]
    out = agreement(comps)
    assert out["percent_agreement"] == pytest.approx(1 / 3)  # (j1, j2) agree; (j1, j3), (j2, j3) do not
    assert out["agreement_without_ties"] == 1.0


def test_repeat_consistency():
    first = [Comparison("j1", "s/a", "s/b", "A"), Comparison("j2", "s/a", "s/b", "A")]
    again = [Comparison("j1", "s/b", "s/a", "B"), Comparison("j2", "s/a", "s/b", "tie")]
    assert repeat_consistency(first, again) == {"repeats": 2, "consistent": 1, "rate": 0.5}
    assert repeat_consistency(first)["rate"] is None


def test_split_half_recovers_consistent_judges():
    # four judges who all agree with a strict order of five items in two sentences: halves correlate
    comps = []
    for sid in ("1", "2"):
        items = [f"{sid}/{k}" for k in range(5)]
        for judge in ("j1", "j2", "j3", "j4"):
            for i in range(5):
                for j in range(i + 1, 5):
                    comps.append(Comparison(judge, items[i], items[j], "A"))
    items = sorted({x for c in comps for x in (c.a, c.b)})
    out = split_half(comps, items, np.random.default_rng(0), splits=5)
    assert out["r_median"] == pytest.approx(1.0) and out["reliability"] == pytest.approx(1.0)


def test_shared_study(shared_data):
    from fcmatch.judge.judgements import read_match_study

    data = read_match_study(shared_data / "match")
    out = study_reliability(data, splits=5)
    assert out["agreement"]["pairs"] == 30 and out["agreement"]["judges"] == 7
    assert 0 < out["agreement"]["agreement_without_ties"] <= 1
    # every reliability pair also appears in judgements/, judged there by one of the seven
    assert out["repeat_consistency"]["repeats"] == 30
    assert -1 <= out["split_half"]["r_median"] <= 1 and out["ssr"] < 1


def test_fleiss_kappa_is_nan_when_every_rating_is_one_category():
    import math

    import numpy as np

    from fcmatch.judge.reliability import fleiss_kappa

    assert math.isnan(fleiss_kappa(np.array([[3, 0], [3, 0]])))
