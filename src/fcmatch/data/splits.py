"""Seeded train/validation/test splits: of causal maps by sentence (no sentence text in two splits) or by
source; of instructions by record, optionally stratified by category."""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from pathlib import Path

from fcmatch.config import ConfigError, save_config
from fcmatch.data.causal_map import CausalMap
from fcmatch.data.config import SplitConfig, check_fractions
from fcmatch.data.formats import read_maps, write_jsonl
from fcmatch.data.instructions import Instruction, instruction_format, read_instructions, write_instructions

SPLIT_CONFIG = "split.config.yaml"
"""The file in ``out_dir`` that records how the split was made."""


def _cut(keys: list[Hashable], fractions: Sequence[float], which: dict[Hashable, int]) -> None:
    """Give each of the (already shuffled) ``keys`` its split index in ``which``, cutting them by ``fractions``."""
    bounds, total = [], 0.0
    for fraction in fractions[:-1]:
        total += fraction
        bounds.append(round(total * len(keys)))
    bounds.append(len(keys))
    start = 0
    for index, end in enumerate(bounds):
        for key in keys[start:end]:
            which[key] = index
        start = end


def split_by_sentence(
    maps: Sequence[CausalMap], fractions: Sequence[float] = (0.8, 0.2), seed: int = 0
) -> list[list[CausalMap]]:
    """Shuffle distinct sentences with ``seed`` and cut them by ``fractions``.

    Maps that share a sentence text (several labelers, or duplicates) always land in the same split.

    Raises:
        ValueError: fractions that are not positive or do not sum to 1.
    """
    check_fractions(fractions)
    texts: list[Hashable] = sorted({m.text for m in maps})
    random.Random(seed).shuffle(texts)
    which: dict[Hashable, int] = {}
    _cut(texts, fractions, which)
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


def split_instructions(
    records: Sequence[Instruction], fractions: Sequence[float] = (0.8, 0.2), seed: int = 0, stratify: str = "none"
) -> list[list[Instruction]]:
    """Shuffle distinct prompts (instruction and input) with ``seed`` and cut them by ``fractions``.

    Records that share instruction and input always land in the same split, so no test prompt is seen in
    training. With ``stratify="category"`` each category (in sorted order) is shuffled and cut on its own,
    so every split keeps each category's share up to rounding; a prompt found in several categories goes
    where its first category put it.

    Raises:
        ValueError: fractions that are not positive or do not sum to 1, or an unknown ``stratify``.
    """
    check_fractions(fractions)
    if stratify not in ("none", "category"):
        raise ValueError(f"stratify={stratify!r}: choose none or category")
    groups: dict[str, list[Instruction]] = {}
    for record in records:
        groups.setdefault(record.category if stratify == "category" else "", []).append(record)
    which: dict[Hashable, int] = {}
    for name in sorted(groups):
        keys: list[Hashable] = sorted({(r.instruction, r.input) for r in groups[name]} - set(which))
        random.Random(seed).shuffle(keys)
        _cut(keys, fractions, which)
    splits: list[list[Instruction]] = [[] for _ in fractions]
    for record in records:
        splits[which[(record.instruction, record.input)]].append(record)
    return splits


def split_file(config: SplitConfig) -> dict[Path, int]:
    """Run ``fcmatch data split``: read ``config.input``, split it, write one file per split in ``out_dir``.

    Causal maps go to ``<name>.jsonl`` (fcmatch JSONL); instructions keep their format, ``<name>.json`` for
    Alpaca and ``<name>.jsonl`` for Dolly and chat. The resolved config is saved beside them as
    ``split.config.yaml``, so the split can be redone exactly.

    Returns:
        Each written file and its number of records, in split order.

    Raises:
        FileNotFoundError, FormatError: a missing or malformed input.
        ConfigError: --by source or --stratify that does not fit the input.
        ValueError: a named test source that no map has.
    """
    fmt = instruction_format(config.input, config.format)
    names = config.names or config.default_names()
    if fmt:
        if config.by != "sentence":
            raise ConfigError("--by source splits causal maps; split instructions with --fractions (and --stratify)")
        splits = split_instructions(read_instructions(config.input, fmt), config.fractions, config.seed, config.stratify)
        written = {}
        for name, records in zip(names, splits, strict=True):
            path = Path(config.out_dir) / f"{name}.{'json' if fmt == 'alpaca' else 'jsonl'}"
            write_instructions(records, path, fmt)
            written[path] = len(records)
        save_config(config, Path(config.out_dir) / SPLIT_CONFIG)
        return written
    if config.stratify != "none":
        raise ConfigError(f"--stratify {config.stratify} needs an instruction file; {config.input} holds causal maps")
    maps = read_maps(config.input, None if config.format == "auto" else config.format)
    if config.by == "sentence":
        parts = split_by_sentence(maps, config.fractions, config.seed)
    else:
        parts = list(split_by_source(maps, config.test_sources))
    written = {}
    for name, part in zip(names, parts, strict=True):
        path = Path(config.out_dir) / f"{name}.jsonl"
        write_jsonl(part, path)
        written[path] = len(part)
    save_config(config, Path(config.out_dir) / SPLIT_CONFIG)
    return written
