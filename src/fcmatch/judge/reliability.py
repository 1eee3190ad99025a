"""Reliability of comparative judgements: of the scale (SSR, split-half) and of the judges (agreement).

- Scale separation reliability (Bramley 2015): ``SSR = (var(scores) - mean(SE^2)) / var(scores)``.
- Split-half over judges: judges are split at random into two halves, Bradley-Terry is fitted on each
  half's verdicts (per sentence, so scores of different sentences never mix), the two halves' scores
  are correlated (Pearson, over every item) and stepped up with Spearman-Brown ``2r / (1 + r)``;
  the median over repeated splits is reported.
- Agreement on pairs every judge judged (``reliability/``): percent agreement over judge pairs,
  agreement on pairs neither judge called a tie, Fleiss' kappa (Fleiss 1971) and Krippendorff's alpha
  (nominal, the ``krippendorff`` package) over the three verdicts "first labeler", "second", "tie".
- Repeat consistency: pairs a judge saw twice (e.g. in ``judgements/`` and ``reliability/``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import krippendorff
import numpy as np

from fcmatch.judge.bradley_terry import fit_bradley_terry
from fcmatch.judge.judgements import Comparison, JudgementData, sentence_of

SPLITS = 100


def ssr(scores: Sequence[float], se: Sequence[float]) -> float:
    """Scale separation reliability: share of observed score variance that is not measurement error."""
    scores, se = np.asarray(scores, float), np.asarray(se, float)
    var = scores.var(ddof=1)
    return float((var - np.mean(se**2)) / var)


def spearman_brown(r: float, factor: float = 2.0) -> float:
    """Reliability of a test ``factor`` times as long as one with reliability ``r``: k r / (1 + (k - 1) r)."""
    return factor * r / (1 + (factor - 1) * r)


def _canonical(comp: Comparison) -> tuple[frozenset[str], str]:
    """(pair, verdict as "first" / "second" / "tie" relative to the alphabetically first item)."""
    first = min(comp.a, comp.b)
    verdict = "tie" if comp.verdict == "tie" else "first" if comp.winner == first else "second"
    return comp.pair(), verdict


def rating_table(comparisons: Sequence[Comparison]) -> tuple[list[frozenset[str]], list[str], list[list[str | None]]]:
    """Pairs x judges table of canonical verdicts (None where a judge did not judge a pair).

    Returns:
        (pairs, judges, table) with ``table[p][j]`` the verdict of judge j on pair p.
    """
    pairs = list(dict.fromkeys(c.pair() for c in comparisons))
    judges = sorted({c.judge for c in comparisons})
    row, col = {p: k for k, p in enumerate(pairs)}, {j: k for k, j in enumerate(judges)}
    table: list[list[str | None]] = [[None] * len(judges) for _ in pairs]
    for c in comparisons:
        pair, verdict = _canonical(c)
        table[row[pair]][col[c.judge]] = verdict
    return pairs, judges, table


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from a subjects x categories matrix of rating counts (same raters per subject).

    Returns NaN where kappa is undefined: every rating in one category (chance agreement 1, so 0/0).

    Raises:
        ValueError: subjects with different numbers of ratings.
    """
    counts = np.asarray(counts, float)
    n = counts.sum(axis=1)
    if not np.all(n == n[0]):
        raise ValueError("Fleiss' kappa needs the same number of ratings for every subject")
    n = n[0]
    p_j = counts.sum(axis=0) / counts.sum()
    p_i = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), (p_j**2).sum()
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_bar - p_e) / (1 - p_e))


def agreement(comparisons: Sequence[Comparison]) -> dict[str, Any]:
    """Agreement between judges on pairs several judges judged.

    Returns:
        ``pairs``, ``judges``, ``percent_agreement`` (share of agreeing judge pairs, over pairs judged
        by both), ``agreement_without_ties`` (the same over judge pairs where neither said tie),
        ``fleiss_kappa`` (over pairs judged by every judge) and ``krippendorff_alpha`` (nominal).
    """
    pairs, judges, table = rating_table(comparisons)
    agree = total = agree_nt = total_nt = 0
    for row in table:
        for x, y in itertools.combinations([v for v in row if v is not None], 2):
            agree += x == y
            total += 1
            if "tie" not in (x, y):
                agree_nt += x == y
                total_nt += 1
    categories = ["first", "second", "tie"]
    full = [row for row in table if all(v is not None for v in row)]
    counts = np.array([[row.count(c) for c in categories] for row in full]).reshape(-1, 3)
    codes = np.array([[np.nan if v is None else categories.index(v) for v in row] for row in table]).T
    return {
        "pairs": len(pairs),
        "judges": len(judges),
        "percent_agreement": agree / total if total else None,
        "agreement_without_ties": agree_nt / total_nt if total_nt else None,
        "fleiss_kappa": fleiss_kappa(counts) if len(full) and len(judges) > 1 else None,
        "krippendorff_alpha": float(krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal"))
        if len(judges) > 1 else None,
    }


def repeat_consistency(*sources: Sequence[Comparison]) -> dict[str, Any]:
    """How often a judge gave the same verdict to a pair they saw more than once (across ``sources``).

    Returns:
        ``repeats`` (judge-pair combinations seen at least twice), ``consistent`` (all verdicts equal)
        and ``rate`` (None without repeats).
    """
    seen: dict[tuple[str, frozenset[str]], list[str]] = defaultdict(list)
    for comps in sources:
        for c in comps:
            seen[(c.judge, c.pair())].append(_canonical(c)[1])
    repeats = [v for v in seen.values() if len(v) > 1]
    consistent = sum(len(set(v)) == 1 for v in repeats)
    return {"repeats": len(repeats), "consistent": consistent, "rate": consistent / len(repeats) if repeats else None}


def fit_per_sentence(comparisons: Sequence[Comparison], items: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Bradley-Terry per sentence (item ids grouped by :func:`sentence_of`): item -> (score, SE)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for item in items:
        groups[sentence_of(item)].append(item)
    by_sentence: dict[str, list[Comparison]] = defaultdict(list)
    for c in comparisons:
        by_sentence[sentence_of(c.a)].append(c)
    out = {}
    for sid, members in groups.items():
        fit = fit_bradley_terry(by_sentence[sid], members)
        out.update({x: (s, e) for x, s, e in zip(members, fit.scores, fit.se, strict=True)})
    return out


def split_half(
    comparisons: Sequence[Comparison], items: Sequence[str], rng: np.random.Generator, splits: int = SPLITS
) -> dict[str, Any]:
    """Split-half reliability over judges (module docstring).

    Returns:
        ``r_median`` (correlation of the halves), ``reliability`` (Spearman-Brown of ``r_median``),
        ``reliability_ci`` (2.5 and 97.5 percentiles over splits) and ``splits``.

    Raises:
        ValueError: fewer than two judges.
    """
    judges = sorted({c.judge for c in comparisons})
    if len(judges) < 2:
        raise ValueError("split-half reliability needs at least two judges")
    rs = []
    for _ in range(splits):
        half = set(rng.permutation(judges)[: len(judges) // 2])
        fits = [fit_per_sentence([c for c in comparisons if (c.judge in half) == side], items) for side in (True, False)]
        a = np.array([fits[0][x][0] for x in items])
        b = np.array([fits[1][x][0] for x in items])
        rs.append(float(np.corrcoef(a, b)[0, 1]))
    rs_arr = np.array(rs)
    r = float(np.median(rs_arr))
    return {
        "r_median": r,
        "reliability": spearman_brown(r),
        "reliability_ci": [spearman_brown(float(np.percentile(rs_arr, q))) for q in (2.5, 97.5)],
        "splits": splits,
    }


def study_reliability(data: JudgementData, seed: int = 0, splits: int = SPLITS) -> dict[str, Any]:
    """Every reliability figure of a study: SSR, split-half, agreement and repeat consistency."""
    items = sorted(data.items)
    fitted = fit_per_sentence(data.judgements, items)
    scores = np.array([fitted[x][0] for x in items])
    se = np.array([fitted[x][1] for x in items])
    return {
        "ssr": ssr(scores, se),
        "split_half": split_half(data.judgements, items, np.random.default_rng(seed), splits),
        "agreement": agreement(data.reliability) if data.reliability else None,
        "repeat_consistency": repeat_consistency(data.judgements, data.reliability),
    }
