"""XML loading for the JATS and TEI readers: safe parsing, namespaces dropped, whitespace-collapsing text.

PMC files declare a DTD the parser must not fetch, and GROBID's TEI puts everything in the TEI namespace;
both readers match on local names, so :func:`load` strips namespaces once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from fcmatch.literature.document import Marker

_SPACE = re.compile(r"\s+")
_DASHES = {"-", "\u2013", "\u2014", "\u2212", "\u2010", "\u2011"}


class ParseError(ValueError):
    """A document that cannot be read; the message names the file."""


def load(path: str | os.PathLike) -> etree._Element:
    """The root element of an XML file with namespaces stripped from tags.

    Raises:
        ParseError: not well-formed XML, naming the file and line.
    """
    # no DTD loading, no network, no entity expansion: a PMC file's DOCTYPE points at the NLM servers
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.parse(str(path), parser).getroot()
    except etree.XMLSyntaxError as err:
        raise ParseError(f"{path}: not well-formed XML ({err})") from None
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def text_of(el: etree._Element | None) -> str:
    """All the text under ``el``, whitespace collapsed to single spaces."""
    if el is None:
        return ""
    return _SPACE.sub(" ", "".join(el.itertext())).strip()


def spaced_text(el: etree._Element | None) -> str:
    """Text under ``el`` with a space between adjacent elements ("<surname>Rich</surname><given-names>KM"
    reads "Rich KM"), none before closing punctuation."""
    if el is None:
        return ""
    text = _SPACE.sub(" ", " ".join(el.itertext())).strip()
    return re.sub(r"\(\s+", "(", re.sub(r"\s+([,.;:)])", r"\1", text))


def doc_id(path: str | os.PathLike) -> str:
    """A document's id: its file name without the extension (``pone.0000217.nxml`` -> ``pone.0000217``)."""
    name = Path(path).name
    for suffix in (".tei.xml", ".cermxml", ".nxml", ".xml", ".pdf"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


class Flattener:
    """Plain text of a paragraph element with its citation markers, whitespace collapsed as it goes.

    Args:
        is_citation: element -> the reference keys it cites, or None when it is not a citation.
        skip: tags whose content is left out (figures, tables); their tail text is kept.
        numbers: reference key -> its number, for expanding "[3]-[5]" into 3, 4 and 5.
        bracket: wrap a citation whose parent has this tag (superscript numbers) in square brackets.
    """

    def __init__(self, is_citation: Callable[[etree._Element], list[str] | None], skip: frozenset[str],
                 numbers: dict[str, int], bracket: str = "sup") -> None:
        self.is_citation = is_citation
        self.skip = skip
        self.numbers = numbers
        self.by_number = {n: k for k, n in numbers.items()}
        self.bracket = bracket

    def flatten(self, el: etree._Element) -> tuple[str, list[Marker]]:
        self._parts: list[str] = []
        self._len = 0
        self._markers: list[Marker] = []
        self._walk(el, top=True)
        text = "".join(self._parts)
        stripped = text.rstrip()
        for m in self._markers:
            m.end = min(m.end, len(stripped))
        return stripped, self._markers

    def _append(self, s: str) -> None:
        s = _SPACE.sub(" ", s)
        if not s:
            return
        if (self._len == 0 or self._parts[-1].endswith(" ")) and s.startswith(" "):
            s = s[1:]
        if s:
            self._parts.append(s)
            self._len += len(s)

    def _walk(self, el: etree._Element, top: bool = False) -> None:
        if not top and el.tag in self.skip:
            return
        keys = None if top else self.is_citation(el)
        if keys is not None:
            self._citation(el, keys)
            return
        self._append(el.text or "")
        for child in el:
            if isinstance(child.tag, str):
                self._walk(child)
            self._append(child.tail or "")

    def _citation(self, el: etree._Element, keys: list[str]) -> None:
        label = text_of(el)
        parent = el.getparent()
        if parent is not None and parent.tag == self.bracket and label and not label.startswith("["):
            label = f"[{label}]"
        start = self._len
        self._append(label)
        marker = Marker(label, start, self._len, list(keys))
        if not self._merge_range(marker):
            self._markers.append(marker)

    def _merge_range(self, marker: Marker) -> bool:
        """Fold "[3]-[5]" (two citations joined by a dash) into one marker citing 3, 4 and 5."""
        if not self._markers or len(marker.keys) != 1:
            return False
        prev = self._markers[-1]
        between = "".join(self._parts)[prev.end:marker.start].strip().strip("[]").strip()
        first, last = self.numbers.get(prev.keys[-1]), self.numbers.get(marker.keys[0])
        if between not in _DASHES or first is None or last is None or not first < last <= first + 100:
            return False
        inner = [self.by_number[n] for n in range(first + 1, last) if n in self.by_number]
        prev.keys = list(dict.fromkeys([*prev.keys, *inner, *marker.keys]))
        prev.text = "".join(self._parts)[prev.start:marker.end]
        prev.end = marker.end
        return True
