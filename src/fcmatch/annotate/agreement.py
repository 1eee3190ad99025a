"""Agreement between annotators on the sentences several of them annotated.

Three numbers, as the issue asks:

- **graph F1** between two people's maps of a sentence, with the evaluation's own
  :func:`fcmatch.evaluate.graph.compare_maps` (one person as "gold"; with one-to-one node matching
  F1 is symmetric), averaged over sentences and pooled (micro);
- **sign agreement**: Cohen's kappa of the signs of edges both people drew (cause and effect matched
  by the same node matcher, sign ignored for the match);
- the **sentences where people disagree most** (lowest pairwise F1), to discuss and fix the guidelines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from fcmatch.data.causal_map import CausalMap, normalize_concept
from fcmatch.evaluate.graph import EdgeCounts, compare_maps
from fcmatch.evaluate.matching import match_nodes


@dataclass
class PairAgreement:
    """Two people's maps of one sentence compared.

    Attributes:
        sentence: the sentence's key.
        text: the sentence.
        a, b: the two annotators' names.
        counts: ``compare_maps(map_a, map_b)``.
        sign_pairs: (sign by a, sign by b) for every edge both drew, whatever its sign.
    """

    sentence: Hashable
    text: str
    a: str
    b: str
    counts: EdgeCounts
    sign_pairs: list[tuple[int, int]] = field(default_factory=list)

    @property
    def f1(self) -> float:
        return self.counts.f1


def _concepts(cmap: CausalMap) -> list[str]:
    seen: dict[str, str] = {}
    for concept in cmap.concepts:
        seen.setdefault(normalize_concept(concept), concept)
    return list(seen.values())


def matched_sign_pairs(
    map_a: CausalMap, map_b: CausalMap, matcher: str = "exact", threshold: float | None = None
) -> list[tuple[int, int]]:
    """Signs of the edges both maps contain, ignoring sign when matching.

    Nodes are matched with :func:`fcmatch.evaluate.matching.match_nodes`; an edge of ``map_a`` pairs
    with an unused edge of ``map_b`` whose cause and effect match its own, preferring one of equal
    sign (so ``a: x -> y +`` against ``b: x -> y +, x -> y -`` is one agreement, not a disagreement).

    Returns:
        (sign in a, sign in b) per matched edge, in ``map_a`` order.
    """
    nodes_a, nodes_b = _concepts(map_a), _concepts(map_b)
    if not nodes_a or not nodes_b:
        return []
    index_a = {normalize_concept(c): i for i, c in enumerate(nodes_a)}
    index_b = {normalize_concept(c): i for i, c in enumerate(nodes_b)}
    to_b: dict[int, set[int]] = defaultdict(set)
    for i, j, _ in match_nodes(nodes_a, nodes_b, matcher, threshold):
        to_b[i].add(j)
    unused = [(index_b[normalize_concept(e.cause)], index_b[normalize_concept(e.effect)], e.sign) for e in map_b.edges]
    pairs = []
    for edge in map_a.edges:
        causes = to_b.get(index_a[normalize_concept(edge.cause)], set())
        effects = to_b.get(index_a[normalize_concept(edge.effect)], set())
        candidates = [k for k, (c, e, _) in enumerate(unused) if c in causes and e in effects]
        if not candidates:
            continue
        k = next((k for k in candidates if unused[k][2] == edge.sign), candidates[0])
        pairs.append((edge.sign, unused[k][2]))
        unused[k] = (-1, -1, 0)  # used: matches nothing any more
    return pairs


def cohen_kappa(pairs: Sequence[tuple[Any, Any]]) -> float | None:
    """Cohen's kappa of two raters' labels, ``(po - pe) / (1 - pe)``.

    Returns:
        Kappa, or None when undefined: no pairs, or chance agreement 1 (both raters used one and the
        same label throughout, so there is no variation to agree on).
    """
    n = len(pairs)
    if not n:
        return None
    labels = {x for pair in pairs for x in pair}
    observed = sum(a == b for a, b in pairs) / n
    expected = sum((sum(a == lab for a, _ in pairs) / n) * (sum(b == lab for _, b in pairs) / n) for lab in labels)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def compare_annotators(
    groups: Mapping[Hashable, Mapping[str, CausalMap]], matcher: str = "exact", threshold: float | None = None
) -> list[PairAgreement]:
    """Every pair of annotators on every sentence that two or more of them annotated.

    Args:
        groups: ``{sentence key: {annotator name: map}}``; sentences with one map are skipped.
        matcher: node matcher (``exact``, ``fuzzy``, ``token``, ``embedding``, ``paper``).
        threshold: node similarity threshold; default the matcher's.
    """
    out = []
    for key, maps in groups.items():
        for a, b in combinations(sorted(maps), 2):
            counts = compare_maps(maps[a], maps[b], matcher, threshold)
            signs = matched_sign_pairs(maps[a], maps[b], matcher, threshold)
            out.append(PairAgreement(key, maps[a].text, a, b, counts, signs))
    return out


def agreement_report(
    groups: Mapping[Hashable, Mapping[str, CausalMap]],
    matcher: str = "exact",
    threshold: float | None = None,
    worst: int = 10,
) -> dict[str, Any]:
    """Summarise agreement for the admin page and ``fcmatch annotate agreement``.

    Args:
        groups: ``{sentence key: {annotator name: map}}`` of finished annotations.
        matcher: node matcher name.
        threshold: node similarity threshold; default the matcher's.
        worst: how many most-disputed sentences to list.

    Returns:
        ``{"matcher", "sentences", "pairs", "mean_f1", "micro_f1", "matched_edges", "sign_agreement",
        "sign_kappa", "by_pair": [{"a", "b", "sentences", "mean_f1"}], "disagreements": [{"sentence",
        "text", "f1", "maps": {name: [edge dicts]}}]}``. F1 values are None without any overlap;
        ``sign_kappa`` is None when undefined (see :func:`cohen_kappa`).
    """
    pairs = compare_annotators(groups, matcher, threshold)
    signs = [s for p in pairs for s in p.sign_pairs]
    total = sum((p.counts for p in pairs), EdgeCounts())
    by_pair: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_sentence: dict[Hashable, list[float]] = defaultdict(list)
    for p in pairs:
        by_pair[(p.a, p.b)].append(p.f1)
        by_sentence[p.sentence].append(p.f1)
    sentence_f1 = {k: sum(v) / len(v) for k, v in by_sentence.items()}
    disputed = sorted(sentence_f1, key=lambda k: (sentence_f1[k], str(k)))[:worst]
    return {
        "matcher": matcher,
        "sentences": len(sentence_f1),
        "pairs": len(pairs),
        "mean_f1": sum(sentence_f1.values()) / len(sentence_f1) if sentence_f1 else None,
        "micro_f1": total.f1 if pairs else None,
        "matched_edges": len(signs),
        "sign_agreement": sum(a == b for a, b in signs) / len(signs) if signs else None,
        "sign_kappa": cohen_kappa(signs),
        "by_pair": [
            {"a": a, "b": b, "sentences": len(v), "mean_f1": sum(v) / len(v)} for (a, b), v in sorted(by_pair.items())
        ],
        "disagreements": [
            {
                "sentence": key,
                "text": next(iter(groups[key].values())).text,
                "f1": sentence_f1[key],
                "maps": {name: [e.to_dict() for e in m.edges] for name, m in sorted(groups[key].items())},
            }
            for key in disputed
        ],
    }
