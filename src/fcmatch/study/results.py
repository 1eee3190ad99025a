"""A study's results so far, as the admin's results page shows them: Bradley-Terry scores per
sentence with standard errors, reliability, and how well automatic measures agree with the judges.

All statistics come from :mod:`fcmatch.judge` and :mod:`fcmatch.evaluate`; this module only groups the
study's verdicts and shapes the numbers (the page draws them with :mod:`fcmatch.web.svg`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from fcmatch.evaluate.matching import MATCHERS
from fcmatch.judge.align import sentence_tables
from fcmatch.judge.bradley_terry import fit_bradley_terry
from fcmatch.judge.judgements import Comparison, JudgementData, item_id, sentence_of
from fcmatch.judge.measures import MEASURES
from fcmatch.judge.reliability import agreement, fit_per_sentence, repeat_consistency, split_half, ssr
from fcmatch.store.study_tables import Study
from fcmatch.study.export import VerdictRow, study_judgements, study_verdicts
from fcmatch.study.judges import judge_rows, leaderboard, win_rates
from fcmatch.study.verdicts import LABELS

Z95 = 1.96  # 95% Wald intervals: score +- 1.96 SE
# measures shown live: cheap ones (no MiniLM load in a web request), each at its matcher's default
# threshold -- nothing is tuned on verdicts that are still coming in (`fcmatch align` does that)
LIVE_MEASURES = ("f1_exact", "f1_fuzzy", "f1_token")
SPLITS = 20  # split-half repetitions per page view (the offline report uses 100)


def sentence_scores(study: Study, comparisons: list[Comparison]) -> list[dict[str, Any]]:
    """Per sentence, the Bradley-Terry-Davidson fit of its items.

    Returns:
        ``[{"id", "text", "n", "rows": [{"labeler", "item", "score", "se", "ci95", "n"}]}]``, rows
        best first (``ci95`` = half-width of the 95% interval); sentences without verdicts have
        ``n == 0`` and no rows.
    """
    out = []
    by_sentence: dict[str, list[Comparison]] = {}
    for comp in comparisons:
        by_sentence.setdefault(sentence_of(comp.a), []).append(comp)
    for sentence in study.sentences:
        comps = by_sentence.get(sentence.key, [])
        entry: dict[str, Any] = {"id": sentence.key, "text": sentence.text, "n": len(comps), "rows": []}
        if comps:
            items = [item_id(sentence.key, it.labeler) for it in sentence.items]
            fit = fit_bradley_terry(comps, items)
            rows = [
                {"labeler": it.labeler, "item": iid, "score": float(s), "se": float(se), "ci95": Z95 * float(se),
                 "n": int(n)}
                for it, iid, s, se, n in zip(sentence.items, items, fit.scores, fit.se, fit.exposure, strict=True)
            ]
            rows.sort(key=lambda r: -r["score"])
            entry["rows"] = rows
        out.append(entry)
    return out


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text  # no "-0.00"


def distinct_splits(n_judges: int) -> int:
    """How many different ways there are to split ``n_judges`` into two halves (sizes n//2 and the rest)."""
    ways = math.comb(n_judges, n_judges // 2)
    return ways // 2 if n_judges % 2 == 0 else ways  # an even split and its mirror image are one split


def reliability_rows(data: JudgementData) -> list[dict[str, str]]:
    """Reliability so far: SSR, split-half over judges, agreement on common pairs, repeat consistency."""
    comps = data.judgements
    judged = sorted({x for c in comps for x in (c.a, c.b)})
    out = []
    if len(judged) >= 3:
        fitted = fit_per_sentence(comps, judged)
        value = ssr([fitted[x][0] for x in judged], [fitted[x][1] for x in judged])
        out.append({"name": "Scale separation reliability (SSR)", "value": _fmt(value),
                    "note": f"{len(judged)} maps with at least one verdict"})
    judges = {c.judge for c in comps}
    if len(judges) >= 2 and len(judged) >= 3:
        out.append(_split_half_row(comps, judged, len(judges)))
    if len({c.judge for c in data.reliability}) >= 2:
        agree = agreement(data.reliability)
        out.append({"name": "Agreement on common pairs", "value": _fmt(agree["percent_agreement"]),
                    "note": f"{agree['pairs']} pairs, {agree['judges']} judges"})
        out.append({"name": "Krippendorff's alpha (common pairs)", "value": _fmt(agree["krippendorff_alpha"]),
                    "note": "nominal: first / second / tie"})
    repeats = repeat_consistency(comps)
    if repeats["repeats"]:
        out.append({"name": "Repeat consistency (intra-rater)", "value": _fmt(repeats["rate"]),
                    "note": f"{repeats['consistent']} of {repeats['repeats']} repeated pairs judged the same"})
    return out


def _split_half_row(comps: list[Comparison], judged: list[str], n_judges: int) -> dict[str, str]:
    ways = distinct_splits(n_judges)
    half = split_half(comps, judged, np.random.default_rng(0), min(SPLITS, ways))
    basis = (f"the only split of {n_judges} judges into halves" if ways == 1
             else f"median of {SPLITS} random splits of {n_judges} judges" if ways > SPLITS
             else f"median of all {ways} splits of {n_judges} judges")
    r = half["r_median"]
    if math.isnan(r) or r <= 0:
        # Spearman-Brown, 2r / (1 + r), is meaningless for r <= 0 and runs off to -infinity near r = -1
        return {"name": "Split-half reliability (Spearman-Brown)", "value": "–" if math.isnan(r) else "none yet",
                "note": f"{basis}; the halves' scores correlate at r = {_fmt(r)}, so they do not agree yet "
                        "(more verdicts per map needed)"}
    return {"name": "Split-half reliability (Spearman-Brown)", "value": _fmt(half["reliability"]),
            "note": f"{basis}; halves correlate at r = {_fmt(r)}"}


def comment_rows(rows: list[VerdictRow]) -> list[dict[str, Any]]:
    """Every verdict that came with a comment or a flag (skips included), oldest first: judge, sentence,
    the two labelers, the judge's answer (the winning labeler, tie, both bad or skipped), flag, comment."""
    out = []
    for row in rows:
        if row.verdict.comment or row.verdict.flagged:
            a, b = row.a.rsplit("/", 1)[1], row.b.rsplit("/", 1)[1]
            chosen = {"A": a, "B": b}.get(row.choice, LABELS[row.choice].lower())
            out.append({"judge": row.judge, "sentence": sentence_of(row.a), "a": a, "b": b, "verdict": chosen,
                        "flagged": row.verdict.flagged, "comment": row.verdict.comment})
    return out


def alignment_rows(data: JudgementData) -> list[dict[str, str]]:
    """Per live measure: pairwise accuracy on non-tie verdicts and the MATCH paper's mean Spearman."""
    out = []
    if not any(c.verdict != "tie" for c in data.judgements):
        return out
    for name in LIVE_MEASURES:
        matcher = name.removeprefix("f1_")
        measure = dataclasses.replace(MEASURES[name], grid=[{"threshold": MATCHERS[matcher].threshold}])
        tables = [t for t in sentence_tables(data, measure).values() if len(t.verdicts)]
        correct = sum(t.pairwise(0)[0] for t in tables)
        total = sum(t.pairwise(0)[1] for t in tables)
        rho = float(np.mean([np.nan_to_num(t.spearman(0)) for t in tables]))
        out.append({"name": f"{name}: pairwise accuracy", "value": _fmt(correct / total),
                    "note": f"{total} non-tie verdicts; consensus F1 picks the judges' choice"})
        out.append({"name": f"{name}: Spearman with Elo (MATCH paper)", "value": _fmt(rho),
                    "note": f"mean over {len(tables)} sentences"})
    return out


def study_results(session: Session, study: Study) -> dict[str, Any]:
    """Everything the results page shows.

    Returns:
        ``{"n_verdicts", "n_ties", "n_both_bad", "n_skipped", "n_flagged", "judges", "sentences":
        sentence_scores(...), "reliability": {...}, "alignment": [...], "comments": comment_rows(...),
        "judge_rows": ..., "leaderboard": ..., "win_rates": ...}`` (:mod:`fcmatch.study.judges`). ``n_verdicts`` and every
        figure count analysed verdicts only: skips left out, "both bad" as a tie (``n_ties`` includes
        ``n_both_bad``; :mod:`fcmatch.study.verdicts`).
    """
    rows = study_verdicts(session, study)
    comparisons = [c for c in (row.comparison() for row in rows) if c is not None]
    data = study_judgements(session, study)
    return {
        "comments": comment_rows(rows),
        "n_both_bad": sum(row.choice == "both_bad" for row in rows),
        "n_skipped": sum(row.choice == "skip" for row in rows),
        "n_flagged": sum(row.verdict.flagged for row in rows),
        "judge_rows": judge_rows(comparisons),
        "leaderboard": leaderboard(comparisons),
        "win_rates": win_rates(comparisons),
        "reliability": reliability_rows(data),
        "alignment": alignment_rows(data),
        "n_verdicts": len(comparisons),
        "n_ties": sum(c.verdict == "tie" for c in comparisons),
        "judges": sorted({c.judge for c in comparisons}),
        "sentences": sentence_scores(study, comparisons),
    }
