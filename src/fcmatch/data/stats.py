"""Counts that describe a causal-map dataset (``fcmatch data stats``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from fcmatch.data.causal_map import POSITIVE, CausalMap
from fcmatch.data.config import StatsConfig
from fcmatch.data.formats import read_maps
from fcmatch.data.serialize import format_edges


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "mean": 0.0, "max": 0}
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "mean": round(sum(ordered) / len(ordered), 2),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
    }


def dataset_stats(maps: Sequence[CausalMap], tokenizer: Any = None) -> dict[str, Any]:
    """Sentences, edges (after duplicate removal), signs, edges per sentence, sources, token lengths.

    Args:
        maps: the causal maps.
        tokenizer: when given, token lengths of the sentences and of the serialised targets.
    """
    edges = [e for m in maps for e in m.edges]
    positive = sum(1 for e in edges if e.sign == POSITIVE)
    per_sentence = Counter(len(m.edges) for m in maps)
    stats: dict[str, Any] = {
        "sentences": len({m.text for m in maps}),
        "maps": len(maps),
        "edges": len(edges),
        "positive": positive,
        "negative": len(edges) - positive,
        "edges_per_sentence": {str(k): per_sentence[k] for k in sorted(per_sentence)},
        "mean_edges_per_sentence": round(len(edges) / len(maps), 3) if maps else 0.0,
        "sources": dict(Counter(m.source or "(none)" for m in maps).most_common()),
    }
    if tokenizer is not None:
        stats["tokens"] = {
            "sentence": _summary([len(tokenizer(m.text)["input_ids"]) for m in maps]),
            "target": _summary([len(tokenizer(format_edges(m.edges))["input_ids"]) for m in maps]),
        }
    return stats


def file_stats(config: StatsConfig) -> dict[str, Any]:
    """Run ``fcmatch data stats``: :func:`dataset_stats` of ``config.file``, token lengths unless ``tokens`` is off.

    Raises:
        FileNotFoundError, FormatError: a missing or malformed file.
    """
    tokenizer = None
    if config.tokens:
        from fcmatch.models import load_tokenizer

        tokenizer = load_tokenizer(config.tokenizer)
    return dataset_stats(read_maps(config.file), tokenizer)
