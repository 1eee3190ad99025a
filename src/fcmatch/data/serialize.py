"""The one text serialisation of a causal map, its strict parser, and a lenient parser for model output.

Format (what a model is trained to write), one edge per line::

    fertiliser use -> crop yield (+)
    drought -> crop yield (-)

and the single word ``none`` for a sentence without causal claims. Why this shape: a 135M model
copies spans of the sentence well but keeps little structure in its head, so every edge is
self-contained on its own line (no brackets or quotes to balance as in JSON), the arrow reads like
the prose it was pre-trained on, and the sign comes last as a short, fixed token pair ``(+)``/``(-)``
that a truncated generation cannot half-write into a wrong but valid value.

Escaping keeps the format exact for any concept: ``\\`` is written ``\\\\`` and ``->`` inside a
concept is written ``-\\>``; newlines cannot occur because :class:`Edge` collapses whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fcmatch.data.causal_map import Edge, SignError, parse_sign, sign_symbol

ARROW = " -> "
EMPTY = "none"
_SUFFIX = {" (+)": 1, " (-)": -1}


class ParseError(ValueError):
    """Text that is not in the canonical serialisation."""


def _escape(concept: str) -> str:
    return concept.replace("\\", "\\\\").replace("->", "-\\>")


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def format_edge(edge: Edge) -> str:
    """One edge as one line, without a newline."""
    return f"{_escape(edge.cause)}{ARROW}{_escape(edge.effect)} ({sign_symbol(edge.sign)})"


def format_edges(edges: list[Edge]) -> str:
    """The canonical text of a causal map: one line per edge, or ``none``."""
    if not edges:
        return EMPTY
    return "\n".join(format_edge(e) for e in edges)


def _split_arrow(body: str) -> tuple[str, str] | None:
    """Split at the first arrow: escaped concepts never contain ``->``, so it is the separator."""
    i = body.find(ARROW)
    if i < 0:
        return None
    return body[:i], body[i + len(ARROW):]


def parse_edge_line(line: str) -> Edge:
    """Parse one canonical edge line.

    Raises:
        ParseError: when the line lacks the ``(+)``/``(-)`` suffix or the arrow, or a concept is empty.
    """
    suffix = line[-4:]
    if suffix not in _SUFFIX:
        raise ParseError(f"edge line must end with ' (+)' or ' (-)': {line!r}")
    body, sign = line[:-4], _SUFFIX[suffix]
    parts = _split_arrow(body)
    if parts is None:
        raise ParseError(f"edge line has no ' -> ' between cause and effect: {line!r}")
    try:
        return Edge(_unescape(parts[0]), _unescape(parts[1]), sign)
    except ValueError as err:
        raise ParseError(f"{err}: {line!r}") from None


def parse_edges(text: str) -> list[Edge]:
    """Strict inverse of :func:`format_edges`.

    Raises:
        ParseError: naming the first line (1-based) that does not parse.
    """
    text = text.rstrip("\n")
    if text == EMPTY:
        return []
    edges = []
    for number, line in enumerate(text.split("\n"), start=1):
        try:
            edges.append(parse_edge_line(line))
        except ParseError as err:
            raise ParseError(f"line {number}: {err}") from None
    return edges


@dataclass
class ParseResult:
    """What the lenient parser could read from model output, and what it could not."""

    edges: list[Edge] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_LOOSE_ARROW = re.compile(r"\s*(?:->|\u2192|=>|-->)\s*")
# a sign written at the end: "(+)", "[+]", ": positive", ", decrease", "(negative)"...
_LOOSE_SIGN = re.compile(r"[\s,:;|]*[(\[]?\s*([+-]|[A-Za-z]+)\s*[)\]]?\s*\.?$")


def _loose_edge(line: str) -> tuple[Edge | None, str | None]:
    """Read an edge written almost canonically; return (edge, None) or (None, problem)."""
    match = _LOOSE_SIGN.search(line)
    if match is None:
        return None, "no sign"
    try:
        sign = parse_sign(match.group(1))
    except SignError:
        return None, f"unknown sign {match.group(1)!r}"
    parts = _LOOSE_ARROW.split(line[: match.start()], maxsplit=1)
    if len(parts) != 2:
        return None, "no arrow"
    try:
        return Edge(_unescape(parts[0]), _unescape(parts[1]), sign), None
    except ValueError:
        return None, "empty concept"


def parse_lenient(text: str) -> ParseResult:
    """Read causal edges from model output; never raises.

    Accepts the canonical format plus common drift: bullets and numbering, unicode or ``=>`` arrows,
    signs spelled ``(positive)``/``: decrease``/``[+]``, prose before or after, repeated edges, and a
    last line cut off by the token limit. Everything skipped is reported in ``problems``.
    """
    result = ParseResult()
    if not isinstance(text, str):
        result.problems.append(f"output is not text: {type(text).__name__}")
        return result
    lines = text.split("\n")
    seen: set[tuple[str, str, int]] = set()
    for number, raw in enumerate(lines, start=1):
        line = _BULLET.sub("", raw).strip()
        if not line or line.lower().rstrip(".") == EMPTY:
            continue
        try:
            edge, problem = parse_edge_line(line), None
        except ParseError:
            edge, problem = _loose_edge(line)
        if edge is None:
            arrowless = _LOOSE_ARROW.search(line) is None
            if number == len(lines) and not text.endswith("\n") and not arrowless:
                problem = f"cut-off last line ({problem})"
            elif arrowless:
                problem = "not an edge, skipped"
            result.problems.append(f"line {number}: {problem}: {raw.strip()[:80]!r}")
            continue
        if edge.key() in seen:
            result.problems.append(f"line {number}: repeated edge dropped: {line[:80]!r}")
            continue
        seen.add(edge.key())
        result.edges.append(edge)
    return result
