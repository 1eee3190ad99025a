"""Reference-free measures of one causal map: grounding of its concepts in the sentence, degenerate
edges, and the "more edges wins" floor.

Each takes ``(reference, candidate, settings)`` like every measure and ignores the reference, so an
item's consensus score is its own score.

- :func:`grounding_lexical`: :func:`fcmatch.judge.quality.groundedness`, the share of the concepts'
  Porter-stemmed words found in the sentence.
- :func:`grounding_embedding`: mean over the distinct concepts of the best MiniLM cosine between the
  concept and a span of the sentence (every run of 1 to ``SPAN_WORDS`` words), so a paraphrased
  concept ("higher yields" for "yields increase") is grounded where a copied-in one is not.
- :func:`degenerate`: :func:`fcmatch.judge.quality.cleanliness`, the share of edges that are not a
  self-loop, a pair given both signs, or half of a two-cycle.
- :func:`edge_count`: ``n / (n + 1)`` for n distinct edges: monotone in n, so it ranks maps by size alone.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from fcmatch.data.causal_map import CausalMap, normalize_concept
from fcmatch.judge.quality import cleanliness, groundedness
from fcmatch.judge.semantic import distinct_edges

Settings = dict[str, Any]
# concepts in ../shared/data/match are 1-6 words; spans of up to 6 words cover a copied phrase whole
SPAN_WORDS = 6


def grounding_lexical(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Share of the candidate's concept words (stemmed) found in its sentence; reference ignored."""
    return groundedness(candidate)


def sentence_spans(text: str, longest: int = SPAN_WORDS) -> list[str]:
    """Every run of 1 to ``longest`` consecutive words of ``text`` (lower-cased, punctuation dropped)."""
    words = re.findall(r"[\w'-]+", text.lower())
    return [" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, min(i + longest, len(words)) + 1)]


@functools.lru_cache(maxsize=10_000)
def _grounding_embedding(text: str, concepts: tuple[str, ...]) -> float:
    from fcmatch.evaluate.encoder import embed

    spans = sentence_spans(text)
    if not concepts:
        return 1.0
    if not spans:
        return 0.0
    sim = embed(list(concepts)) @ embed(spans).T
    return float(np.clip(sim.max(axis=1), 0.0, 1.0).mean())


def grounding_embedding(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Mean best cosine of each concept with a sentence span (module docstring); 1 for an empty map."""
    concepts = tuple(dict.fromkeys(normalize_concept(c) for c in candidate.concepts))
    return _grounding_embedding(candidate.text, concepts)


def degenerate(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """Share of the candidate's distinct edges that are not degenerate; reference ignored."""
    return cleanliness(candidate)


def edge_count(reference: CausalMap, candidate: CausalMap, settings: Settings) -> float:
    """``n / (n + 1)`` for the candidate's n distinct edges: the "more edges wins" baseline."""
    n = len(distinct_edges(candidate))
    return n / (n + 1)


def prepare_spans(texts: list[str]) -> None:
    """Embed every span of ``texts`` in a few large batches before scoring."""
    from fcmatch.evaluate.encoder import embed

    embed(list(dict.fromkeys(s for t in texts for s in sentence_spans(t))))
