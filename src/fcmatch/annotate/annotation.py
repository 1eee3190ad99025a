"""One person's annotation of one sentence, as the editor sends it: validated and turned into a CausalMap.

The editor posts a small JSON document; everything in it comes from a browser and is checked here
(types, lengths, counts) before it reaches the database, so the web layer stays thin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fcmatch.data.causal_map import CausalMap, Edge, SignError, clean_concept, parse_sign, sign_symbol

FLAGS = ("", "unclear", "no_claim")
CONFIDENCES = ("low", "medium", "high")
STATUSES = ("draft", "done")
# generous for one sentence (the reference data has at most ~12 edges per sentence) yet bounded,
# so a runaway script cannot store megabytes per save
MAX_EDGES = 60
MAX_CONCEPT_CHARS = 300
MAX_NOTE_CHARS = 2000


class AnnotationError(ValueError):
    """A malformed annotation document; the message says which field."""


@dataclass(frozen=True)
class EditorEdge:
    """An edge as the editor holds it.

    Attributes:
        cause, effect: concept text (display form).
        sign: +1 or -1.
        confidence: ``low``/``medium``/``high`` or None when the person gave none.
        origin: index of the model suggestion this edge started from, None for an edge typed by hand.
    """

    cause: str
    effect: str
    sign: int = 1
    confidence: str | None = None
    origin: int | None = None

    @property
    def complete(self) -> bool:
        """Both cause and effect are filled in (a half-typed row is kept in the draft, not yet an edge)."""
        return bool(self.cause and self.effect)

    def edge(self) -> Edge:
        return Edge(self.cause, self.effect, self.sign)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "effect": self.effect,
            "sign": sign_symbol(self.sign),
            "confidence": self.confidence,
            "origin": self.origin,
        }


@dataclass
class AnnotationDoc:
    """The whole editor state for one sentence.

    Attributes:
        edges: the person's edges, in their order.
        rejected: indices of suggestions the person rejected explicitly.
        flag: ``""``, ``unclear`` or ``no_claim``.
        status: ``draft`` while working, ``done`` once the person marked the sentence finished.
        note: free text for the project owner.
    """

    edges: list[EditorEdge] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    flag: str = ""
    status: str = "draft"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": [e.to_dict() for e in self.edges],
            "rejected": list(self.rejected),
            "flag": self.flag,
            "status": self.status,
            "note": self.note,
        }

    def complete_edges(self) -> list[EditorEdge]:
        """The rows with both a cause and an effect: the annotation's edges proper."""
        return [e for e in self.edges if e.complete]

    def causal_map(self, text: str, source: str = "", meta: dict[str, Any] | None = None) -> CausalMap:
        """The annotation as a CausalMap (a ``no_claim`` sentence has no edges; duplicates and
        half-typed rows dropped)."""
        meta = dict(meta or {})
        edges = [] if self.flag == "no_claim" else [e.edge() for e in self.complete_edges()]
        confidences = [] if self.flag == "no_claim" else [e.confidence for e in self.complete_edges()]
        if any(confidences):
            meta["edge_confidence"] = confidences
        if self.flag:
            meta["flag"] = self.flag
        cmap = CausalMap(text, edges, source, meta)
        if cmap.dedupe() and "edge_confidence" in meta:
            del meta["edge_confidence"]  # no longer parallel to the edges
        return cmap


def parse_annotation(payload: Any, n_suggestions: int = 0) -> AnnotationDoc:
    """Validate the editor's JSON document.

    Args:
        payload: ``{"edges": [{"cause", "effect", "sign", "confidence"?, "origin"?}], "rejected": [int],
            "flag": str, "status": str, "note": str}``; missing keys take their defaults.
        n_suggestions: how many suggestions the sentence has; ``origin`` and ``rejected`` must index them.

    Returns:
        The parsed document. A half-typed row (cause or effect still empty) is kept, so that autosave,
        which runs while people type, loses nothing; it is no edge of the map yet. Entirely empty rows
        of a document marked done are dropped.

    Raises:
        AnnotationError: wrong types, unknown flag/status/confidence/sign, too many or too long fields,
            or ``status: done`` with a half-typed row (the message names the row).
    """
    if not isinstance(payload, dict):
        raise AnnotationError("the annotation must be a JSON object")
    raw_edges = payload.get("edges") or []
    if not isinstance(raw_edges, list) or len(raw_edges) > MAX_EDGES:
        raise AnnotationError(f"'edges' must be a list of at most {MAX_EDGES} edges")
    edges = [_parse_edge(raw, i, n_suggestions) for i, raw in enumerate(raw_edges)]
    rejected = payload.get("rejected") or []
    if not isinstance(rejected, list) or not all(_is_index(r, n_suggestions) for r in rejected):
        raise AnnotationError(f"'rejected' must list suggestion indices below {n_suggestions}")
    flag = _choice(payload, "flag", FLAGS, "")
    status = _choice(payload, "status", STATUSES, "draft")
    note = payload.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise AnnotationError(f"'note' must be text of at most {MAX_NOTE_CHARS} characters")
    if status == "done":
        edges = [e for e in edges if e.cause or e.effect]
        for number, edge in enumerate(edges, start=1):
            if not edge.complete:
                missing = "cause" if not edge.cause else "effect"
                raise AnnotationError(
                    f"edge {number} has no {missing} yet: complete it or delete it before marking the sentence done"
                )
    return AnnotationDoc(edges, sorted(set(rejected)), flag, status, note.strip())


def _is_index(value: Any, n: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n


def _choice(payload: dict, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = payload.get(key, default)
    if value is None:
        value = default
    if value not in allowed:
        raise AnnotationError(f"'{key}' must be one of {allowed}, got {value!r}")
    return value


def _parse_edge(raw: Any, i: int, n_suggestions: int) -> EditorEdge:
    if not isinstance(raw, dict):
        raise AnnotationError(f"edge {i} must be an object")
    cause, effect = raw.get("cause", ""), raw.get("effect", "")
    if not isinstance(cause, str) or not isinstance(effect, str):
        raise AnnotationError(f"edge {i}: cause and effect must be text")
    cause, effect = clean_concept(cause), clean_concept(effect)
    if len(cause) > MAX_CONCEPT_CHARS or len(effect) > MAX_CONCEPT_CHARS:
        raise AnnotationError(f"edge {i}: a concept is longer than {MAX_CONCEPT_CHARS} characters")
    try:
        sign = parse_sign(raw.get("sign", "+"), f"edge {i}")
    except SignError as err:
        raise AnnotationError(str(err)) from None
    confidence = raw.get("confidence") or None
    if confidence is not None and confidence not in CONFIDENCES:
        raise AnnotationError(f"edge {i}: confidence must be one of {CONFIDENCES} or empty")
    origin = raw.get("origin")
    if origin is not None and not _is_index(origin, n_suggestions):
        raise AnnotationError(f"edge {i}: origin must index one of the {n_suggestions} suggestions")
    return EditorEdge(cause, effect, sign, confidence, origin)
