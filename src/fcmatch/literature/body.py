"""Body text assembly shared by the readers: paragraphs with citation spans in, a document text and its
cited sentences out.

A reader adds one paragraph at a time (its text, its section and the citation markers in it, offsets relative
to the paragraph); :meth:`BodyText.sentences` splits each paragraph into sentences and gives each sentence the
markers that start inside it, offsets made relative to the sentence. Paragraphs are joined with a blank line,
so no sentence spans two of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fcmatch.literature.document import Marker, Sentence
from fcmatch.literature.sentences import sentence_spans

PARAGRAPH_BREAK = "\n\n"


@dataclass
class _Paragraph:
    start: int
    text: str
    section: str
    markers: list[Marker] = field(default_factory=list)


class BodyText:
    """Paragraphs collected in reading order."""

    def __init__(self) -> None:
        self._paragraphs: list[_Paragraph] = []
        self._length = 0

    def add(self, text: str, section: str = "", markers: list[Marker] | None = None) -> None:
        """Append a paragraph; ``markers`` have offsets into ``text``. Blank paragraphs are dropped."""
        if not text.strip():
            return
        if self._paragraphs:
            self._length += len(PARAGRAPH_BREAK)
        self._paragraphs.append(_Paragraph(self._length, text, section, list(markers or [])))
        self._length += len(text)

    @property
    def text(self) -> str:
        return PARAGRAPH_BREAK.join(p.text for p in self._paragraphs)

    def sentences(self, doc_id: str) -> list[Sentence]:
        """Every sentence of every paragraph, with the markers that start inside it and their keys."""
        out: list[Sentence] = []
        for para in self._paragraphs:
            markers = sorted(para.markers, key=lambda m: m.start)
            for start, end in _spans(para.text, markers):
                inside = [Marker(m.text, m.start - start, min(m.end, end) - start, list(m.keys))
                          for m in markers if start <= m.start < end]
                keys = list(dict.fromkeys(k for m in inside for k in m.keys))
                out.append(Sentence(doc_id, len(out), para.text[start:end], para.start + start, para.start + end,
                                    para.section, keys, inside))
        return out


def _spans(text: str, markers: list[Marker]) -> list[tuple[int, int]]:
    """Sentence spans, with a boundary that falls inside a marker moved to the marker's end."""
    spans = sentence_spans(text)
    fixed: list[tuple[int, int]] = []
    for start, end in spans:
        if fixed and fixed[-1][1] > start:
            start = fixed[-1][1]
            while start < end and text[start].isspace():
                start += 1
            if not any(c.isalnum() for c in text[start:end]):
                fixed[-1] = (fixed[-1][0], end)  # only punctuation left, e.g. the period after a marker
                continue
        for m in markers:
            if m.start < end < m.end:
                end = m.end
        fixed.append((start, end))
    return fixed
