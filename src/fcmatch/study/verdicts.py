"""What a judge can answer and how each answer reaches the analyses.

A judge picks one of :data:`~fcmatch.store.study_tables.VERDICTS` and may also *flag* the pair:

- ``A`` / ``B``: that side's map is better; ``tie``: they are equally good;
- ``both_bad``: neither map is acceptable. Neither is better, so Bradley-Terry(-Davidson), win rates,
  pairwise accuracy and every agreement figure (Krippendorff's alpha, per-judge agreement, repeat
  consistency) count it as a **tie**, as Chatbot Arena counts its "tie (both bad)"; the results page and
  the exports keep the judge's own word (``choice``), so "both bad" can be told from a tie;
- ``skip``: no verdict (the judge cannot or will not judge the pair). The slot counts as done for the
  judge's progress, but the pair is **left out** of every analysis (``fcmatch align --study``,
  ``fcmatch judge report --study``, the results page) and is never repeated to that judge;
- a flag (any verdict, a skip included) marks the pair for the researcher; it changes no figure and is
  listed, with the comment, on the results page and in the exports.
"""

from __future__ import annotations

from fcmatch.store.study_tables import VERDICTS

LABELS = {"A": "A better", "B": "B better", "tie": "Tie", "both_bad": "Both bad", "skip": "Skipped"}
# the verdict the analyses see, None where the pair is left out
_ANALYSED: dict[str, str | None] = {"A": "A", "B": "B", "tie": "tie", "both_bad": "tie", "skip": None}


def analysed_verdict(verdict: str) -> str | None:
    """``A``, ``B`` or ``tie`` as :class:`fcmatch.judge.judgements.Comparison` takes it; None for a skip.

    Raises:
        ValueError: not one of :data:`~fcmatch.store.study_tables.VERDICTS`.
    """
    if verdict not in _ANALYSED:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    return _ANALYSED[verdict]
