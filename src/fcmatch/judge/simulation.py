"""Simulated comparative judgement: Bradley-Terry-Davidson judges comparing items of known strength.

Used to check that a pairing strategy recovers a known ranking with fewer comparisons than another
(``tests/test_judge_pairing.py``) and to size a judging study before running it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

from fcmatch.judge.bradley_terry import fit_bradley_terry, outcome_probabilities
from fcmatch.judge.judgements import Comparison
from fcmatch.judge.pairing import PAIRING


def simulate_judging(
    strategy: str,
    true_scores: Sequence[float],
    budget: int,
    rng: np.random.Generator,
    n_judges: int = 5,
    tie: float = 0.3,
    every: int = 5,
) -> list[tuple[int, float]]:
    """Run ``budget`` simulated comparisons chosen by ``PAIRING[strategy]``, judges taking turns.

    Args:
        strategy: a key of :data:`fcmatch.judge.pairing.PAIRING`.
        true_scores: true log-strengths; item k is called ``"i<k>"``.
        budget: comparisons to simulate (fewer if every judge has seen every pair).
        rng: the only source of randomness.
        n_judges: judges, each drawing outcomes from the Davidson model with the true scores.
        tie: Davidson's nu for the simulated judges.
        every: fit and record the rank correlation after every ``every`` comparisons.

    Returns:
        ``(comparisons so far, Spearman correlation of fitted with true scores)`` at each checkpoint.

    Raises:
        KeyError: an unknown strategy.
    """
    propose = PAIRING[strategy]
    items = [f"i{k}" for k in range(len(true_scores))]
    truth = dict(zip(items, true_scores, strict=True))
    comps: list[Comparison] = []
    curve = []
    for step in range(budget):
        judge = f"judge{step % n_judges}"
        pair = propose(items, comps, judge, rng)
        if pair is None:
            break
        a, b = pair
        p_a, p_b, _ = outcome_probabilities(truth[a], truth[b], np.log(tie))
        u = rng.random()
        verdict = "A" if u < p_a else "B" if u < p_a + p_b else "tie"
        comps.append(Comparison(judge, a, b, verdict))
        if len(comps) % every == 0:
            fit = fit_bradley_terry(comps, items)
            curve.append((len(comps), float(spearmanr(fit.scores, true_scores).statistic)))
    return curve


def comparisons_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """First checkpoint at which the correlation reached ``target`` (None if never)."""
    return next((n for n, rho in curve if rho >= target), None)
