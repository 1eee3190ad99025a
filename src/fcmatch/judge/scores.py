"""Per-item scores of a study in one table: Bradley-Terry (Davidson, per sentence) with SEs, and Elo."""

from __future__ import annotations

import os
from typing import Any

from fcmatch.judge.elo import elo_ratings
from fcmatch.judge.judgements import read_match_study
from fcmatch.judge.reliability import fit_per_sentence, study_reliability


def study_scores(data_dir: str | os.PathLike) -> dict[str, Any]:
    """``{"items": {item: {"bt", "se", "elo"}}, "reliability": ...}`` for a MATCH-layout folder."""
    data = read_match_study(data_dir)
    items = sorted(data.items)
    fitted = fit_per_sentence(data.judgements, items)
    elo = elo_ratings(data.judgements, items)
    return {
        "items": {x: {"bt": float(fitted[x][0]), "se": float(fitted[x][1]), "elo": elo[x]} for x in items},
        "reliability": study_reliability(data),
    }
