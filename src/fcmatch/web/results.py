"""What the admin's results page shows, computed from the verdicts so far: Bradley-Terry scores per
sentence with standard errors, reliability, and how well automatic measures agree with the judges.

All statistics come from :mod:`fcmatch.judge` and :mod:`fcmatch.evaluate`; this module only groups the
study's verdicts and shapes the numbers for the page.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fcmatch.judge.bradley_terry import fit_bradley_terry
from fcmatch.judge.judgements import Comparison, item_id, sentence_of
from fcmatch.web.study import study_comparisons
from fcmatch.web.svg import draw_scores
from fcmatch.web.tables import Study

Z95 = 1.96  # error bars are 95% Wald intervals: score +- 1.96 SE


def sentence_scores(study: Study, comparisons: list[Comparison]) -> list[dict[str, Any]]:
    """Per sentence, the Bradley-Terry-Davidson fit of its items.

    Returns:
        ``[{"position", "text", "n", "rows": [{"labeler", "item", "score", "se", "n"}], "svg"}]``, rows
        best first; sentences without verdicts have ``n == 0`` and no rows.
    """
    out = []
    by_sentence: dict[str, list[Comparison]] = {}
    for comp in comparisons:
        by_sentence.setdefault(sentence_of(comp.a), []).append(comp)
    for sentence in study.sentences:
        key = str(sentence.position)
        comps = by_sentence.get(key, [])
        entry: dict[str, Any] = {"position": sentence.position, "text": sentence.text, "n": len(comps), "rows": []}
        if comps:
            items = [item_id(sentence.position, it.labeler) for it in sentence.items]
            fit = fit_bradley_terry(comps, items)
            rows = [
                {"labeler": it.labeler, "item": iid, "score": float(s), "se": float(se), "n": int(n)}
                for it, iid, s, se, n in zip(sentence.items, items, fit.scores, fit.se, fit.exposure, strict=True)
            ]
            rows.sort(key=lambda r: -r["score"])
            entry["rows"] = rows
            entry["svg"] = draw_scores([(r["labeler"], r["score"], Z95 * r["se"]) for r in rows])
        out.append(entry)
    return out


def study_results(session: Session, study: Study) -> dict[str, Any]:
    """Everything the results page shows.

    Returns:
        ``{"n_verdicts", "n_ties", "judges", "sentences": sentence_scores(...), "reliability": {...},
        "alignment": [...]}``.
    """
    rows = study_comparisons(session, study)
    comparisons = [c for c, _, _ in rows]
    return {
        "n_verdicts": len(comparisons),
        "n_ties": sum(c.verdict == "tie" for c in comparisons),
        "judges": sorted({c.judge for c in comparisons}),
        "sentences": sentence_scores(study, comparisons),
    }
