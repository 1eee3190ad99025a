"""Sentences to annotate, read from plain text, a CSV with a text column, or fcmatch JSONL.

``fcmatch annotate create`` accepts whichever of the three a person has at hand; every reader returns
the same :class:`SentenceRecord` list, duplicates dropped (annotating one sentence twice by accident
would waste a person's time and skew agreement).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcmatch.data.causal_map import clean_concept
from fcmatch.data.formats import FormatError, read_jsonl
from fcmatch.store.inputs import read_named

# CSV columns tried in order when no column is named; "Causal claim" is the causal-claims CSV's own.
TEXT_COLUMNS = ("text", "sentence", "Causal claim")
# sentences longer than this are almost certainly a pasted paragraph, too long to annotate edge by edge
MAX_SENTENCE_CHARS = 5000


@dataclass(frozen=True)
class SentenceRecord:
    """One sentence to annotate.

    Attributes:
        text: the sentence, whitespace collapsed.
        source: the corpus or paper it came from ("" when unknown).
        meta: anything else the input carried (ids); kept through export.
    """

    text: str
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def read_sentences(path: str | os.PathLike, column: str | None = None) -> list[SentenceRecord]:
    """Read sentences from ``.txt`` (one per line), ``.csv`` (a text column) or ``.jsonl`` (fcmatch maps).

    Args:
        path: the file; the format comes from the extension (anything but .csv/.jsonl is plain text).
        column: for CSV, the text column; default the first of ``text``, ``sentence``, ``Causal claim``.

    Returns:
        Sentences in file order, blank lines and exact duplicates (after whitespace cleaning) dropped.

    Raises:
        FileNotFoundError: no such file.
        FormatError: no usable text column, a malformed CSV (e.g. an unterminated quote), a file that
            is not UTF-8, a sentence over ``MAX_SENTENCE_CHARS``, or no sentence at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = read_named(path, lambda p: _read_csv(p, column))
    elif suffix == ".jsonl":
        records = [SentenceRecord(m.text, m.source, _kept_meta(m.meta)) for m in read_named(path, read_jsonl)]
    else:
        lines = read_named(path, lambda p: p.read_text(encoding="utf-8-sig")).splitlines()
        records = [SentenceRecord(line) for line in lines]
    return dedupe_sentences(records, str(path))


def dedupe_sentences(records: list[SentenceRecord], where: str = "input") -> list[SentenceRecord]:
    """Clean whitespace, drop blanks and repeats (first kept), check lengths.

    Raises:
        FormatError: a sentence over ``MAX_SENTENCE_CHARS`` characters, or nothing left.
    """
    seen: set[str] = set()
    out = []
    for number, record in enumerate(records, start=1):
        text = clean_concept(record.text)
        if not text or text in seen:
            continue
        if len(text) > MAX_SENTENCE_CHARS:
            raise FormatError(
                f"{where}:{number}: sentence of {len(text)} characters; the limit is {MAX_SENTENCE_CHARS}"
            )
        seen.add(text)
        out.append(SentenceRecord(text, record.source, record.meta))
    if not out:
        raise FormatError(f"{where}: no sentences found")
    return out


def _read_csv(path: Path, column: str | None) -> list[SentenceRecord]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        # strict: an unterminated quote is an error instead of one "sentence" running to the end of the file
        reader = csv.DictReader(handle, strict=True)
        try:
            fields = reader.fieldnames or []
            if column is None:
                column = next((c for c in TEXT_COLUMNS if c in fields), None)
                if column is None:
                    raise FormatError(f"{path}:1: no text column; name one with --column (found {fields})")
            elif column not in fields:
                raise FormatError(f"{path}:1: no column {column!r}; found {fields}")
            return [SentenceRecord(row[column] or "", (row.get("source") or "").strip()) for row in reader]
        except csv.Error as err:
            raise FormatError(f"{path}:{reader.line_num}: malformed CSV ({err}); is a quote left open?") from None


def _kept_meta(meta: dict[str, Any]) -> dict[str, Any]:
    # ids survive into the export; a model's raw output or timings would only bloat the project
    return {k: v for k, v in meta.items() if k in ("id", "sentence_id", "doc_id", "paper")}
