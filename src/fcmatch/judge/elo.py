"""Online Elo ratings, as the MATCH paper computed them (Berijanian et al. 2024): every item starts at
1000, K = 32, ties are skipped, comparisons are applied in file order. Kept for replication; the
Bradley-Terry fit in :mod:`fcmatch.judge.bradley_terry` is the order-free, tie-aware alternative.
"""

from __future__ import annotations

from collections.abc import Iterable

from fcmatch.judge.judgements import Comparison

START = 1000.0
K = 32.0


def expected(r_a: float, r_b: float) -> float:
    """Elo's expected score of a player rated ``r_a`` against one rated ``r_b`` (logistic, base 10, scale 400)."""
    return 1.0 / (1.0 + 10.0 ** ((r_b - r_a) / 400.0))


def elo_ratings(
    comparisons: Iterable[Comparison], items: Iterable[str] = (), start: float = START, k: float = K
) -> dict[str, float]:
    """Apply Elo updates in order: R_w += k * (1 - E_w), R_l -= k * (1 - E_w); ties change nothing.

    Args:
        comparisons: verdicts in the order they are applied (the order matters).
        items: items to rate even if never compared (they keep ``start``).
        start: initial rating.
        k: update size.

    Returns:
        item id -> rating, for every item in ``items`` or in a comparison.
    """
    ratings = {item: start for item in items}
    for comp in comparisons:
        for item in (comp.a, comp.b):
            ratings.setdefault(item, start)
        if comp.verdict == "tie":
            continue
        win, lose = comp.winner, comp.loser
        delta = k * (1.0 - expected(ratings[win], ratings[lose]))
        ratings[win] += delta
        ratings[lose] -= delta
    return ratings
