"""Citation markers in plain text, linked to a parsed reference list: numeric ("[12]", "[3-5]", "[1, 4-6]")
and author-year, parenthetical ("(Smith et al., 2020; Jones and Lee, 2019a)") or narrative ("Smith (2020)").

Used for PDFs, where no markup says what a marker cites. A numeric marker cites the references with those
printed labels; an author-year item cites the reference whose first author's family name and year match (the
letter of "2019a" picks among several such, in reference-list order, and a second name must match too).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from fcmatch.literature.document import Marker, Reference

_NUMERIC = re.compile(r"\[(\d{1,4}(?:\s*[-\u2013\u2014]\s*\d{1,4})?(?:\s*[,;]\s*\d{1,4}(?:\s*[-\u2013\u2014]\s*\d{1,4})?)*)\]")
_YEARS = r"(?:1[6-9]|20)\d\d[a-z]?(?:\s*,\s*(?:1[6-9]|20)\d\d[a-z]?)*"
_NAME = r"[A-Z][\w'\u2019\-]+(?:\s+(?:van|von|der|de|den|la|le|du)\s+[A-Z][\w'\u2019\-]+)?"
_AUTHORS = rf"(?:(?:van|von|de|der|den|la|le|du)\s+)*{_NAME}(?:\s+et\s+al\.?|\s+(?:and|&)\s+{_NAME})?"
_PAREN = re.compile(r"\(([^()]*?\b(?:1[6-9]|20)\d\d[a-z]?\b[^()]*)\)")
_ITEM = re.compile(rf"(?P<names>{_AUTHORS}),?\s+(?P<years>{_YEARS})")
_NARRATIVE = re.compile(rf"(?P<names>{_AUTHORS})\s+\((?P<years>{_YEARS})\)")


def fold(name: str) -> str:
    """A family name for comparison: accents removed, lower case, the last word only ("van der Meulen" -> "meulen")."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z'\-]+", plain)
    return words[-1] if words else ""


def find_markers(text: str, references: Sequence[Reference]) -> list[Marker]:
    """Every citation marker in ``text``, in order, with the keys of the references it cites.

    Args:
        text: a paragraph or a whole body text.
        references: the document's reference list (labels for numeric markers, names and years otherwise).

    Returns:
        Markers with offsets into ``text``; one that matches no reference has no keys.
    """
    by_label = {r.label: r.key for r in references if r.label}
    markers = [Marker(m.group(0), m.start(), m.end(), [by_label[n] for n in _numbers(m.group(1)) if n in by_label])
               for m in _NUMERIC.finditer(text)]
    taken = [(m.start, m.end) for m in markers]
    for m in _PAREN.finditer(text):
        items = list(_ITEM.finditer(m.group(1)))
        if items and not _overlaps(m.start(), m.end(), taken):
            keys = [k for item in items for k in _author_year(item.group("names"), item.group("years"), references)]
            markers.append(Marker(m.group(0), m.start(), m.end(), list(dict.fromkeys(keys))))
            taken.append((m.start(), m.end()))
    for m in _NARRATIVE.finditer(text):
        if not _overlaps(m.start(), m.end(), taken):
            keys = _author_year(m.group("names"), m.group("years"), references)
            markers.append(Marker(m.group(0), m.start(), m.end(), keys))
    return sorted(markers, key=lambda mk: mk.start)


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < b and a < end for a, b in spans)


def _numbers(inside: str) -> list[str]:
    out: list[str] = []
    for part in re.split(r"[,;]", inside):
        bounds = re.split(r"[-\u2013\u2014]", part.strip())
        if len(bounds) == 2 and bounds[0].strip().isdigit() and bounds[1].strip().isdigit():
            a, b = int(bounds[0]), int(bounds[1])
            out += [str(n) for n in range(a, b + 1)] if a <= b <= a + 100 else [str(a), str(b)]
        elif part.strip().isdigit():
            out.append(str(int(part)))
    return out


def _author_year(names: str, years: str, references: Sequence[Reference]) -> list[str]:
    parts = re.split(r"\s+et\s+al\.?|\s+(?:and|&)\s+", names)
    first = fold(parts[0])
    second = fold(parts[1]) if len(parts) > 1 and parts[1].strip() else ""
    # "Jones" is one author, "Jones and Lee" two, "Jones et al." three or more: preferred where that decides
    count_fits = (lambda n: n >= 3) if re.search(r"\bet\s+al", names) else (lambda n: n == 2) if second else (lambda n: n == 1)
    keys = []
    for year_text in re.split(r"\s*,\s*", years):
        year, letter = int(year_text[:4]), year_text[4:]
        found = [r for r in references if r.year == year and r.authors and fold(r.authors[0]) == first
                 and (not second or (len(r.authors) > 1 and fold(r.authors[1]) == second))]
        found = [r for r in found if count_fits(len(r.authors))] or found
        if letter and len(found) > ord(letter) - ord("a"):
            found = [found[ord(letter) - ord("a")]]
        keys += [r.key for r in found[:1]] if letter or len(found) == 1 else [r.key for r in found]
    return keys
