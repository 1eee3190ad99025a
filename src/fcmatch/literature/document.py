"""The parsed-document model every ``fcmatch lit`` command shares: references, cited sentences, documents.

A :class:`Document` holds the plain text a reader made of a paper's body; each :class:`Sentence` points into
it with character offsets (``document.text[start:end] == sentence.text``) and names the references it cites
by key. Everything round-trips through JSON (:meth:`to_dict` / ``from_dict``), one record per line.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fcmatch.data.formats import atomic_write, iter_jsonl


@dataclass
class Reference:
    """One bibliography entry as printed (and, after ``lit resolve``, its verified DOI)."""

    key: str
    """Its id in the document: the JATS ``rid``, the TEI ``xml:id``, or the printed label for a PDF."""
    doc_id: str = ""
    """The citing document."""
    label: str = ""
    """The printed label ("12"), empty for author-year styles."""
    authors: list[str] = field(default_factory=list)
    """Family names, in order (a collaboration's name where there is no person)."""
    title: str = ""
    """Title of the work (article, chapter or book title)."""
    year: int | None = None
    """Year of publication."""
    venue: str = ""
    """Journal, book or proceedings."""
    doi: str = ""
    """The DOI the entry prints, normalised; empty when none is printed."""
    raw: str = ""
    """The entry's whole text."""
    resolved_doi: str = ""
    """The DOI ``lit resolve`` verified; empty when unresolved."""
    resolution: dict[str, Any] = field(default_factory=dict)
    """How it was resolved: status (resolved, unresolved, error, skipped), score, candidate, reason."""

    @property
    def best_doi(self) -> str:
        """The printed DOI, else the resolved one, else ''."""
        return self.doi or self.resolved_doi

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Reference:
        return cls(**{f.name: record[f.name] for f in dataclasses.fields(cls) if f.name in record})


@dataclass
class Marker:
    """A citation marker inside a sentence ("[3-5]", "Smith et al., 2020"), offsets relative to the sentence."""

    text: str
    start: int
    end: int
    keys: list[str] = field(default_factory=list)
    """The references it cites; empty when it could not be linked."""


@dataclass
class Sentence:
    """One sentence of a document body, with the references it cites."""

    doc_id: str
    index: int
    """Position among the document's sentences, from 0."""
    text: str
    start: int
    """Offset of the first character in the document text."""
    end: int
    """Offset one past the last character."""
    section: str = ""
    """Title of the top-level section it is in."""
    keys: list[str] = field(default_factory=list)
    """Keys of the cited references, in order of first citation, each once."""
    markers: list[Marker] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Sentence:
        values = dict(record)
        values["markers"] = [Marker(**m) for m in record.get("markers", [])]
        return cls(**values)


@dataclass
class Document:
    """A parsed paper: its body text, the sentences in it and its reference list."""

    id: str
    """Document id: the file name without its extension."""
    text: str
    """Body text as the reader made it; sentence offsets point into it."""
    title: str = ""
    doi: str = ""
    """The paper's own DOI where the file prints it."""
    source: str = ""
    """Path of the parsed file."""
    reader: str = ""
    """jats, tei or pdf."""
    sentences: list[Sentence] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)

    def reference(self, key: str) -> Reference | None:
        return next((r for r in self.references if r.key == key), None)


def write_records(records: Iterable[Any], path: str | os.PathLike) -> int:
    """Write objects with ``to_dict`` (or dicts) as JSONL, atomically; returns the number written."""
    count = 0
    with atomic_write(path) as handle:
        for record in records:
            data = record.to_dict() if hasattr(record, "to_dict") else record
            handle.write(json.dumps(data, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file (errors name file and line)."""
    for _, record in iter_jsonl(path):
        yield record


def read_references(path: str | os.PathLike) -> list[Reference]:
    return [Reference.from_dict(r) for r in read_records(path)]


def read_sentences(path: str | os.PathLike) -> list[Sentence]:
    return [Sentence.from_dict(r) for r in read_records(path)]
