"""Edge-level scores of predicted causal maps: per-sentence counts, micro and macro P/R/F1.

A predicted edge is correct when its cause and its effect both map (through the node matching of
:mod:`fcmatch.evaluate.matching`) onto the cause and effect of a gold edge with the same sign. Edges
are compared as sets: duplicates (same normalised cause, effect and sign) count once on both sides.

Empty-set convention (see docs/evaluation.md): gold and prediction both empty is a correct "no causal
claim" and scores P = R = F1 = 1; one side empty and the other not scores P = R = F1 = 0. The MATCH
paper's code scores both-empty as 0 instead, which would punish a model for correctly abstaining.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from fcmatch.data.causal_map import CausalMap, Edge, normalize_concept
from fcmatch.evaluate.matching import Matcher, check_threshold, get_matcher, match_nodes
from fcmatch.evaluate.pairing import pair_maps


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


@dataclass
class EdgeCounts:
    """Edge counts of one sentence, or pooled over many.

    Attributes:
        tp: gold edges found by some correct predicted edge.
        fp: predicted edges that are not correct (``n_pred - fp`` are correct).
        fn: gold edges not found (``n_gold - tp``).
        sign_errors: predicted edges whose cause and effect match a gold edge of the opposite sign only.
        swapped: other incorrect predicted edges whose reversed direction matches a gold edge.
        n_gold: distinct gold edges.
        n_pred: distinct predicted edges.

    With one-to-one node matching ``tp + fp == n_pred``; with many-to-many (``paper``) one predicted
    edge can find several gold edges, so precision is computed from correct predicted edges and recall
    from found gold edges, never from ``tp`` alone.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    sign_errors: int = 0
    swapped: int = 0
    n_gold: int = 0
    n_pred: int = 0

    @property
    def both_empty(self) -> bool:
        return self.n_gold == 0 and self.n_pred == 0

    @property
    def precision(self) -> float:
        """Correct predicted edges / predicted edges; 1.0 when both sides are empty."""
        return 1.0 if self.both_empty else _ratio(self.n_pred - self.fp, self.n_pred)

    @property
    def recall(self) -> float:
        """Found gold edges / gold edges; 1.0 when both sides are empty."""
        return 1.0 if self.both_empty else _ratio(self.tp, self.n_gold)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: EdgeCounts) -> EdgeCounts:
        return EdgeCounts(**{k: v + getattr(other, k) for k, v in asdict(self).items()})

    def scores(self) -> dict[str, float]:
        """``{"precision", "recall", "f1"}``."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}

    def to_dict(self) -> dict[str, float]:
        """Counts and scores in one flat dict."""
        return {**asdict(self), **self.scores()}


def _nodes_and_edges(edges: list[Edge]) -> tuple[list[str], set[tuple[int, int, int]]]:
    """Distinct concepts (first display form of each normalised name) and edges as index triples."""
    index: dict[str, int] = {}
    names: list[str] = []
    triples: set[tuple[int, int, int]] = set()
    for edge in edges:
        ends = []
        for concept in (edge.cause, edge.effect):
            key = normalize_concept(concept)
            if key not in index:
                index[key] = len(names)
                names.append(concept)
            ends.append(index[key])
        triples.add((ends[0], ends[1], edge.sign))
    return names, triples


def compare_maps(
    gold: CausalMap,
    pred: CausalMap,
    matcher: str | Matcher = "exact",
    threshold: float | None = None,
    one_to_one: bool | None = None,
) -> EdgeCounts:
    """Count correct, wrong, sign-flipped and swapped edges of one predicted map.

    Args:
        gold: the reference map.
        pred: the prediction for the same sentence.
        matcher: node matcher name (:data:`fcmatch.evaluate.matching.MATCHERS`) or object.
        threshold: node similarity threshold; default the matcher's.
        one_to_one: default the matcher's (one-to-one for all but ``paper``).

    Returns:
        :class:`EdgeCounts`.

    Raises:
        ValueError: unknown matcher or threshold outside [0, 1].
    """
    if threshold is not None:  # checked here too: match_nodes is skipped when a side is empty
        check_threshold(threshold)
    gold_nodes, gold_edges = _nodes_and_edges(gold.edges)
    pred_nodes, pred_edges = _nodes_and_edges(pred.edges)
    counts = EdgeCounts(n_gold=len(gold_edges), n_pred=len(pred_edges))
    pairs = match_nodes(gold_nodes, pred_nodes, matcher, threshold, one_to_one) if gold_nodes and pred_nodes else []
    to_gold: dict[int, list[int]] = {}
    for g, p, _ in pairs:
        to_gold.setdefault(p, []).append(g)
    found: set[tuple[int, int, int]] = set()
    correct = 0
    for cause, effect, sign in pred_edges:
        ends = [(c, e) for c in to_gold.get(cause, []) for e in to_gold.get(effect, [])]
        hits = {(c, e, sign) for c, e in ends} & gold_edges
        if hits:
            correct += 1
            found |= hits
        elif any((c, e, -sign) in gold_edges for c, e in ends):
            counts.sign_errors += 1
        elif any((e, c, s) in gold_edges for c, e in ends for s in (1, -1)):
            counts.swapped += 1
    counts.tp = len(found)
    counts.fp = counts.n_pred - correct
    counts.fn = counts.n_gold - counts.tp
    return counts


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def evaluate_maps(
    gold: list[CausalMap],
    pred: list[CausalMap],
    matcher: str | Matcher = "exact",
    threshold: float | None = None,
    one_to_one: bool | None = None,
) -> dict:
    """Score predicted maps against gold maps, paired by sentence text.

    Args:
        gold: reference maps, one per sentence.
        pred: predictions; gold sentences missing here count as empty predictions, sentences not in
            gold are counted in ``counts["extra_predictions"]`` and otherwise ignored.
        matcher: node matcher name or object.
        threshold: node similarity threshold; default the matcher's.
        one_to_one: default the matcher's.

    Returns:
        ``{"matcher", "threshold", "one_to_one", "sentences", "micro": {precision, recall, f1},
        "macro": {precision, recall, f1}, "counts": {tp, fp, fn, sign_errors, swapped, n_gold, n_pred,
        missing_predictions, extra_predictions}, "per_sentence": [{text, missing, tp, ..., f1}]}``.
        Macro averages each sentence's P, R and F1 (as the MATCH paper does); micro computes them from
        the pooled counts.

    Raises:
        ValueError: unknown matcher, bad threshold, or a sentence repeated within a file.
    """
    m = matcher if isinstance(matcher, Matcher) else get_matcher(matcher)
    pairing = pair_maps(gold, pred)
    if m.prepare is not None:
        # only sentences where both sides have edges ever reach the similarity function
        m.prepare([c for g, p in pairing.pairs if g.edges and p.edges for c in (*g.concepts, *p.concepts)])
    total = EdgeCounts()
    per_sentence = []
    for g, p in pairing.pairs:
        counts = compare_maps(g, p, m, threshold, one_to_one)
        total = total + counts
        per_sentence.append({"text": g.text, "missing": bool(p.meta.get("missing")), **counts.to_dict()})
    macro = {k: _mean([row[k] for row in per_sentence]) for k in ("precision", "recall", "f1")}
    if not per_sentence:  # no gold sentences: nothing to score, report zeros rather than invent ones
        macro = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    return {
        "matcher": m.name,
        "threshold": m.threshold if threshold is None else float(threshold),
        "one_to_one": m.one_to_one if one_to_one is None else bool(one_to_one),
        "sentences": len(per_sentence),
        "micro": total.scores() if per_sentence else dict(macro),
        "macro": macro,
        "counts": {
            **{k: v for k, v in total.to_dict().items() if k not in ("precision", "recall", "f1")},
            "missing_predictions": pairing.missing,
            "extra_predictions": pairing.extra,
        },
        "per_sentence": per_sentence,
    }
