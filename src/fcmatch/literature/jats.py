"""JATS reader: PubMed Central ``.nxml`` and CERMINE's JATS output to a :class:`Document`.

Citations are ``<xref ref-type="bibr" rid="...">`` (``rid`` may list several keys); "[3]-[5]" written as two
xrefs joined by a dash cites 3 to 5. References come from ``<ref-list>``: ``element-citation``,
``mixed-citation``, ``citation`` or ``nlm-citation``, with ``name`` or ``string-name`` authors.
"""

from __future__ import annotations

import os
import re

from lxml import etree

from fcmatch.literature.body import BodyText
from fcmatch.literature.document import Document, Reference
from fcmatch.literature.doi import find_dois, normalize_doi
from fcmatch.literature.references import parse_reference_text
from fcmatch.literature.xml import Flattener, ParseError, doc_id, load, spaced_text, text_of

CITATION_TAGS = ("element-citation", "mixed-citation", "citation", "nlm-citation")
# content that is not running prose: left out of paragraphs (their tail text is kept)
SKIP = frozenset({"fig", "fig-group", "table-wrap", "table-wrap-group", "supplementary-material", "table",
                  "disp-formula", "ref-list", "caption"})
_YEAR = re.compile(r"(1[5-9]\d\d|20\d\d)")


def read_jats(path: str | os.PathLike) -> Document:
    """Parse a JATS file.

    Returns:
        A Document whose sentences are those of the body's paragraphs (figure and table captions left out),
        each section named by its top-level ``<sec>`` title.

    Raises:
        ParseError: not XML, or no ``<article>`` in it.
    """
    root = load(path)
    article = root if root.tag == "article" else root.find(".//article")
    if article is None:
        raise ParseError(f"{path}: no <article> element; is it JATS?")
    ident = doc_id(path)
    refs = [_reference(ref, ident, i) for i, ref in enumerate(article.iter("ref"))]
    numbers = {r.key: int(r.label.strip("[]. ")) if r.label.strip("[]. ").isdigit() else i + 1
               for i, r in enumerate(refs)}
    known = {r.key for r in refs}

    def cites(el: etree._Element) -> list[str] | None:
        if el.tag != "xref" or el.get("ref-type") != "bibr":
            return None
        return [k for k in (el.get("rid") or "").split() if k in known]

    body = BodyText()
    flattener = Flattener(cites, SKIP, numbers)
    main = article.find("body")
    for para in _paragraphs(main) if main is not None else []:
        text, markers = flattener.flatten(para)
        body.add(text, _section(para, main), markers)
    meta = article.find("front/article-meta")
    title = text_of(meta.find("title-group/article-title")) if meta is not None else ""
    doi = ""
    if meta is not None:
        node = meta.find("article-id[@pub-id-type='doi']")
        doi = normalize_doi(text_of(node)) if node is not None else ""
    return Document(ident, body.text, title, doi, str(path), "jats", body.sentences(ident), refs)


def _paragraphs(main: etree._Element) -> list[etree._Element]:
    """``<p>`` elements of the body that are prose: not inside another ``<p>`` or a skipped element."""
    out = []
    for p in main.iter("p"):
        ancestors = list(p.iterancestors())
        if any(a.tag == "p" or a.tag in SKIP for a in ancestors):
            continue
        out.append(p)
    return out


def _section(p: etree._Element, main: etree._Element) -> str:
    top = None
    for a in p.iterancestors():
        if a is main:
            break
        if a.tag == "sec":
            top = a
    return text_of(top.find("title")) if top is not None else ""


def _reference(ref: etree._Element, ident: str, index: int) -> Reference:
    cite = next((c for tag in CITATION_TAGS for c in ref.iter(tag)), ref)
    authors = []
    group = cite.find("person-group[@person-group-type='author']")
    scope = group if group is not None else cite
    for name in scope.iter("name", "string-name", "collab"):
        surname = name.find("surname") if name.tag != "collab" else None
        authors.append(text_of(surname) if surname is not None else text_of(name))
    title = text_of(cite.find(".//article-title")) or text_of(cite.find(".//chapter-title"))
    source = text_of(cite.find(".//source"))
    if not title:
        title, source = source, ""
    year_match = _YEAR.search(text_of(cite.find(".//year")))
    doi_node = cite.find(".//pub-id[@pub-id-type='doi']")
    raw = spaced_text(cite)
    doi = normalize_doi(text_of(doi_node)) if doi_node is not None else next(iter(find_dois(raw)), "")
    key = ref.get("id") or f"ref{index + 1}"
    ref_out = Reference(key, ident, text_of(ref.find("label")), [a for a in authors if a], title.rstrip("."),
                        int(year_match.group(1)) if year_match else None, source, doi, raw)
    if not ref_out.authors and not ref_out.year:  # an untagged citation: read the fields from its text
        parsed = parse_reference_text(raw)
        ref_out.authors, ref_out.year = parsed.authors, parsed.year
        ref_out.title, ref_out.venue = ref_out.title or parsed.title, ref_out.venue or parsed.venue
    return ref_out
