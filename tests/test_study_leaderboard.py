"""The results page's pooled leaderboard (fcmatch.study.judges.leaderboard): one Bradley-Terry fit of
the labelers over every sentence, its Wald interval and a bootstrap over sentences."""

from __future__ import annotations

import numpy as np
import pytest

from fcmatch.judge.bradley_terry import fit_bradley_terry
from fcmatch.judge.judgements import Comparison
from fcmatch.study.judges import Z95, leaderboard


def _verdicts(n_sentences: int) -> list[Comparison]:
    """good beats bad on every sentence; mid beats bad on two sentences of three and ties the third."""
    comps = []
    for s in range(n_sentences):
        comps += [Comparison("ann", f"{s}/good", f"{s}/bad", "A"),
                  Comparison("bob", f"{s}/bad", f"{s}/mid", "B" if s % 3 else "tie"),
                  Comparison("ann", f"{s}/good", f"{s}/mid", "A" if s % 2 else "B")]
    return comps


def test_one_fit_over_all_sentences_with_wald_intervals():
    comps = _verdicts(6)
    rows = leaderboard(comps, n_boot=0)
    assert [r["labeler"] for r in rows] == ["good", "mid", "bad"]
    pooled = [Comparison(c.judge, c.a.split("/")[1], c.b.split("/")[1], c.verdict) for c in comps]
    fit = fit_bradley_terry(pooled, ["bad", "good", "mid"])  # what the leaderboard fits, by hand
    by_name = {r["labeler"]: r for r in rows}
    for k, name in enumerate(["bad", "good", "mid"]):
        assert by_name[name]["score"] == pytest.approx(fit.scores[k])
        assert by_name[name]["low"] == pytest.approx(fit.scores[k] - Z95 * fit.se[k])
        assert by_name[name]["n"] == 12 and by_name[name]["boot_low"] is None


def test_bootstrap_resamples_sentences_and_is_seeded():
    comps = _verdicts(6)
    rows = leaderboard(comps, n_boot=40, seed=1)
    assert rows == leaderboard(comps, n_boot=40, seed=1)
    for r in rows:
        assert r["boot_low"] <= r["score"] <= r["boot_high"]
    # one sentence: nothing to resample
    assert all(r["boot_low"] is None for r in leaderboard(_verdicts(1), n_boot=40))


def test_a_labeler_against_itself_and_a_single_labeler_give_no_ranking():
    same = [Comparison("ann", "1/p", "2/p", "A")]  # two maps of one labeler (items of different sentences)
    assert leaderboard(same) == []
    rows = leaderboard(same + [Comparison("ann", "1/p", "1/q", "A"), Comparison("ann", "2/q", "2/p", "tie")], n_boot=10)
    assert [r["labeler"] for r in rows] == ["p", "q"] and [r["n"] for r in rows] == [2, 2]
    assert np.isfinite([r["boot_high"] for r in rows]).all()
