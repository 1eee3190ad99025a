"""Bradley-Terry-Davidson fit checked by hand, against scipy's generic optimiser, and against choix."""

from __future__ import annotations

import math

import choix
import numpy as np
import pytest
from scipy.optimize import approx_fprime, minimize

from fcmatch.judge.bradley_terry import _Davidson, encode, fit_bradley_terry
from fcmatch.judge.elo import elo_ratings, expected
from fcmatch.judge.judgements import Comparison


def _comps(spec):
    """'a>b', 'a=b' strings -> comparisons."""
    out = []
    for k, s in enumerate(spec):
        if "=" in s:
            a, b = s.split("=")
            out.append(Comparison(f"j{k}", a, b, "tie"))
        else:
            a, b = s.split(">")
            out.append(Comparison(f"j{k}", a, b, "A"))
    return out


def test_two_items_closed_form():
    # a beats b 3 times, b beats a once: plain BT MLE has theta_a - theta_b = log(3/1)
    fit = fit_bradley_terry(_comps(["a>b"] * 3 + ["b>a"]), ["a", "b"], ridge=0)
    assert fit.scores[0] - fit.scores[1] == pytest.approx(math.log(3), abs=1e-6)
    # observed information of d = theta_a - theta_b is n p (1 - p) = 4 * 3/4 * 1/4 = 3/4, so
    # var(d) = 4/3; under sum-to-zero theta_a = d/2 and SE = sqrt(4/3) / 2
    assert fit.se[0] == pytest.approx(math.sqrt(4 / 3) / 2, rel=1e-5)
    assert fit.tie == 0.0


def test_symmetric_three_items_with_ties():
    # a cyclic, symmetric design: every item equally strong; Davidson's nu MLE is then
    # 2 * ties / wins (P(tie) = nu / (2 + nu) with equal strengths), here 2 * 3 / 6 = 1
    spec = ["a>b", "b>c", "c>a", "b>a", "c>b", "a>c", "a=b", "b=c", "c=a"]
    fit = fit_bradley_terry(_comps(spec), ["a", "b", "c"], ridge=0)
    np.testing.assert_allclose(fit.scores, 0, atol=1e-6)
    assert fit.tie == pytest.approx(1.0, rel=1e-5)
    # log-likelihood: 6 wins at 1/3 and 3 ties at 1/3
    assert fit.loglik == pytest.approx(9 * math.log(1 / 3), rel=1e-6)


def test_gradient_zero_at_estimate_and_matches_numeric():
    comps = _comps(["a>b", "a>b", "b>a", "b>c", "c>b", "a=c", "a>c", "b=c"])
    items = ["a", "b", "c"]
    fit = fit_bradley_terry(comps, items, ridge=0)
    i, j, o = encode(comps, items)
    model = _Davidson(3, i, j, o, with_ties=True)
    params = np.append(fit.scores, math.log(fit.tie))
    np.testing.assert_allclose(model.grad(params), 0, atol=1e-6)
    # analytic gradient and Hessian agree with finite differences at another point
    other = np.array([0.3, -0.2, 0.1, -0.5])
    np.testing.assert_allclose(model.grad(other), approx_fprime(other, model.loglik, 1e-7), atol=1e-5)
    numeric = np.array([approx_fprime(other, lambda p, k=k: -model.grad(p)[k], 1e-7) for k in range(4)])
    np.testing.assert_allclose(model.info(other), numeric, atol=1e-5)
    # the same maximum from scipy's derivative-free Nelder-Mead on the raw likelihood (a fixed at 0)
    res = minimize(lambda q: -model.loglik(np.array([0.0, q[0], q[1], q[2]])), [0, 0, 0], method="Nelder-Mead",
                   options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 5000})
    theta = np.array([0.0, res.x[0], res.x[1]])
    np.testing.assert_allclose(fit.scores, theta - theta.mean(), atol=1e-4)


def test_without_ties_equals_choix():
    # a strongly connected random design over 6 items, ties included then removed
    rng = np.random.default_rng(0)
    items = list("abcdef")
    truth = rng.normal(0, 1, 6)
    comps = []
    for k in range(120):
        i, j = rng.choice(6, 2, replace=False)
        u = rng.random()
        p = 1 / (1 + np.exp(truth[j] - truth[i]))
        verdict = "tie" if u < 0.2 else "A" if rng.random() < p else "B"
        comps.append(Comparison(f"j{k % 3}", items[i], items[j], verdict))
    with_ties = fit_bradley_terry(comps, items, ridge=0)
    assert with_ties.tie > 0
    comps = [c for c in comps if c.verdict != "tie"]
    index = {x: k for k, x in enumerate(items)}
    pairs = [(index[c.winner], index[c.loser]) for c in comps]
    ours = fit_bradley_terry(comps, items, ridge=0)
    theirs = choix.ilsr_pairwise(len(items), pairs, tol=1e-12)
    np.testing.assert_allclose(ours.scores, theirs - theirs.mean(), atol=1e-5)
    # with a ridge: choix penalises alpha * sum(theta^2), ours ridge / 2 * sum(theta^2)
    ours = fit_bradley_terry(comps, items, ridge=0.5)
    theirs = choix.opt_pairwise(len(items), pairs, alpha=0.25, tol=1e-10)
    np.testing.assert_allclose(ours.scores, theirs - theirs.mean(), atol=1e-4)


def test_ridge_matches_choix_map(shared_data):
    from fcmatch.judge.judgements import read_match_study

    data = read_match_study(shared_data / "match")
    items = data.items_of("4")
    comps = [c for c in data.judgements if c.a in items and c.verdict != "tie"]
    index = {x: k for k, x in enumerate(items)}
    pairs = [(index[c.winner], index[c.loser]) for c in comps]
    ours = fit_bradley_terry(comps, items, ridge=0.5)
    theirs = choix.opt_pairwise(len(items), pairs, alpha=0.25, tol=1e-10)
    np.testing.assert_allclose(ours.scores, theirs - theirs.mean(), atol=1e-4)


def test_ridge_keeps_unbeaten_item_finite():
    comps = _comps(["a>b", "a>c", "b>c"])
    with pytest.raises(ValueError, match="MLE does not exist"):
        fit_bradley_terry(comps, ["a", "b", "c"], ridge=0)
    fit = fit_bradley_terry(comps, ["a", "b", "c"])
    assert fit.scores[0] > fit.scores[1] > fit.scores[2]
    assert np.all(np.isfinite(fit.se)) and fit.scores.sum() == pytest.approx(0, abs=1e-9)


def test_unknown_item():
    with pytest.raises(KeyError, match="'z'"):
        fit_bradley_terry(_comps(["a>z"]), ["a", "b"])


def test_elo_hand_worked_sequence():
    # a>b from 1000/1000: E = 0.5, a 1016, b 984; tie skipped; then b>a: E_b = 1/(1+10^(32/400))
    comps = _comps(["a>b", "a=b", "b>a"])
    e_b = 1 / (1 + 10 ** (32 / 400))
    assert expected(984, 1016) == pytest.approx(e_b)
    ratings = elo_ratings(comps, items=["a", "b", "c"])
    assert ratings["a"] == pytest.approx(1016 - 32 * (1 - e_b))
    assert ratings["b"] == pytest.approx(984 + 32 * (1 - e_b))
    assert ratings["c"] == 1000
    assert ratings["a"] == pytest.approx(998.5305, abs=1e-4)  # 10^0.08 = 1.20226, E_b = 0.45408
