"""The corpus map: merged concepts with their surface forms, and edges with every piece of evidence.

A corpus edge ``cause -> effect`` (concept ids) keeps one :class:`Evidence` per sentence-level edge that
supports it: the sentence, its document, character offsets of the cause and effect when they occur
verbatim, the sign and who proposed it (a model run or an annotator). Positive and negative evidence stay
separate counts, so a contested edge is visible as contested rather than averaged to a weak one.

Edge weight (in [-1, 1]): ``support * (sum of signed confidences) / (sum of confidences)`` with
``support = n / (n + prior)``: one sentence gives 0.5 at the default prior 1, four give 0.8, and an edge
read as positive and negative equally often gets 0 while keeping both counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fcmatch.data.causal_map import sign_symbol
from fcmatch.data.formats import FormatError, atomic_write

FORMAT_VERSION = 1


@dataclass
class Evidence:
    """One sentence-level edge behind a corpus edge."""

    sentence: str
    cause: str
    effect: str
    sign: int
    source: str = ""
    """The model run or annotator that proposed the edge."""
    document: str = ""
    """The document or sub-corpus of the sentence (a map's ``source``), "" when unknown."""
    cause_span: tuple[int, int] | None = None
    """Character offsets of the cause in the sentence, when it occurs there verbatim (case-insensitive)."""
    effect_span: tuple[int, int] | None = None
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sign"] = sign_symbol(self.sign)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        values = dict(data)
        values["sign"] = 1 if values.get("sign") in ("+", 1) else -1
        for key in ("cause_span", "effect_span"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


@dataclass
class Concept:
    """A merged concept: an id, a canonical name and the surface forms (with counts) it stands for."""

    id: str
    name: str
    forms: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(self.forms.values())


@dataclass
class CorpusEdge:
    """A corpus edge between two concept ids with its evidence."""

    cause: str
    effect: str
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def positive(self) -> int:
        return sum(1 for e in self.evidence if e.sign > 0)

    @property
    def negative(self) -> int:
        return sum(1 for e in self.evidence if e.sign < 0)

    @property
    def count(self) -> int:
        return len(self.evidence)

    @property
    def conflict(self) -> bool:
        """True when the evidence has both signs."""
        return self.positive > 0 and self.negative > 0

    @property
    def sign(self) -> int:
        """The majority sign (+1 on a tie, the conflict flag tells ties apart)."""
        return 1 if self.positive >= self.negative else -1

    @property
    def sources(self) -> list[str]:
        return sorted({e.source for e in self.evidence})

    def weight(self, prior: float = 1.0) -> float:
        """Evidence-based weight in [-1, 1] (see the module docstring)."""
        total = sum(e.confidence for e in self.evidence)
        if not total:
            return 0.0
        agreement = sum(e.confidence * e.sign for e in self.evidence) / total
        return agreement * self.count / (self.count + prior)


@dataclass
class CorpusMap:
    """Concepts by id, edges, and what built them (``meta``: inputs, settings, counts)."""

    concepts: dict[str, Concept] = field(default_factory=dict)
    edges: list[CorpusEdge] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def weight_prior(self) -> float:
        return float(self.meta.get("weight_prior", 1.0))

    def name(self, concept_id: str) -> str:
        return self.concepts[concept_id].name

    def sources(self) -> list[str]:
        """Every model or annotator in the evidence."""
        return sorted({s for e in self.edges for s in e.sources})

    def edge_rows(self) -> list[dict[str, Any]]:
        """One flat row per edge (names, counts, weight), as the CSV export and the web page show it."""
        return [
            {"cause": self.name(e.cause), "effect": self.name(e.effect), "cause_id": e.cause, "effect_id": e.effect,
             "sign": sign_symbol(e.sign), "weight": round(e.weight(self.weight_prior), 6), "count": e.count,
             "positive": e.positive, "negative": e.negative, "conflict": e.conflict,
             "sources": ";".join(e.sources)}
            for e in self.edges
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "fcmatch-corpus-map",
            "version": FORMAT_VERSION,
            "meta": self.meta,
            "concepts": [{"id": c.id, "name": c.name, "forms": c.forms} for c in self.concepts.values()],
            "edges": [
                {"cause": e.cause, "effect": e.effect, "weight": round(e.weight(self.weight_prior), 6),
                 "positive": e.positive, "negative": e.negative, "evidence": [v.to_dict() for v in e.evidence]}
                for e in self.edges
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "corpus map") -> CorpusMap:
        """Read :meth:`to_dict`'s output back.

        Raises:
            FormatError: not a corpus map, or an edge naming an unknown concept.
        """
        if not isinstance(data, dict) or data.get("format") != "fcmatch-corpus-map":
            raise FormatError(f"{where}: not an fcmatch corpus map (no format: fcmatch-corpus-map)")
        concepts = {c["id"]: Concept(c["id"], c["name"], dict(c.get("forms") or {})) for c in data["concepts"]}
        edges = []
        for i, e in enumerate(data.get("edges") or []):
            for end in (e["cause"], e["effect"]):
                if end not in concepts:
                    raise FormatError(f"{where}: edge {i} names unknown concept {end!r}")
            edges.append(CorpusEdge(e["cause"], e["effect"], [Evidence.from_dict(v) for v in e.get("evidence", [])]))
        return cls(concepts, edges, dict(data.get("meta") or {}))


def save_corpus(corpus: CorpusMap, path: str | os.PathLike) -> Path:
    """Write ``corpus`` as JSON (atomically); returns the path."""
    with atomic_write(path) as handle:
        json.dump(corpus.to_dict(), handle, ensure_ascii=False, indent=1)
    return Path(path)


def load_corpus(path: str | os.PathLike) -> CorpusMap:
    """Read a corpus map JSON written by :func:`save_corpus`.

    Raises:
        FileNotFoundError: no such file.
        FormatError: not valid JSON or not a corpus map.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such corpus map")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise FormatError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    return CorpusMap.from_dict(data, str(path))
