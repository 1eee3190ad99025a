"""Plain-text reference strings (a PDF's reference list, an untagged JATS ``mixed-citation``) to fields.

No well-kept pure-Python library parses reference strings (GROBID and CERMINE, which do it well, are Java
services whose TEI/JATS output fcmatch reads directly), so this is a small heuristic that covers the common
shapes: author-year styles where the year follows the authors (APA, Harvard, PLoS, Elsevier's
"Smith, A., 2020. Title. Journal") and Vancouver-like numbered styles ("Smith A, Jones B. Title. Journal.
2020;12:1-10"). A field it cannot find stays empty; the printed DOI is always found when there is one.
"""

from __future__ import annotations

import re

from fcmatch.literature.document import Reference
from fcmatch.literature.doi import find_dois

_LABEL = re.compile(r"^\s*(?:\[(\d+)\]|(\d+)\.(?=\s)|(\d+)\s(?=[A-Z]))\s*")
_URL = re.compile(r"(?:https?://\S+|doi\s*:\s*\S+|\bdoi\s+10\.\S+)", re.IGNORECASE)
_YEAR = re.compile(r"\(?\b((?:1[6-9]|20)\d\d)[a-z]?\b\)?")
_INITIALS = re.compile(r"^(?:[A-Z]\.?-?){1,4}$|^[A-Z]{1,3}$")
_PARTICLES = {"van", "von", "der", "den", "de", "del", "da", "di", "la", "le", "du", "dos", "ter", "ten"}
_ENDS_AUTHORS = re.compile(r"\.\s+(?=[A-Z])")
_ANOTHER_AUTHOR = re.compile(r"^[A-Z][\w'-]+[,.]\s")  # "B. Jones, ..." / "B. Jones. Title": still authors
_ENDS_TITLE = re.compile(r"(?<=[a-z0-9)\]?!])[.?!]\s+(?=[A-Z(\d])")


def parse_reference_text(raw: str, key: str = "", doc_id: str = "") -> Reference:
    """Fields of one reference string.

    Args:
        raw: the entry's text, label included or not.
        key: the reference's key; default its printed label, else empty.
        doc_id: the citing document.

    Returns:
        A Reference with label, authors (family names), title, year, venue and DOI where found, and ``raw``.
    """
    text = " ".join(raw.split())
    label = ""
    match = _LABEL.match(text)
    if match:
        label = next(g for g in match.groups() if g)
        text = text[match.end():]
    dois = find_dois(text)
    body = _URL.sub("", text).strip(" .")
    year_match = _YEAR.search(body)
    year = int(year_match.group(1)) if year_match else None
    authors_part, rest = _split_authors(body, year_match)
    title, venue = _title_and_venue(rest, year_match.group(0) if year_match else "")
    return Reference(key or label, doc_id, label, _family_names(authors_part), title, year, venue,
                     dois[0] if dois else "", " ".join(raw.split()))


def _split_authors(body: str, year: re.Match | None) -> tuple[str, str]:
    """(author list, the rest): the authors end at an early year, else at the first sentence end."""
    if year and year.start() < 0.6 * len(body) and year.start() > 0:
        before = body[: year.start()].rstrip(" ,.(")
        if _family_names(before):
            return before, body[year.end():].lstrip(" ).,:;")
    for m in _ENDS_AUTHORS.finditer(body):
        head, after = body[: m.start()], body[m.end():]
        if _names(head) and not _ANOTHER_AUTHOR.match(after):
            return head, after
    return "", body


def _title_and_venue(rest: str, year_text: str) -> tuple[str, str]:
    parts = _ENDS_TITLE.split(rest, maxsplit=1)
    title = parts[0].strip(" .,;")
    venue = parts[1] if len(parts) > 1 else ""
    venue = re.split(r"[,;:(]|\s\d", venue, maxsplit=1)[0].strip(" .") if venue else ""
    if year_text and title.endswith(year_text.strip("()")):
        title = title[: -len(year_text.strip("()"))].strip(" .,;")
    return title, venue


def _family_names(authors: str) -> list[str]:
    """Family names of an author list: "Smith, A., Jones, B." / "Smith A, Jones BC" / "A. Smith and B. Jones";
    reading stops at the first word that is no name."""
    return _names(authors, partial=True) or []


def _names(authors: str, partial: bool = False) -> list[str] | None:
    """The family names when all of ``authors`` reads as an author list, else None (or, when ``partial``,
    those before the first word that is no name)."""
    if not authors or len(authors) > 400:
        return None
    text = re.sub(r"\bet al\.?", "", authors)
    pieces = re.split(r",|;|&|\band\b", text)
    names = []
    for piece in pieces:
        tokens = [t for t in piece.replace(".", ". ").split() if t]
        words = [t for t in tokens if not _INITIALS.match(t.strip()) and t.strip(".") not in ("Jr", "Sr")]
        if not words:
            continue
        if any(len(w.strip(".")) > 1 and not (w[0].isupper() or w.lower() in _PARTICLES) for w in words):
            return names if partial else None
        names.append(" ".join(w.strip(".") for w in words))
    return names or None
