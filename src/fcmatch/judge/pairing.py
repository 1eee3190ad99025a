"""Which pair a judge should compare next: a small registry of strategies with one signature.

``PAIRING[name](items, comparisons, judge, rng, group=None) -> (a, b) | None``

- ``items``: ids that may be paired (e.g. the ten maps of one sentence); ``group`` (item -> key),
  when given, only pairs items with equal keys (pass :func:`fcmatch.judge.judgements.sentence_of`
  to hand every sentence's items at once).
- ``comparisons``: everything judged so far, by every judge (other items are ignored).
- Returns a pair ``judge`` has not judged yet (in either order), or None when there is none left.

``random`` draws uniformly among those pairs (the baseline). ``adaptive`` fits Bradley-Terry to the
comparisons so far and takes the pair maximising p(1 - p) * (SE_a^2 + SE_b^2): p(1 - p) (p = the
predicted probability that a wins, ties counted half) is the Fisher information the outcome carries
about the score difference, and the SE weight steers comparisons to the items known least, which also
balances exposure (an uncompared item has the largest SE). In a simulation with 24 items this reached
a given rank correlation with about a third fewer comparisons than ``random``, and beat variants
that picked the least-compared item first or weighted by exposure counts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from fcmatch.judge.bradley_terry import fit_bradley_terry
from fcmatch.judge.judgements import Comparison

Pair = tuple[str, str]
Strategy = Callable[..., Pair | None]


def open_pairs(
    items: Sequence[str], comparisons: Sequence[Comparison], judge: str, group: Callable[[str], str] | None = None
) -> list[Pair]:
    """Unordered pairs of ``items`` (within a group) that ``judge`` has not compared, in a fixed order."""
    seen = {c.pair() for c in comparisons if c.judge == judge}
    return [
        (a, b)
        for a, b in itertools.combinations(items, 2)
        if frozenset((a, b)) not in seen and (group is None or group(a) == group(b))
    ]


def _orient(pair: Pair, rng: np.random.Generator) -> Pair:
    # show each item on the left half the time, so a left/right bias of judges averages out
    return pair if rng.random() < 0.5 else (pair[1], pair[0])


def propose_random(
    items: Sequence[str],
    comparisons: Sequence[Comparison],
    judge: str,
    rng: np.random.Generator,
    group: Callable[[str], str] | None = None,
) -> Pair | None:
    """A uniformly random pair the judge has not seen (order random too); None when none is left."""
    pairs = open_pairs(items, comparisons, judge, group)
    if not pairs:
        return None
    return _orient(pairs[int(rng.integers(len(pairs)))], rng)


def propose_pair(
    items: Sequence[str],
    comparisons: Sequence[Comparison],
    judge: str,
    rng: np.random.Generator,
    group: Callable[[str], str] | None = None,
) -> Pair | None:
    """The adaptive proposal (see the module docstring); None when the judge has seen every pair.

    Args:
        items: candidate item ids.
        comparisons: all verdicts so far; those naming items outside ``items`` are ignored.
        judge: who will judge the pair; pairs they already judged are never proposed.
        rng: breaks ties between equally good pairs and randomises left/right.
        group: optional item -> group key; only items of one group are paired.

    Returns:
        ``(left, right)`` or None.
    """
    pairs = open_pairs(items, comparisons, judge, group)
    if not pairs:
        return None
    items = list(items)
    known = set(items)
    fit = fit_bradley_terry([c for c in comparisons if c.a in known and c.b in known], items)
    index = {item: k for k, item in enumerate(items)}
    gains = np.empty(len(pairs))
    for k, (a, b) in enumerate(pairs):
        i, j = index[a], index[b]
        p_win, _, p_tie = fit.probabilities(i, j)
        p = p_win + p_tie / 2
        gains[k] = p * (1 - p) * (fit.se[i] ** 2 + fit.se[j] ** 2)
    best = np.flatnonzero(gains >= gains.max() * (1 - 1e-9))
    return _orient(pairs[int(rng.choice(best))], rng)


PAIRING: dict[str, Strategy] = {"random": propose_random, "adaptive": propose_pair}
