"""Node matching: which predicted concept stands for which gold concept.

A matcher scores every (gold, pred) concept pair in [0, 1]; :func:`match_nodes` keeps the pairs at or
above a threshold and, by default, assigns them one-to-one with the Hungarian algorithm so that one
predicted node cannot stand for several gold nodes (which would let a vague prediction such as
"policy" collect credit for every gold concept it resembles). The ``paper`` matcher reproduces the
many-to-many threshold mapping of Berijanian et al. (EMNLP 2024 NLP4Science, arXiv 2409.18911) for
comparability with their numbers.

The registry :data:`MATCHERS` is the extension point: add a :class:`Matcher` and every evaluation,
CLI flag and registry test picks it up.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fcmatch.data.causal_map import normalize_concept

Similarity = Callable[[list[str], list[str]], np.ndarray]


@dataclass(frozen=True)
class Matcher:
    """A node-similarity function with its default threshold and assignment.

    Attributes:
        name: registry key.
        similarity: ``(gold, pred) -> array`` of shape (len(gold), len(pred)), values in [0, 1].
        threshold: pairs with similarity >= threshold may match.
        one_to_one: True for a Hungarian one-to-one assignment, False for every pair above threshold.
        description: one line for ``--help`` and the docs.
        prepare: optional ``(concepts) -> None`` called once with every concept of a corpus before
            per-sentence matching, so an expensive matcher can batch its work (the embedding matcher
            encodes them all in a few large batches instead of one small batch per sentence).
    """

    name: str
    similarity: Similarity
    threshold: float
    one_to_one: bool = True
    description: str = ""
    prepare: Callable[[list[str]], None] | None = None


def _grid(gold: list[str], pred: list[str], pair: Callable[[str, str], float]) -> np.ndarray:
    out = np.zeros((len(gold), len(pred)), dtype=np.float64)
    for i, g in enumerate(gold):
        for j, p in enumerate(pred):
            out[i, j] = pair(g, p)
    return out


def exact_similarity(gold: list[str], pred: list[str]) -> np.ndarray:
    """1.0 where the two concepts are equal after :func:`normalize_concept`, else 0.0."""
    g = [normalize_concept(x) for x in gold]
    p = [normalize_concept(x) for x in pred]
    return _grid(g, p, lambda a, b: float(a == b))


def fuzzy_similarity(gold: list[str], pred: list[str]) -> np.ndarray:
    """rapidfuzz ``fuzz.ratio`` / 100 (normalised Indel similarity) of the normalised concepts."""
    from rapidfuzz import fuzz, process

    if not gold or not pred:
        return np.zeros((len(gold), len(pred)))
    g = [normalize_concept(x) for x in gold]
    p = [normalize_concept(x) for x in pred]
    return np.asarray(process.cdist(g, p, scorer=fuzz.ratio, dtype=np.float64)) / 100.0


def token_f1(a: str, b: str) -> float:
    """F1 (Dice) of the normalised word multisets: 2 * |common| / (|a| + |b|); 0 when either is empty.

    F1 rather than Jaccard because it is the SQuAD token F1 readers know, and it is kinder to a
    prediction that adds one word to a two-word gold concept (F1 0.8, Jaccard 0.67).
    """
    ta, tb = Counter(normalize_concept(a).split()), Counter(normalize_concept(b).split())
    total = sum(ta.values()) + sum(tb.values())
    if not total:
        return 0.0
    return 2.0 * sum((ta & tb).values()) / total


def token_similarity(gold: list[str], pred: list[str]) -> np.ndarray:
    """:func:`token_f1` for every pair."""
    return _grid(gold, pred, token_f1)


def embedding_similarity(gold: list[str], pred: list[str]) -> np.ndarray:
    """Cosine of the all-MiniLM-L6-v2 embeddings of the normalised concepts, clipped to [0, 1].

    Negative cosines (rare for this encoder) mean "unrelated" as much as 0 does, hence the clip.
    """
    from fcmatch.evaluate.encoder import embed

    if not gold or not pred:
        return np.zeros((len(gold), len(pred)))
    g = embed([normalize_concept(x) for x in gold])
    p = embed([normalize_concept(x) for x in pred])
    return np.clip(g @ p.T, 0.0, 1.0).astype(np.float64)


def _embed_all(concepts: list[str]) -> None:
    from fcmatch.evaluate.encoder import embed

    embed(list(dict.fromkeys(normalize_concept(x) for x in concepts)))


@functools.cache
def _rouge1() -> object:
    from rouge_score import rouge_scorer, tokenizers

    # passing the default tokenizer explicitly skips rouge-score's "Using default tokenizer." log line
    return rouge_scorer.RougeScorer(["rouge1"], tokenizer=tokenizers.DefaultTokenizer(use_stemmer=True))


# threshold tuning scores the same concept pairs many times; stemming makes each call ~50 us
@functools.lru_cache(maxsize=200_000)
def _rouge1_pair(gold: str, pred: str) -> float:
    return _rouge1().score(target=gold, prediction=pred)["rouge1"].fmeasure


def rouge1_similarity(gold: list[str], pred: list[str]) -> np.ndarray:
    """ROUGE-1 F-measure with the Porter stemmer (rouge-score), as the MATCH paper's ``rouge`` measure."""
    return _grid(gold, pred, _rouge1_pair)


# Default thresholds. exact: equality. fuzzy 0.8: about one edit per five characters ("crop yields" vs
# "crop yield" is 0.95, "income" vs "outcome" 0.77). token 0.5: half the words shared. embedding 0.7:
# MiniLM cosines of paraphrases of short noun phrases sit above ~0.7 and unrelated ones below ~0.4.
# paper 0.5: the ROUGE threshold the MATCH paper selected against Elo (Measure_Evaluation notebook,
# "Best thresholds"). The paper's best measure, BLEURT, needs TensorFlow and a checkpoint download, so
# its ROUGE-1 measure (Spearman with Elo 0.124 vs BLEURT 0.152) is the one reproduced here.
MATCHERS: dict[str, Matcher] = {
    "exact": Matcher("exact", exact_similarity, 1.0, True, "equal after normalize_concept"),
    "fuzzy": Matcher("fuzzy", fuzzy_similarity, 0.8, True, "rapidfuzz ratio/100 of normalised text"),
    "token": Matcher("token", token_similarity, 0.5, True, "token F1 (Dice) of normalised words"),
    "embedding": Matcher(
        "embedding", embedding_similarity, 0.7, True, "MiniLM cosine, mean pooled, L2-normalised", _embed_all
    ),
    "paper": Matcher("paper", rouge1_similarity, 0.5, False, "MATCH paper: ROUGE-1 F >= 0.5, many-to-many"),
}


def get_matcher(name: str) -> Matcher:
    """The registered matcher called ``name``.

    Raises:
        ValueError: unknown name; the message lists the known ones.
    """
    try:
        return MATCHERS[name]
    except KeyError:
        raise ValueError(f"unknown matcher {name!r}; choose one of {', '.join(MATCHERS)}") from None


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float.

    Raises:
        ValueError: it is outside [0, 1] (the range of every matcher's similarity).
    """
    value = float(threshold)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    return value


def assign(similarity: np.ndarray, threshold: float, one_to_one: bool) -> list[tuple[int, int, float]]:
    """Turn a similarity matrix into matched (gold index, pred index, similarity) pairs.

    Args:
        similarity: shape (n_gold, n_pred), values in [0, 1].
        threshold: pairs below it never match.
        one_to_one: Hungarian assignment maximising the total similarity of admissible pairs
            (pairs below threshold are zeroed first, so they cannot steal a partner), or, when False,
            every pair at or above the threshold (many-to-many).

    Returns:
        Pairs sorted by gold index then pred index.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.size == 0:
        return []
    ok = sim >= threshold
    if not one_to_one:
        return [(int(i), int(j), float(sim[i, j])) for i, j in zip(*np.nonzero(ok), strict=True)]
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(np.where(ok, sim, 0.0), maximize=True)
    return sorted((int(i), int(j), float(sim[i, j])) for i, j in zip(rows, cols, strict=True) if ok[i, j])


def match_nodes(
    gold_concepts: list[str],
    pred_concepts: list[str],
    matcher: str | Matcher = "exact",
    threshold: float | None = None,
    one_to_one: bool | None = None,
) -> list[tuple[int, int, float]]:
    """Match predicted concepts to gold concepts.

    Args:
        gold_concepts: gold node names.
        pred_concepts: predicted node names.
        matcher: a :data:`MATCHERS` key or a :class:`Matcher`.
        threshold: minimum similarity; default the matcher's.
        one_to_one: default the matcher's (True for all but ``paper``).

    Returns:
        (gold index, pred index, similarity) for every matched pair.

    Raises:
        ValueError: unknown matcher, or a threshold outside [0, 1].
    """
    m = matcher if isinstance(matcher, Matcher) else get_matcher(matcher)
    threshold = check_threshold(m.threshold if threshold is None else threshold)
    one_to_one = m.one_to_one if one_to_one is None else one_to_one
    return assign(m.similarity(list(gold_concepts), list(pred_concepts)), threshold, one_to_one)
