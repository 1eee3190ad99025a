"""Who judges how, and which labeler beats which: per-judge figures and the labelers' win-rate matrix,
as the results page shows them next to the Bradley-Terry scores.

Per judge: verdicts, ties, and agreement with the other judges on the pairs they share (the judge's
winner, or tie, against the others' most common answer on that pair; pairs where the others are split
evenly are left out). A judge who agrees far less than the rest is worth a look (a misread instruction,
sides swapped, clicking through). The win-rate matrix pools sentences: cell (row, column) is the share
of the row labeler's comparisons with the column labeler that it won, a tie counting one half.

The leaderboard pools sentences too: one Bradley-Terry-Davidson fit over the labelers (a labeler's
maps of all sentences share one strength), with the fit's Wald interval and a percentile bootstrap
interval that resamples *sentences*, since verdicts on one sentence are not independent of each other
and the Wald interval, which treats them so, is too narrow when labelers' quality varies by sentence.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from fcmatch.judge.bradley_terry import fit_bradley_terry
from fcmatch.judge.judgements import Comparison, sentence_of

Z95 = 1.96  # 95% Wald intervals: score +- 1.96 SE
BOOTSTRAP = 100  # sentence resamples of the leaderboard's interval: one small Bradley-Terry fit each, per page view


def _answer(comp: Comparison) -> str:
    """The verdict as the winning item's id, or ``tie``: comparable whichever side each judge saw."""
    return comp.winner or "tie"


def judge_rows(comparisons: list[Comparison]) -> list[dict[str, Any]]:
    """Per judge (by name): ``{"judge", "verdicts", "ties", "shared", "agreement"}``.

    ``shared`` counts the judge's verdicts on pairs that others judged too with a clear majority;
    ``agreement`` is the share of those that match the majority (None when ``shared`` is 0).
    """
    by_pair: dict[frozenset[str], list[Comparison]] = defaultdict(list)
    for comp in comparisons:
        by_pair[comp.pair()].append(comp)
    rows = []
    for judge in sorted({c.judge for c in comparisons}):
        mine = [c for c in comparisons if c.judge == judge]
        shared = agreed = 0
        for comp in mine:
            others = Counter(_answer(c) for c in by_pair[comp.pair()] if c.judge != judge).most_common(2)
            if not others or (len(others) == 2 and others[0][1] == others[1][1]):
                continue
            shared += 1
            agreed += others[0][0] == _answer(comp)
        rows.append({"judge": judge, "verdicts": len(mine), "ties": sum(c.verdict == "tie" for c in mine),
                     "shared": shared, "agreement": agreed / shared if shared else None})
    return rows


def _labeler(item: str) -> str:
    return item.rsplit("/", 1)[1]


def leaderboard(comparisons: list[Comparison], n_boot: int = BOOTSTRAP, seed: int = 0) -> list[dict[str, Any]]:
    """Labelers ranked by one Bradley-Terry-Davidson fit pooled over sentences, best first.

    Args:
        comparisons: analysed verdicts (item ids ``"<sentence>/<labeler>"``).
        n_boot: sentence resamples for the bootstrap interval (0: none).
        seed: the resampling's seed (the page shows the same interval on every view).

    Returns:
        ``[{"labeler", "score", "se", "low", "high", "boot_low", "boot_high", "n"}]``: centred
        log-strength, its SE, the Wald 95% interval, the 2.5/97.5 percentiles over resamples (None
        without resamples) and the labeler's comparisons. Empty with fewer than two labelers.
    """
    # a labeler against itself (two of its maps) says nothing about labelers
    kept = [c for c in comparisons if _labeler(c.a) != _labeler(c.b)]
    by_sentence: dict[str, list[Comparison]] = defaultdict(list)
    for c in kept:
        by_sentence[sentence_of(c.a)].append(Comparison(c.judge, _labeler(c.a), _labeler(c.b), c.verdict, c.time))
    pooled = [c for group in by_sentence.values() for c in group]
    names = sorted({x for c in pooled for x in (c.a, c.b)})
    if len(names) < 2:
        return []
    fit = fit_bradley_terry(pooled, names)
    boot = np.full((n_boot, len(names)), np.nan)
    groups = list(by_sentence.values())
    rng = np.random.default_rng(seed)
    for k in range(n_boot if len(groups) >= 2 else 0):
        sample = [c for g in rng.integers(len(groups), size=len(groups)) for c in groups[g]]
        present = {x for c in sample for x in (c.a, c.b)}
        # a labeler missing from a resample has no estimate there (the fit would report the prior's 0)
        boot[k] = np.where([name in present for name in names], fit_bradley_terry(sample, names).scores, np.nan)
    rows = []
    for n, name in enumerate(names):
        score, se = float(fit.scores[n]), float(fit.se[n])
        has_boot = n_boot and len(groups) >= 2
        rows.append({"labeler": name, "score": score, "se": se, "low": score - Z95 * se, "high": score + Z95 * se,
                     "boot_low": float(np.nanpercentile(boot[:, n], 2.5)) if has_boot else None,
                     "boot_high": float(np.nanpercentile(boot[:, n], 97.5)) if has_boot else None,
                     "n": int(fit.exposure[n])})
    rows.sort(key=lambda r: -r["score"])
    return rows


def win_rates(comparisons: list[Comparison]) -> dict[str, Any]:
    """``{"labelers": [...], "rates": [[rate or None, ...], ...], "counts": [[n, ...], ...]}``, row beats column."""
    labeler = _labeler
    score: dict[tuple[str, str], float] = defaultdict(float)
    count: Counter[tuple[str, str]] = Counter()
    for comp in comparisons:
        a, b = labeler(comp.a), labeler(comp.b)
        count[(a, b)] += 1
        count[(b, a)] += 1
        points = {"A": 1.0, "B": 0.0, "tie": 0.5}[comp.verdict]
        score[(a, b)] += points
        score[(b, a)] += 1.0 - points
    names = sorted({x for pair in count for x in pair})
    return {
        "labelers": names,
        "rates": [[score[(r, c)] / count[(r, c)] if count[(r, c)] else None for c in names] for r in names],
        "counts": [[count[(r, c)] for c in names] for r in names],
    }
