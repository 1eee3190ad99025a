"""Counts that describe a causal-map or an instruction dataset (``fcmatch data stats``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from fcmatch.data.causal_map import POSITIVE, CausalMap
from fcmatch.data.config import StatsConfig
from fcmatch.data.formats import read_maps
from fcmatch.data.instructions import Instruction, instruction_format, read_instructions, user_content
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


def percentiles(values: Sequence[int]) -> dict[str, float]:
    """min, p50, p90, p95, max (nearest-rank percentiles: the smallest value with at least p% at or below it)
    and the mean; all 0 for no values."""
    if not values:
        return {"min": 0, "p50": 0, "p90": 0, "p95": 0, "max": 0, "mean": 0.0}
    ordered = sorted(values)
    rank = {f"p{p}": ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] for p in (50, 90, 95)}
    return {"min": ordered[0], **rank, "max": ordered[-1], "mean": round(sum(ordered) / len(ordered), 2)}


def instruction_stats(records: Sequence[Instruction], tokenizer: Any = None) -> dict[str, Any]:
    """Records, records with an input, distinct prompts, per-category counts and length percentiles.

    Args:
        records: the instructions.
        tokenizer: when given, token lengths of the user turn (instruction and input) and of the output.

    Returns:
        ``words`` holds whitespace-word percentiles of instruction, input (records with one) and output.
    """
    inputs = [r.input for r in records if r.input]
    stats: dict[str, Any] = {
        "records": len(records),
        "with_input": len(inputs),
        "distinct_prompts": len({(r.instruction, r.input) for r in records}),
        "categories": dict(Counter(r.category or "(none)" for r in records).most_common()),
        "words": {
            "instruction": percentiles([len(r.instruction.split()) for r in records]),
            "input": percentiles([len(text.split()) for text in inputs]),
            "output": percentiles([len(r.output.split()) for r in records]),
        },
    }
    if tokenizer is not None:
        stats["tokens"] = {
            "user": percentiles([len(tokenizer(user_content(r))["input_ids"]) for r in records]),
            "output": percentiles([len(tokenizer(r.output)["input_ids"]) for r in records]),
        }
    return stats


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
    """Run ``fcmatch data stats``: :func:`dataset_stats` of a causal-map file or :func:`instruction_stats` of an
    instruction file, token lengths unless ``tokens`` is off.

    Raises:
        FileNotFoundError, FormatError: a missing or malformed file.
    """
    fmt = instruction_format(config.file, config.format)
    tokenizer = None
    if config.tokens:
        from fcmatch.models import load_tokenizer

        tokenizer = load_tokenizer(config.tokenizer)
    if fmt:
        return instruction_stats(read_instructions(config.file, fmt), tokenizer)
    return dataset_stats(read_maps(config.file, None if config.format == "auto" else config.format), tokenizer)
