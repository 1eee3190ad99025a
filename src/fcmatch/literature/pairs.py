"""``fcmatch lit pairs``: cited sentences to instruction-tuning records that ask for the supporting literature.

    fcmatch lit pairs lit/parsed --out-dir lit/pairs

Each cited sentence becomes one Alpaca record (``category: cite``): the instruction is one of
:data:`TEMPLATES` (drawn per sentence with the seed), the input is the sentence with its citation markers
taken out (so the answer cannot be read off them), and the output lists the cited works in citation order,
one a line, as ``title (year), doi:DOI`` (:func:`answer_line`). Documents, not sentences, are split between
train and test, so no test sentence shares a paper with a training one. ``works.jsonl`` lists every work with a
DOI the references name (DOI, title, year): the known works that evaluation checks answers against.
With ``split: sentence`` (:func:`split_sentences`) the test sentences are instead new claims for works that
training sentences cite too: the only split on which a tuned model can know a test answer's DOI.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from fcmatch.config import save_beside
from fcmatch.data.instructions import Instruction, write_instructions
from fcmatch.literature.config import PairsConfig
from fcmatch.literature.document import Reference, Sentence, read_references, read_sentences, write_records

TEMPLATES = (
    "Which published work supports the following claim? List each cited work on its own line as: title (year), doi:DOI",
    "Find the literature that backs up this statement. Give each work as: title (year), doi:DOI, one per line.",
    "A reviewer asks for a citation for this sentence. Which paper(s) should it cite? Answer one per line as: "
    "title (year), doi:DOI",
    "Suggest the reference(s) that support this sentence from a research article. Format each as: title (year), "
    "doi:DOI, one per line.",
    "What source is this sentence citing? Reply with one line per work: title (year), doi:DOI",
)
CATEGORY = "cite"


def answer_line(ref: Reference) -> str:
    """One cited work in the fixed answer format: ``title (year), doi:DOI`` (``n.d.`` for no year)."""
    title = " ".join(ref.title.split()).rstrip(".") or ref.raw[:120]
    return f"{title} ({ref.year or 'n.d.'}), doi:{ref.best_doi}"


def strip_markers(sentence: Sentence) -> str:
    """The sentence without its citation markers: bracketed and parenthetical ones removed, a narrative one
    ("Smith et al. (2020) showed") replaced by "Earlier work"."""
    text, out, last = sentence.text, [], 0
    for m in sorted(sentence.markers, key=lambda m: m.start):
        out.append(text[last:m.start])
        narrative = m.text[:1].isalpha() and not m.text.replace(",", "").replace("-", "").strip().isdigit()
        if narrative and not m.text.startswith(("(", "[")) and m.keys and "(" in m.text:
            out.append("earlier work" if out[-1].strip() else "Earlier work")
        last = max(last, m.end)
    out.append(text[last:])
    clean = "".join(out)
    clean = re.sub(r"\(\s*[,;]*\s*\)|\[\s*[,;\-–]*\s*\]", "", clean)  # brackets the markers leave empty
    clean = re.sub(r"\s+([,.;:)])", r"\1", clean)
    clean = re.sub(r"([,;])\s*([,;.])", r"\2", clean)
    return " ".join(clean.split())


def make_pairs(sentences: list[Sentence], refs: dict[tuple[str, str], Reference], require: str,
               seed: int) -> list[Instruction]:
    """One record per sentence whose cited works have DOIs (all of them, or any with ``require='any'``)."""
    records = []
    for s in sentences:
        cited = [refs[(s.doc_id, k)] for k in s.keys if (s.doc_id, k) in refs]
        with_doi = [r for r in cited if r.best_doi]
        if not with_doi or (require == "all" and len(with_doi) < len(s.keys)):
            continue
        draw = random.Random(f"{seed}:{s.doc_id}:{s.index}")
        records.append(Instruction(draw.choice(TEMPLATES), strip_markers(s), "\n".join(map(answer_line, with_doi)),
                                   CATEGORY, f"{s.doc_id}:{s.index}"))
    return records


def split_documents(doc_ids: list[str], test_fraction: float, seed: int) -> set[str]:
    """The documents of the test split: a seeded draw of ``test_fraction`` of them (one at least, once there
    are two; none when ``test_fraction`` is 0)."""
    docs = sorted(set(doc_ids))
    random.Random(seed).shuffle(docs)
    count = round(len(docs) * test_fraction)
    if test_fraction > 0 and len(docs) >= 2:
        count = min(max(count, 1), len(docs) - 1)
    return set(docs[:count])


def _dois(record: Instruction) -> list[str]:
    return [line.rsplit("doi:", 1)[1] for line in record.output.splitlines()]


def split_sentences(records: list[Instruction], test_fraction: float, seed: int) -> set[str]:
    """Ids of the test records: a seeded draw of ``test_fraction`` of the records, each taken only if every
    DOI it cites stays cited by a training record whose input differs; records with the same input go
    together (to train unless all fit in test)."""
    groups: dict[str, list[Instruction]] = {}
    for r in records:
        groups.setdefault(r.input, []).append(r)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    cited: dict[str, int] = {}  # DOI -> training groups citing it
    for text in order:
        for doi in {d for r in groups[text] for d in _dois(r)}:
            cited[doi] = cited.get(doi, 0) + 1
    target, test = round(len(records) * test_fraction), set()
    for text in order:
        group = groups[text]
        dois = {d for r in group for d in _dois(r)}
        if len(test) + len(group) > target or any(cited[d] < 2 for d in dois):
            continue
        for d in dois:
            cited[d] -= 1
        test.update(r.id for r in group)
    return test


def known_works(refs: list[Reference]) -> list[dict[str, Any]]:
    """Every distinct DOI the references name, with the title and year of its first mention."""
    works: dict[str, dict[str, Any]] = {}
    for r in refs:
        if r.best_doi and r.best_doi not in works:
            works[r.best_doi] = {"doi": r.best_doi, "title": r.title, "year": r.year}
    return list(works.values())


def build_pairs(config: PairsConfig) -> dict[str, Any]:
    """Run ``fcmatch lit pairs``.

    Returns:
        Records in train and test, the test documents, sentences skipped for want of DOIs, known works.

    Raises:
        FileNotFoundError: no sentences.jsonl or references file.
    """
    parsed = Path(config.parsed)
    ref_path = Path(config.references) if config.references else parsed / "references.jsonl"
    for path in (parsed / "sentences.jsonl", ref_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file; run fcmatch lit parse first")
    sentences = [s for s in read_sentences(parsed / "sentences.jsonl") if s.keys]
    references = read_references(ref_path)
    refs = {(r.doc_id, r.key): r for r in references}
    records = make_pairs(sentences, refs, config.require, config.seed)
    if config.split == "sentence":
        test_ids = split_sentences(records, config.test_fraction, config.seed)
        test_docs = {r.id.rsplit(":", 1)[0] for r in records if r.id in test_ids}
    else:
        test_docs = split_documents([r.id.rsplit(":", 1)[0] for r in records], config.test_fraction, config.seed)
        test_ids = {r.id for r in records if r.id.rsplit(":", 1)[0] in test_docs}
    train = [r for r in records if r.id not in test_ids]
    test = [r for r in records if r.id in test_ids]
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_instructions(train, out / "train.json", "alpaca")
    write_instructions(test, out / "test.json", "alpaca")
    works = write_records(known_works(references), out / "works.jsonl")
    save_beside(config, out)
    return {"train": len(train), "test": len(test), "split": config.split, "test_documents": sorted(test_docs),
            "skipped_sentences": len(sentences) - len(records), "known_works": works}
