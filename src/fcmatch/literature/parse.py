"""``fcmatch lit parse``: JATS, TEI and PDF files to cited sentences, reference lists and causal-map JSONL.

    fcmatch lit parse ../shared/data/jats --out-dir lit/parsed

Writes, in ``--out-dir``: ``documents.jsonl`` (id, title, DOI, reader, body text), ``sentences.jsonl`` (one
sentence a line: document, section, offsets into that text, cited keys, markers), ``references.jsonl`` (one
entry a line) and ``maps.jsonl``, the same sentences as fcmatch causal maps with no edges, which is what
``fcmatch extract --input`` reads (provenance in ``source`` and ``meta``), and ``config.yaml``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fcmatch.config import ConfigError, save_beside
from fcmatch.data.causal_map import CausalMap
from fcmatch.data.formats import write_jsonl
from fcmatch.literature.config import ParseConfig
from fcmatch.literature.document import Document, Sentence, write_records
from fcmatch.literature.jats import read_jats
from fcmatch.literature.pdf import read_pdf
from fcmatch.literature.tei import read_tei
from fcmatch.literature.xml import ParseError

log = logging.getLogger(__name__)

READERS: dict[str, Callable[[str | os.PathLike], Document]] = {"jats": read_jats, "tei": read_tei, "pdf": read_pdf}
SUFFIXES = (".nxml", ".xml", ".pdf", ".cermxml")


def detect_reader(path: str | os.PathLike) -> str:
    """``jats``, ``tei`` or ``pdf`` for a file, from its extension and first bytes.

    Raises:
        ParseError: neither PDF nor an XML root that names JATS or TEI.
    """
    head = Path(path).read_bytes()[:4096]
    if head.startswith(b"%PDF"):
        return "pdf"
    text = head.decode("utf-8", "replace")
    if "<TEI" in text:
        return "tei"
    if "<article" in text or "JATS" in text or "journalpublishing" in text.lower():
        return "jats"
    raise ParseError(f"{path}: neither a PDF nor JATS or TEI XML (use --reader to say which)")


def input_files(inputs: list[str]) -> list[Path]:
    """The files named, with folders expanded to their .nxml, .xml, .cermxml and .pdf files (sorted).

    Raises:
        FileNotFoundError: a path that does not exist.
    """
    files: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return files


def parse_file(path: str | os.PathLike, reader: str = "auto") -> Document:
    """One document, with the reader named or detected."""
    return READERS[detect_reader(path) if reader == "auto" else reader](path)


def sentence_map(sentence: Sentence, doc: Document) -> CausalMap:
    """A sentence as a causal map with no edges; ``source`` is ``doc_id:start-end``, ``meta`` the rest."""
    dois = [ref.best_doi for key in sentence.keys if (ref := doc.reference(key)) is not None and ref.best_doi]
    meta = {"doc_id": doc.id, "section": sentence.section, "start": sentence.start, "end": sentence.end,
            "index": sentence.index, "keys": sentence.keys, "dois": dois, "file": doc.source}
    return CausalMap(sentence.text, [], f"{doc.id}:{sentence.start}-{sentence.end}", meta)


def parse_documents(config: ParseConfig) -> dict[str, Any]:
    """Run ``fcmatch lit parse``.

    Returns:
        Counts: documents, sentences written, cited sentences, references, references printing a DOI,
        citation links (sentence-reference pairs), markers linked to no reference.

    Raises:
        FileNotFoundError: an input that does not exist.
        ConfigError: no input files found.
        ParseError: a file that cannot be read (the message names it).
    """
    files = input_files(config.inputs)
    if not files:
        raise ConfigError(f"FILE: no {', '.join(SUFFIXES)} files in {' '.join(config.inputs)}")
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    docs = [parse_file(f, config.reader) for f in files]
    kept = [(s, d) for d in docs for s in d.sentences if config.all_sentences or s.keys]
    write_records(({"id": d.id, "title": d.title, "doi": d.doi, "reader": d.reader, "source": d.source,
                    "text": d.text} for d in docs), out / "documents.jsonl")
    write_records((s for s, _ in kept), out / "sentences.jsonl")
    write_records((r for d in docs for r in d.references), out / "references.jsonl")
    write_jsonl((sentence_map(s, d) for s, d in kept), out / "maps.jsonl")
    save_beside(config, out)
    summary = {
        "documents": len(docs),
        "sentences": len(kept),
        "cited_sentences": sum(bool(s.keys) for d in docs for s in d.sentences),
        "references": sum(len(d.references) for d in docs),
        "references_with_doi": sum(bool(r.doi) for d in docs for r in d.references),
        "citation_links": sum(len(s.keys) for d in docs for s in d.sentences),
        "unlinked_markers": sum(not m.keys for d in docs for s in d.sentences for m in s.markers),
    }
    log.info("parsed %d documents into %s", len(docs), out)
    return summary


__all__ = ["parse_documents", "parse_file", "detect_reader", "input_files", "sentence_map", "ParseError"]
