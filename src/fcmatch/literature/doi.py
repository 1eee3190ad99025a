"""DOI syntax: find DOIs in text, normalise them, tell a well-formed one from a malformed one.

The pattern is the one Crossref recommends for modern DOIs (``10.`` + a 4-9 digit registrant + ``/`` + a
suffix of ``-._;()/:`` and alphanumerics), which Crossref reports matches 74.4 M of its 74.9 M DOIs
(Crossref blog, "DOIs and matching regular expressions", 2015). DOIs are case-insensitive, so fcmatch keeps
them lower-case.
"""

from __future__ import annotations

import re

DOI_SYNTAX = re.compile(r"^10\.\d{4,9}/[-._;()/:a-z0-9<>\[\]]+$", re.IGNORECASE)
# in running text: stop at whitespace, quotes and closing brackets that are not part of the suffix
_IN_TEXT = re.compile(r"10\.\d{4,9}/[^\s\"'<>,]+", re.IGNORECASE)
_PREFIXES = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi\s*:\s*|doi\s+)", re.IGNORECASE)
_TRAILING = ".,;:)]}"


def normalize_doi(text: str) -> str:
    """``text`` as a bare lower-case DOI: resolver URL or ``doi:`` prefix and trailing punctuation removed.

    Returns the cleaned string even when it is not a valid DOI; check it with :func:`is_valid_doi`.
    """
    doi = _PREFIXES.sub("", text.strip()).strip()
    while doi and doi[-1] in _TRAILING:
        if doi[-1] == ")" and doi.count("(") >= doi.count(")"):
            break  # a balanced parenthesis belongs to the suffix, e.g. 10.1016/S0140-6736(20)30183-5
        doi = doi[:-1]
    return doi.lower()


def is_valid_doi(doi: str) -> bool:
    """Whether ``doi`` (normalised or not) has DOI syntax."""
    return bool(DOI_SYNTAX.match(normalize_doi(doi)))


def find_dois(text: str) -> list[str]:
    """Every DOI in ``text``, normalised, in order of appearance, each once."""
    found = []
    for match in _IN_TEXT.finditer(text):
        doi = normalize_doi(match.group(0))
        if doi not in found:
            found.append(doi)
    return found
