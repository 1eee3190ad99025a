"""The causal-map data model every fcmatch task shares.

A causal map (fuzzy cognitive map) of a sentence is a set of signed, directed edges
``cause -> effect``. Concepts are stored in their *display* form (whitespace collapsed,
case kept); matching code compares them through :func:`normalize_concept`.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass, field
from typing import Any

POSITIVE = 1
NEGATIVE = -1

# Every spelling of a sign seen in the real data (causal-claims CSV, the ten MATCH labelers)
# plus the serialisation's own "+"/"-". Keys are compared after str.strip().lower().
_SIGN_SPELLINGS: dict[str, int] = {
    "positive": POSITIVE,
    "increase": POSITIVE,
    "+": POSITIVE,
    "negative": NEGATIVE,
    "decrease": NEGATIVE,
    "-": NEGATIVE,
}

_WHITESPACE = re.compile(r"\s+")
_PUNCT = set(string.punctuation) | {"\u2018", "\u2019", "\u201c", "\u201d", "\u2013", "\u2014"}


class SignError(ValueError):
    """A sign spelled in none of the known ways."""


def parse_sign(value: Any, where: str = "") -> int:
    """Map a sign spelling to +1 or -1.

    Args:
        value: ``Positive``/``Negative``, ``increase``/``decrease`` (any case), ``+``/``-``,
            or the integers 1/-1.
        where: where the value came from (file and line), quoted in the error.

    Returns:
        ``POSITIVE`` (1) or ``NEGATIVE`` (-1).

    Raises:
        SignError: for any other value; the message names the value and ``where``.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value in (POSITIVE, NEGATIVE):
        return value
    if isinstance(value, str):
        sign = _SIGN_SPELLINGS.get(value.strip().lower())
        if sign is not None:
            return sign
    place = f" in {where}" if where else ""
    raise SignError(
        f"unknown sign {value!r}{place}; expected one of Positive/Negative, increase/decrease or +/-"
    )


def sign_symbol(sign: int) -> str:
    """``+`` for a positive edge, ``-`` for a negative one."""
    return "+" if sign == POSITIVE else "-"


def clean_concept(text: str) -> str:
    """Display form of a concept: unicode NFC, every whitespace run (newlines too) -> one space, stripped."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def normalize_concept(text: str) -> str:
    """Matching form of a concept: the one place that decides when two concepts are "the same".

    Lower-cases, drops punctuation (ASCII and typographic quotes/dashes) and collapses whitespace,
    so ``"Crop  Yield."`` and ``"crop yield"`` compare equal.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    return _WHITESPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class Edge:
    """One signed, directed causal edge. Concepts are cleaned on construction."""

    cause: str
    effect: str
    sign: int = POSITIVE

    def __post_init__(self) -> None:
        object.__setattr__(self, "cause", clean_concept(self.cause))
        object.__setattr__(self, "effect", clean_concept(self.effect))
        object.__setattr__(self, "sign", parse_sign(self.sign, "Edge"))
        if not self.cause or not self.effect:
            raise ValueError(f"an edge needs a non-empty cause and effect, got {self.cause!r} -> {self.effect!r}")

    def key(self) -> tuple[str, str, int]:
        """(normalised cause, normalised effect, sign): two edges with equal keys are duplicates."""
        return normalize_concept(self.cause), normalize_concept(self.effect), self.sign

    def to_dict(self) -> dict[str, str]:
        return {"cause": self.cause, "effect": self.effect, "sign": sign_symbol(self.sign)}


@dataclass
class CausalMap:
    """The causal map of one sentence (or passage).

    Attributes:
        text: the sentence the edges were read from.
        edges: the edges, in reading order, duplicates removed by :meth:`dedupe`.
        source: the corpus or labeler the map came from ("" when unknown).
        meta: anything else a reader kept (labeler, ids, model raw output...).
    """

    text: str
    edges: list[Edge] = field(default_factory=list)
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def dedupe(self) -> int:
        """Drop exact duplicate edges (same normalised cause, effect and sign); return how many went."""
        seen: set[tuple[str, str, int]] = set()
        kept = []
        for edge in self.edges:
            if edge.key() not in seen:
                seen.add(edge.key())
                kept.append(edge)
        dropped = len(self.edges) - len(kept)
        self.edges = kept
        return dropped

    @property
    def concepts(self) -> list[str]:
        """Distinct concepts (by :func:`normalize_concept`) in order of first appearance, first spelling kept."""
        out: dict[str, str] = {}
        for edge in self.edges:
            out.setdefault(normalize_concept(edge.cause), edge.cause)
            out.setdefault(normalize_concept(edge.effect), edge.effect)
        return list(out.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "edges": [e.to_dict() for e in self.edges],
            "source": self.source,
            "meta": self.meta,
        }
