"""Bradley-Terry scores with ties (Davidson 1970), by penalised maximum likelihood, with standard errors.

Model: item i has log-strength theta_i, ties have log-parameter lam (nu = exp(lam)). For a comparison
of i and j, with D = e^theta_i + e^theta_j + nu * e^((theta_i + theta_j) / 2),

    P(i wins) = e^theta_i / D,   P(j wins) = e^theta_j / D,   P(tie) = nu * e^((theta_i + theta_j) / 2) / D.

Without ties in the data nu is fixed at 0 and this is plain Bradley-Terry. Each comparison is a
three-outcome exponential family with sufficient statistic (1,0,0) / (0,1,0) / (1/2,1/2,1) over
(theta_i, theta_j, lam), so the gradient of the log-likelihood is observed minus expected statistic and
the Hessian of the negative log-likelihood is the statistic's covariance: exact, and convex.

Scale: the likelihood only sees differences, so it is fixed by a Gaussian prior (ridge) on theta,
penalty ``ridge / 2 * sum(theta**2)`` (prior variance 1 / ridge; choix's ``opt_pairwise`` penalises
``alpha * sum(theta**2)``, so ``ridge = 2 * alpha``). The default ridge=0.1 (prior sd 3.2 log-units, i.e. win odds up to e^6 are barely shrunk)
keeps an item that won every comparison finite. With ``ridge=0`` the scores are the MLE under the
sum-to-zero constraint, and the standard errors come from the pseudo-inverse of the observed
information, which is the covariance under that constraint. Scores are reported centred (mean 0) in
both cases; SEs are sqrt of the diagonal of the inverse observed information (penalised Hessian).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fcmatch.judge.judgements import Comparison

DEFAULT_RIDGE = 0.1


@dataclass
class BTResult:
    """A fitted Bradley-Terry-Davidson model.

    Attributes:
        items: item ids, in the order of ``scores``.
        scores: centred log-strengths (natural log; a difference of 1 means win odds e:1 ignoring ties).
        se: standard errors of ``scores``.
        tie: Davidson's nu (0 when the data has no ties).
        loglik: log-likelihood at the estimate (without the ridge penalty).
        n_comparisons: comparisons used.
        exposure: comparisons per item.
    """

    items: list[str]
    scores: np.ndarray
    se: np.ndarray
    tie: float
    loglik: float
    n_comparisons: int
    exposure: np.ndarray

    def score_of(self) -> dict[str, float]:
        """item id -> score."""
        return dict(zip(self.items, self.scores.tolist(), strict=True))

    def probabilities(self, i: int, j: int) -> tuple[float, float, float]:
        """(P(i wins), P(j wins), P(tie)) for item indices i and j under the fitted model."""
        return outcome_probabilities(self.scores[i], self.scores[j], np.log(self.tie) if self.tie > 0 else -np.inf)


def outcome_probabilities(theta_i: float, theta_j: float, lam: float) -> tuple[float, float, float]:
    """Davidson outcome probabilities (i wins, j wins, tie) for log-strengths and log tie parameter ``lam``."""
    m = max(theta_i, theta_j)
    wi, wj = np.exp(theta_i - m), np.exp(theta_j - m)
    wt = np.exp(lam + (theta_i + theta_j) / 2 - m) if np.isfinite(lam) else 0.0
    d = wi + wj + wt
    return float(wi / d), float(wj / d), float(wt / d)


def encode(comparisons: Iterable[Comparison], items: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays (i, j, outcome) with outcome 0 = i wins, 1 = j wins, 2 = tie; raises KeyError for an unknown item."""
    index = {item: k for k, item in enumerate(items)}
    rows = []
    for c in comparisons:
        for x in (c.a, c.b):
            if x not in index:
                raise KeyError(f"comparison by {c.judge!r} names {x!r}, which is not among the items")
        rows.append((index[c.a], index[c.b], {"A": 0, "B": 1, "tie": 2}[c.verdict]))
    arr = np.array(rows, dtype=int).reshape(-1, 3)
    return arr[:, 0], arr[:, 1], arr[:, 2]


def mle_exists(n: int, i: np.ndarray, j: np.ndarray, outcome: np.ndarray) -> bool:
    """Whether the unpenalised MLE is finite: the graph with an edge loser -> winner per win (both ways
    for a tie) must be strongly connected (Ford 1957; ties count both ways under Davidson's model), and
    with ties there must be at least one win too, or nu runs off to infinity."""
    if n <= 1:
        return True
    win_i, win_j, tie = outcome == 0, outcome == 1, outcome == 2
    if tie.any() and tie.all():
        return False
    src = np.concatenate([j[win_i], i[win_j], i[tie], j[tie]])
    dst = np.concatenate([i[win_i], j[win_j], j[tie], i[tie]])
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    return connected_components(graph, directed=True, connection="strong")[0] == 1


class _Davidson:
    """Negative log-likelihood, gradient and Hessian over params = (theta_0..theta_{n-1}[, lam])."""

    def __init__(self, n: int, i: np.ndarray, j: np.ndarray, outcome: np.ndarray, with_ties: bool):
        self.n, self.i, self.j, self.with_ties = n, i, j, with_ties
        # observed sufficient statistic per comparison over (theta_i, theta_j, lam)
        stats = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 1.0]])
        self.obs = stats[outcome]
        self.stats = stats
        self.outcome = outcome

    def _probs(self, params: np.ndarray) -> np.ndarray:
        theta = params[: self.n]
        lam = params[self.n] if self.with_ties else -np.inf
        ti, tj = theta[self.i], theta[self.j]
        logits = np.stack([ti, tj, lam + (ti + tj) / 2 if self.with_ties else np.full_like(ti, -np.inf)], axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        return w / w.sum(axis=1, keepdims=True)

    def loglik(self, params: np.ndarray) -> float:
        p = self._probs(params)
        chosen = p[np.arange(len(self.outcome)), self.outcome]
        return float(np.log(np.clip(chosen, 1e-300, None)).sum())

    def _scatter(self, per_comp: np.ndarray) -> np.ndarray:
        """Sum per-comparison (k, 3) gradients into the parameter vector."""
        g = np.zeros(self.n + 1)
        np.add.at(g, self.i, per_comp[:, 0])
        np.add.at(g, self.j, per_comp[:, 1])
        g[self.n] = per_comp[:, 2].sum()
        return g if self.with_ties else g[: self.n]

    def grad(self, params: np.ndarray) -> np.ndarray:
        """Gradient of the log-likelihood: observed minus expected statistic."""
        return self._scatter(self.obs - self._probs(params) @ self.stats)

    def info(self, params: np.ndarray) -> np.ndarray:
        """Observed information (Hessian of the negative log-likelihood): covariance of the statistic."""
        p = self._probs(params)
        mean = p @ self.stats
        cov = np.einsum("kc,ca,cb->kab", p, self.stats, self.stats) - np.einsum("ka,kb->kab", mean, mean)
        size = self.n + 1
        h = np.zeros((size, size))
        idx = np.stack([self.i, self.j, np.full_like(self.i, self.n)], axis=1)
        for a in range(3):
            for b in range(3):
                np.add.at(h, (idx[:, a], idx[:, b]), cov[:, a, b])
        return h if self.with_ties else h[: self.n, : self.n]


def fit_bradley_terry(
    comparisons: Iterable[Comparison], items: Sequence[str], ridge: float = DEFAULT_RIDGE
) -> BTResult:
    """Fit Davidson's Bradley-Terry model with ties by penalised maximum likelihood.

    Args:
        comparisons: the verdicts; every item they name must be in ``items``.
        items: the item ids to score (an item never compared gets score ~0 and a large SE, or an
            infinite SE when ``ridge`` is 0).
        ridge: Gaussian prior precision on the log-strengths (see the module docstring); 0 gives the
            plain MLE under a sum-to-zero constraint, which diverges when an item won or lost every
            comparison.

    Returns:
        A :class:`BTResult` with centred scores and standard errors.

    Raises:
        KeyError: a comparison names an unknown item.
        ValueError: ``ridge`` < 0, or ``ridge`` == 0 and the MLE does not exist (optimiser diverged).
    """
    comparisons = list(comparisons)
    items = list(items)
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    n = len(items)
    i, j, outcome = encode(comparisons, items)
    with_ties = bool((outcome == 2).any())
    model = _Davidson(n, i, j, outcome, with_ties)
    size = n + int(with_ties)
    penalty = np.zeros((size, size))
    penalty[:n, :n] = ridge * np.eye(n)
    # with no ridge, (sum theta)^2 / 2 pins the mean to 0 without changing the likelihood's optimum
    anchor = np.zeros((size, size))
    if ridge == 0:
        anchor[:n, :n] = 1.0

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        reg = penalty + anchor
        return (-model.loglik(params) + 0.5 * params @ reg @ params, -model.grad(params) + reg @ params)

    def hessian(params: np.ndarray) -> np.ndarray:
        return model.info(params) + penalty + anchor

    start = np.zeros(size)
    if with_ties:
        start[n] = np.log(max((outcome == 2).mean(), 1e-3))
    if ridge == 0 and not mle_exists(n, i, j, outcome):
        raise ValueError("the Bradley-Terry MLE does not exist for these comparisons (some items never lost to, "
                         "or never beat, the others: the win graph is not strongly connected); use ridge > 0")
    res = minimize(objective, start, jac=True, hess=hessian, method="trust-exact", options={"gtol": 1e-9})
    params = res.x
    info = model.info(params) + penalty
    # ridge > 0: the penalised information is invertible; ridge == 0: pinv = covariance under sum-to-zero
    cov = np.linalg.inv(info) if ridge > 0 else np.linalg.pinv(info, rcond=1e-10)
    theta = params[:n]
    exposure = np.bincount(np.concatenate([i, j]), minlength=n)
    se = np.sqrt(np.clip(np.diag(cov)[:n], 0, None))
    if ridge == 0:
        se[exposure == 0] = np.inf
    return BTResult(
        items=items,
        scores=theta - theta.mean(),
        se=se,
        tie=float(np.exp(params[n])) if with_ties else 0.0,
        loglik=model.loglik(params),
        n_comparisons=len(comparisons),
        exposure=exposure,
    )
