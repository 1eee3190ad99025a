"""Readers for the reference few-shot study's data formats, so it can be rerun on one's own copies.

Every reader returns :class:`~fcmatch.fewshot.data.ClassRecord` s with the label mapped to ``yes``/``no``
(entailment, duplicate, acceptable = ``yes``) so the same patterns and verbalizers serve every task; the
file's own label is kept in ``meta["gold"]``. Errors name the file and the line.

- GLUE TSV (tab-separated, no quoting, header row): RTE (``sentence1``, ``sentence2``, ``label``), MNLI
  (``sentence1``, ``sentence2``, ``gold_label``; neutral dropped or merged into not-entailment), QQP
  (``question1``, ``question2``, ``is_duplicate``);
- CoLA and CoLA-OOD: headerless, 4 columns: source, label (1 = acceptable), original mark, sentence;
- HANS (``heuristics_*_set.txt``): header row, ``gold_label`` entailment/non-entailment, ``heuristic`` and
  ``subcase`` kept in meta for per-heuristic reporting;
- PAWS-QQP (``id``, ``sentence1``, ``sentence2``, ``label``), sentences stored as Python bytes literals
  ``b'...'``: decoded with :func:`ast.literal_eval` (a literal parser, never ``eval``).
"""

from __future__ import annotations

import ast
import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from fcmatch.fewshot.data import NO, YES, ClassRecord


class ReaderError(ValueError):
    """A malformed file; the message starts with ``file:line``."""


def _rows(path: str | os.PathLike, header: bool = True) -> Iterator[tuple[str, int, dict[str, str] | list[str]]]:
    """``(where, line, row)`` of a TSV file; ``row`` is a dict when the file has a header."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    # csv.QUOTE_NONE: GLUE's TSVs contain bare quote characters inside sentences
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        names = next(reader, None) if header else None
        if header and not names:
            raise ReaderError(f"{path}:1: empty file, expected a header row")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row or not "".join(row).strip():
                continue
            if names is None:
                yield where, reader.line_num, row
                continue
            if len(row) < len(names):
                raise ReaderError(f"{where}: {len(row)} columns, the header has {len(names)}")
            yield where, reader.line_num, dict(zip(names, row, strict=False))


def _need(row: dict[str, str], columns: tuple[str, ...], where: str) -> list[str]:
    missing = [c for c in columns if c not in row]
    if missing:
        raise ReaderError(f"{where}: missing column(s) {missing}; found {list(row)}")
    return [row[c].strip() for c in columns]


def _pairs(path: str | os.PathLike, columns: tuple[str, str, str], to_label: Callable[[str, str], str | None],
           extra: tuple[str, ...] = ()) -> list[ClassRecord]:
    records = []
    for where, line, row in _rows(path):
        assert isinstance(row, dict)
        text1, text2, gold = _need(row, columns, where)
        label = to_label(gold, where)
        if label is None:
            continue
        meta = {"gold": gold, "line": line, **{c: row.get(c, "").strip() for c in extra}}
        records.append(ClassRecord(text1, text2, label, meta))
    return records


def _mapping(table: dict[str, str | None]) -> Callable[[str, str], str | None]:
    def to_label(gold: str, where: str) -> str | None:
        if gold not in table:
            raise ReaderError(f"{where}: unknown label {gold!r}; expected one of {sorted(table)}")
        return table[gold]
    return to_label


def read_rte(path: str | os.PathLike) -> list[ClassRecord]:
    """GLUE RTE ``train.tsv``/``dev.tsv``: entailment = yes, not_entailment = no."""
    return _pairs(path, ("sentence1", "sentence2", "label"), _mapping({"entailment": YES, "not_entailment": NO}))


def read_mnli(path: str | os.PathLike, neutral: str = "drop") -> list[ClassRecord]:
    """GLUE MNLI (``train.tsv``, ``dev_matched.tsv``...): entailment = yes, contradiction = no.

    Args:
        neutral: ``drop`` the neutral pairs or ``merge`` them into not-entailment (no).

    Raises:
        ValueError: another ``neutral`` value.
    """
    if neutral not in ("drop", "merge"):
        raise ValueError(f"neutral must be 'drop' or 'merge', got {neutral!r}")
    table = {"entailment": YES, "contradiction": NO, "neutral": None if neutral == "drop" else NO}
    return _pairs(path, ("sentence1", "sentence2", "gold_label"), _mapping(table), extra=("genre",))


def read_qqp(path: str | os.PathLike) -> list[ClassRecord]:
    """GLUE QQP: is_duplicate 1 = yes, 0 = no."""
    return _pairs(path, ("question1", "question2", "is_duplicate"), _mapping({"1": YES, "0": NO}))


def read_hans(path: str | os.PathLike) -> list[ClassRecord]:
    """HANS ``heuristics_evaluation_set.txt``: entailment = yes, non-entailment = no; heuristic, subcase kept."""
    return _pairs(path, ("sentence1", "sentence2", "gold_label"), _mapping({"entailment": YES, "non-entailment": NO}),
                  extra=("heuristic", "subcase", "template", "pairID"))


def bytes_literal(text: str, where: str) -> str:
    """``b'...'`` (as PAWS stores sentences) decoded to text, with :func:`ast.literal_eval` (never eval).

    Plain text without the ``b'`` prefix is returned as is.

    Raises:
        ReaderError: a malformed literal, naming ``where``.
    """
    text = text.strip()
    if not text.startswith(("b'", 'b"')):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise ReaderError(f"{where}: not a bytes literal {text[:60]!r} ({err})") from None
    if not isinstance(value, bytes):
        raise ReaderError(f"{where}: expected a bytes literal, got {type(value).__name__}")
    return value.decode("utf-8")


def read_paws_qqp(path: str | os.PathLike) -> list[ClassRecord]:
    """PAWS-QQP ``train.tsv``/``dev_and_test.tsv``: label 1 (paraphrase) = yes, 0 = no."""
    records = []
    to_label = _mapping({"1": YES, "0": NO})
    for where, line, row in _rows(path):
        assert isinstance(row, dict)
        text1, text2, gold = _need(row, ("sentence1", "sentence2", "label"), where)
        label = to_label(gold, where)
        assert label is not None
        records.append(ClassRecord(bytes_literal(text1, where), bytes_literal(text2, where), label,
                                   {"gold": gold, "line": line, "id": row.get("id", "")}))
    return records


def read_cola(path: str | os.PathLike) -> list[ClassRecord]:
    """CoLA ``in_domain_*.tsv``/``out_of_domain_*.tsv`` and GLUE's CoLA train/dev (headerless, 4 columns):
    label 1 (acceptable) = yes, 0 = no; single-text records (``text2`` None)."""
    records = []
    for where, line, row in _rows(path, header=False):
        assert isinstance(row, list)
        if len(row) != 4:
            raise ReaderError(f"{where}: CoLA rows have 4 columns (source, label, mark, sentence), found {len(row)}")
        source, gold, mark, sentence = (c.strip() for c in row)
        if gold not in ("0", "1"):
            raise ReaderError(f"{where}: CoLA label must be 0 or 1, got {gold!r}")
        records.append(ClassRecord(sentence, None, YES if gold == "1" else NO,
                                   {"gold": gold, "line": line, "source": source, "mark": mark}))
    return records


read_cola_ood = read_cola
"""CoLA-OOD has CoLA's headerless 4-column format."""

READERS: dict[str, Callable[[str | os.PathLike], list[ClassRecord]]] = {
    "rte": read_rte, "mnli": read_mnli, "mnli-merge": lambda p: read_mnli(p, neutral="merge"), "qqp": read_qqp,
    "hans": read_hans, "paws-qqp": read_paws_qqp, "cola": read_cola, "cola-ood": read_cola_ood,
}
"""Format name -> reader, as named in a grid config's ``data.format``."""


def file_splits(fmt: str, train_file: str, test_id_file: str, test_ood_file: str = "", ood_format: str = "",
                test_cap: int | None = None, seed: int = 0) -> dict[str, list[ClassRecord]]:
    """The study's sets from files of the reference formats, e.g. MNLI train / MNLI dev / HANS.

    Returns ``train`` and ``dev_pool`` (the training file), ``test_id`` and, with ``test_ood_file``,
    ``test_ood`` (read with ``ood_format``, default ``fmt``), each test set capped by a seeded sample.

    Raises:
        ValueError: an unknown format name; FileNotFoundError, ReaderError: a missing or malformed file.
    """
    from fcmatch.fewshot.data import capped

    for name in (fmt, ood_format or fmt):
        if name not in READERS:
            raise ValueError(f"format {name!r}: choose one of sign, {', '.join(READERS)}")
    train = READERS[fmt](train_file)
    splits = {"train": train, "dev_pool": train, "test_id": capped(READERS[fmt](test_id_file), test_cap, seed)}
    if test_ood_file:
        splits["test_ood"] = capped(READERS[ood_format or fmt](test_ood_file), test_cap, seed + 1)
    return splits
