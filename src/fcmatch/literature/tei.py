"""TEI reader: GROBID's ``processFulltextDocument`` output to a :class:`Document`.

Citations are ``<ref type="bibr" target="#b3">`` (GROBID leaves ``target`` out when it could not link the
marker; such a marker is kept with no keys). Sections are the ``<div>``s of ``<body>`` with their ``<head>``;
references are the ``<biblStruct xml:id>`` of the ``<listBibl>`` in ``<back>``. GROBID's optional ``<s>``
sentence elements are read through: fcmatch splits sentences itself, the same way for every reader.
"""

from __future__ import annotations

import os
import re

from lxml import etree

from fcmatch.literature.body import BodyText
from fcmatch.literature.document import Document, Reference
from fcmatch.literature.doi import find_dois, normalize_doi
from fcmatch.literature.xml import Flattener, ParseError, doc_id, load, spaced_text, text_of

XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
SKIP = frozenset({"figure", "table", "formula", "note"})
_YEAR = re.compile(r"(1[5-9]\d\d|20\d\d)")


def read_tei(path: str | os.PathLike) -> Document:
    """Parse a GROBID TEI file.

    Raises:
        ParseError: not XML, or no ``<TEI>`` root.
    """
    root = load(path)
    if root.tag != "TEI":
        raise ParseError(f"{path}: root element is <{root.tag}>, not <TEI>; is it GROBID output?")
    ident = doc_id(path)
    refs = [_reference(b, ident, i) for i, b in enumerate(root.iterfind(".//back//listBibl/biblStruct"))]
    known = {r.key for r in refs}
    numbers = {r.key: i + 1 for i, r in enumerate(refs)}

    def cites(el: etree._Element) -> list[str] | None:
        if el.tag != "ref" or el.get("type") != "bibr":
            return None
        return [k for k in (t.lstrip("#") for t in (el.get("target") or "").split()) if k in known]

    flattener = Flattener(cites, SKIP, numbers, bracket="hi")
    body = BodyText()
    main = root.find("text/body")
    for div in main.iterfind("div") if main is not None else []:
        section = text_of(div.find("head"))
        for para in div.iter("p"):
            text, markers = flattener.flatten(para)
            body.add(text, section, markers)
    title_node = root.find("teiHeader/fileDesc/titleStmt/title")
    doi_node = root.find("teiHeader//sourceDesc//idno[@type='DOI']")
    return Document(ident, body.text, text_of(title_node), normalize_doi(text_of(doi_node)) if doi_node is not None
                    else "", str(path), "tei", body.sentences(ident), refs)


def _reference(bibl: etree._Element, ident: str, index: int) -> Reference:
    analytic, monogr = bibl.find("analytic"), bibl.find("monogr")
    title = text_of(analytic.find("title")) if analytic is not None else ""
    venue = text_of(monogr.find("title")) if monogr is not None else ""
    if not title:
        title, venue = venue, ""
    people = analytic if analytic is not None and analytic.find("author") is not None else monogr
    authors = []
    for author in people.iterfind("author") if people is not None else []:
        surname = author.find(".//surname")
        name = text_of(surname) if surname is not None else text_of(author.find("orgName"))
        if name:
            authors.append(name)
    date = bibl.find(".//imprint/date")
    when = (date.get("when") or text_of(date)) if date is not None else ""
    year = _YEAR.search(when)
    doi_node = bibl.find(".//idno[@type='DOI']")
    raw_node = bibl.find("note[@type='raw_reference']")
    raw = text_of(raw_node) if raw_node is not None else spaced_text(bibl)
    doi = normalize_doi(text_of(doi_node)) if doi_node is not None else next(iter(find_dois(raw)), "")
    return Reference(bibl.get(XML_ID) or f"b{index}", ident, "", authors, title.rstrip("."),
                     int(year.group(1)) if year else None, venue, doi, raw)
