"""Bootstrap intervals and the paired comparison on cases whose answer is known without sampling."""

from __future__ import annotations

import pytest

from fcmatch.evaluate.bootstrap import bootstrap_ci, paired_bootstrap


def row(text, f1, tp, fp, n_gold, n_pred):
    return {"text": text, "f1": f1, "tp": tp, "fp": fp, "n_gold": n_gold, "n_pred": n_pred}


PERFECT = [row(str(i), 1.0, 2, 0, 2, 2) for i in range(10)]
WRONG = [row(str(i), 0.0, 0, 2, 2, 2) for i in range(10)]


def test_identical_sentences_give_a_point_interval():
    ci = bootstrap_ci(PERFECT, resamples=200, seed=1)
    assert ci["macro_f1"] == [1.0, 1.0] and ci["micro_f1"] == [1.0, 1.0]


def test_interval_brackets_the_estimate_and_is_seeded():
    rows = [row("a", 1.0, 1, 0, 1, 1), row("b", 0.0, 0, 1, 1, 1)] * 20
    a = bootstrap_ci(rows, resamples=500, seed=3)
    assert a == bootstrap_ci(rows, resamples=500, seed=3)
    lo, hi = a["macro_f1"]
    assert lo < 0.5 < hi and 0.0 <= lo and hi <= 1.0
    # micro from pooled counts: tp 20 of 40 gold, 20 correct of 40 predicted -> 0.5 at the centre too
    lo, hi = a["micro_f1"]
    assert lo < 0.5 < hi


def test_micro_resample_of_empty_sentences_follows_the_empty_convention():
    rows = [row("a", 1.0, 0, 0, 0, 0)] * 5
    assert bootstrap_ci(rows, resamples=50)["micro_f1"] == [1.0, 1.0]


def test_paired_no_difference_has_p_one():
    out = paired_bootstrap(PERFECT, PERFECT, resamples=100)
    assert out["difference"] == 0.0 and out["ci"] == [0.0, 0.0] and out["p_value"] == 1.0


def test_paired_uniform_improvement_is_significant():
    out = paired_bootstrap(WRONG, PERFECT, resamples=999)
    # every resample has difference exactly 1, none as far from 1 as 0 is: p = 1 / (999 + 1)
    assert out["difference"] == 1.0 and out["ci"] == [1.0, 1.0]
    assert out["p_value"] == pytest.approx(1 / 1000)
    assert out["macro_f1_a"] == 0.0 and out["macro_f1_b"] == 1.0


def test_paired_needs_the_same_sentences():
    with pytest.raises(ValueError, match="same gold sentences"):
        paired_bootstrap(PERFECT, PERFECT[::-1])


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="no sentences"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="'tp'"):
        bootstrap_ci([{"f1": 1.0}])
