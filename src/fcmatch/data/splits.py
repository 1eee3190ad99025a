"""Seeded train/validation/test splits: by sentence (no sentence text in two splits) or by source."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from fcmatch.data.causal_map import CausalMap
from fcmatch.data.config import SplitConfig, check_fractions
from fcmatch.data.formats import read_maps, write_jsonl


def split_by_sentence(
    maps: Sequence[CausalMap], fractions: Sequence[float] = (0.8, 0.2), seed: int = 0
) -> list[list[CausalMap]]:
    """Shuffle distinct sentences with ``seed`` and cut them by ``fractions``.

    Maps that share a sentence text (several labelers, or duplicates) always land in the same split.

    Raises:
        ValueError: fractions that are not positive or do not sum to 1.
    """
    check_fractions(fractions)
    texts = sorted({m.text for m in maps})
    random.Random(seed).shuffle(texts)
    bounds, total = [], 0.0
    for fraction in fractions[:-1]:
        total += fraction
        bounds.append(round(total * len(texts)))
    bounds.append(len(texts))
    which, start = {}, 0
    for index, end in enumerate(bounds):
        for text in texts[start:end]:
            which[text] = index
        start = end
    splits: list[list[CausalMap]] = [[] for _ in fractions]
    for cmap in maps:
        splits[which[cmap.text]].append(cmap)
    return splits


def split_by_source(maps: Sequence[CausalMap], test_sources: Sequence[str]) -> tuple[list[CausalMap], list[CausalMap]]:
    """(in-domain, out-of-domain): maps whose ``source`` is in ``test_sources`` go to the second list.

    Raises:
        ValueError: a named source that no map has (a typo would silently give an empty test set).
    """
    known = {m.source for m in maps}
    unknown = [s for s in test_sources if s not in known]
    if unknown:
        raise ValueError(f"--test-sources {unknown} not in the data; sources are {sorted(known)}")
    chosen = set(test_sources)
    return [m for m in maps if m.source not in chosen], [m for m in maps if m.source in chosen]


def split_file(config: SplitConfig) -> dict[Path, int]:
    """Run ``fcmatch data split``: read ``config.input``, split it, write ``<out_dir>/<name>.jsonl`` per split.

    Returns:
        Each written file and its number of causal maps, in split order.

    Raises:
        FileNotFoundError, FormatError: a missing or malformed input.
        ValueError: a named test source that no map has.
    """
    maps = read_maps(config.input)
    if config.by == "sentence":
        parts = split_by_sentence(maps, config.fractions, config.seed)
    else:
        parts = list(split_by_source(maps, config.test_sources))
    written = {}
    for name, part in zip(config.names or config.default_names(), parts, strict=True):
        path = Path(config.out_dir) / f"{name}.jsonl"
        write_jsonl(part, path)
        written[path] = len(part)
    return written
