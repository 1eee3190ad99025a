"""The human ceiling of pairwise agreement: how well one judge agrees with the others.

On the shared pairs of ``reliability/`` (every judge judged them), each judge's non-tie verdict is
compared with the majority of the other judges' non-tie verdicts on the same pair (leave-one-judge-out):
1 when the majority agrees, 0 when it disagrees, 1/2 when the others split evenly; pairs where every
other judge said tie are left out. The mean over every (judge, pair) is the ceiling a measure's
``reliability_accuracy`` (agreement with each judge's non-tie verdicts on the same pairs) can be read
against; the floor is the ``edge_count`` measure ("more edges wins").
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from fcmatch.judge.judgements import JudgementData, sentence_of
from fcmatch.judge.selection import RESAMPLES, SEED


def human_ceiling(data: JudgementData) -> dict[str, Any] | None:
    """Leave-one-judge-out majority agreement on the shared pairs (module docstring).

    Returns:
        None without ``reliability/`` verdicts; else ``pairwise_accuracy``, ``pairwise_accuracy_ci``
        (95% percentile bootstrap over sentences, seeded), ``verdicts`` (judge-pair verdicts counted),
        ``pairs`` and ``per_judge`` (each judge's agreement with the others' majority).
    """
    by_pair: dict[frozenset[str], dict[str, str | None]] = defaultdict(dict)
    for c in data.reliability:
        by_pair[c.pair()][c.judge] = c.winner
    rows: list[tuple[str, str, float]] = []  # (sentence, judge, agreement)
    for pair, votes in by_pair.items():
        for judge, winner in votes.items():
            if winner is None:
                continue
            others = [w for j, w in votes.items() if j != judge and w is not None]
            if not others:
                continue
            agree = sum(w == winner for w in others)
            rows.append((sentence_of(next(iter(pair))), judge,
                         1.0 if 2 * agree > len(others) else 0.5 if 2 * agree == len(others) else 0.0))
    if not rows:
        return None
    sids = sorted({s for s, _, _ in rows})
    per_sentence = np.array([[sum(v for s, _, v in rows if s == sid), sum(1 for s, _, _ in rows if s == sid)]
                             for sid in sids])
    boot = per_sentence[np.random.default_rng(SEED).integers(len(sids), size=(RESAMPLES, len(sids)))].sum(axis=1)
    ratio = boot[:, 0] / boot[:, 1]
    judges = sorted({j for _, j, _ in rows})
    return {
        "pairwise_accuracy": float(np.mean([v for _, _, v in rows])),
        "pairwise_accuracy_ci": [float(np.percentile(ratio, 2.5)), float(np.percentile(ratio, 97.5))],
        "verdicts": len(rows),
        "pairs": len(by_pair),
        "per_judge": {j: float(np.mean([v for _, k, v in rows if k == j])) for j in judges},
    }
