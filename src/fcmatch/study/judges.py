"""Who judges how, and which labeler beats which: per-judge figures and the labelers' win-rate matrix,
as the results page shows them next to the Bradley-Terry scores.

Per judge: verdicts, ties, and agreement with the other judges on the pairs they share (the judge's
winner, or tie, against the others' most common answer on that pair; pairs where the others are split
evenly are left out). A judge who agrees far less than the rest is worth a look (a misread instruction,
sides swapped, clicking through). The win-rate matrix pools sentences: cell (row, column) is the share
of the row labeler's comparisons with the column labeler that it won, a tie counting one half.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from fcmatch.judge.judgements import Comparison


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


def win_rates(comparisons: list[Comparison]) -> dict[str, Any]:
    """``{"labelers": [...], "rates": [[rate or None, ...], ...], "counts": [[n, ...], ...]}``, row beats column."""
    def labeler(item: str) -> str:
        return item.rsplit("/", 1)[1]

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
