"""Pair gold and predicted causal maps by their sentence text.

Files written by different tools order and space sentences differently, so the key is the text with
every whitespace run collapsed (case and punctuation kept: two sentences differing only there are
different sentences in the real data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fcmatch.data.causal_map import CausalMap


def text_key(text: str) -> str:
    """The pairing key of a sentence: whitespace runs collapsed to one space, ends stripped."""
    return " ".join(text.split())


@dataclass
class Pairing:
    """Gold maps with their predictions.

    Attributes:
        pairs: (gold, pred) in gold order; a gold sentence absent from the predictions is paired with
            an empty map whose ``meta["missing"]`` is True (scored as "predicted nothing").
        missing: gold sentences without a prediction.
        extra: predicted sentences not in the gold file (ignored in the scores).
        extra_texts: the first few extra sentences, for the report.
    """

    pairs: list[tuple[CausalMap, CausalMap]] = field(default_factory=list)
    missing: int = 0
    extra: int = 0
    extra_texts: list[str] = field(default_factory=list)


def _index(maps: list[CausalMap], role: str) -> dict[str, CausalMap]:
    out: dict[str, CausalMap] = {}
    for i, cmap in enumerate(maps):
        key = text_key(cmap.text)
        if key in out:
            raise ValueError(
                f"{role} has the sentence {key[:60]!r} twice (records {maps.index(out[key]) + 1} and {i + 1}); "
                "merge or drop the duplicate so each sentence is scored once"
            )
        out[key] = cmap
    return out


def pair_maps(gold: list[CausalMap], pred: list[CausalMap]) -> Pairing:
    """Pair each gold map with the prediction for the same sentence.

    Args:
        gold: reference maps, one per sentence.
        pred: predicted maps, one per sentence, any order.

    Returns:
        A :class:`Pairing`.

    Raises:
        ValueError: a sentence appears twice in gold or twice in pred (the message names it).
    """
    gold_index = _index(gold, "gold")
    pred_index = _index(pred, "pred")
    pairing = Pairing()
    for key, g in gold_index.items():
        p = pred_index.get(key)
        if p is None:
            pairing.missing += 1
            p = CausalMap(g.text, [], source="", meta={"missing": True})
        pairing.pairs.append((g, p))
    extra = [cmap.text for key, cmap in pred_index.items() if key not in gold_index]
    pairing.extra, pairing.extra_texts = len(extra), extra[:5]
    return pairing
