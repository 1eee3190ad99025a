"""Model suggestions in the editor: what became of each suggested edge, and the rates per model.

A suggestion ends as one of:

- ``accepted``: an edge equal to it (same normalised cause, effect and sign) is in the annotation,
  whether the person kept the suggested row or typed the same edge again;
- ``edited``: the person started from it (the edge's ``origin``) and changed cause, effect or sign;
- ``rejected``: rejected explicitly, or still undecided when the person marked the sentence done;
- ``pending``: undecided in an unfinished annotation (left out of the rates).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from fcmatch.annotate.annotation import AnnotationDoc
from fcmatch.data.causal_map import Edge

OUTCOMES = ("accepted", "edited", "rejected", "pending")


def suggestion_outcomes(suggested: Sequence[Edge], doc: AnnotationDoc) -> list[str]:
    """The outcome of each suggested edge in ``doc`` (one of :data:`OUTCOMES`, in suggestion order)."""
    keys = {e.edge().key() for e in doc.complete_edges()}
    origins: dict[int, list[Edge]] = defaultdict(list)
    for e in doc.complete_edges():
        if e.origin is not None:
            origins[e.origin].append(e.edge())
    rejected = set(doc.rejected)
    out = []
    for i, edge in enumerate(suggested):
        if edge.key() in keys:
            out.append("accepted")
        elif origins.get(i):
            out.append("edited")
        elif i in rejected or doc.status == "done":
            out.append("rejected")
        else:
            out.append("pending")
    return out


def outcome_rates(rows: Iterable[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Per model: counts of each outcome and the accepted/edited/rejected rates over decided suggestions.

    Args:
        rows: (model, outcome) pairs, one per suggested edge shown to one annotator.

    Returns:
        ``{model: {"decided", "accepted", "edited", "rejected", "pending", "accept_rate", "edit_rate",
        "reject_rate"}}``; rates are over decided suggestions and 0.0 when none is decided.
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    for model, outcome in rows:
        counts[model][outcome] += 1
    report = {}
    for model, c in sorted(counts.items()):
        decided = c["accepted"] + c["edited"] + c["rejected"]
        row: dict[str, float] = {k: c[k] for k in OUTCOMES}
        row["decided"] = decided
        for name in ("accepted", "edited", "rejected"):
            rate_key = {"accepted": "accept_rate", "edited": "edit_rate", "rejected": "reject_rate"}[name]
            row[rate_key] = c[name] / decided if decided else 0.0
        report[model] = row
    return report
