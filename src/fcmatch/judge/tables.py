"""Per-sentence scores of items under a measure, and the per-sentence figures alignment is built from.

A measure's output on one sentence is an :class:`ItemScores`: a *consensus* score per item (no
verdict used), a *paper* score per item (against the sentence's Elo-top item, the MATCH paper's
reference) and, for pairwise measures, a matrix of preference probabilities. :func:`sentence_stats`
turns it into the figures of one sentence (:data:`STATS`), which every cross-validation sums:

- ``correct`` / ``verdicts``: non-tie verdicts of ``judgements/`` the measure agrees with (a tie in the
  measure counts 1/2); the preference is the pairwise matrix where there is one, else the consensus.
- ``spearman``: Spearman of the paper scores of the nine non-reference items with their Elo (NaN
  when either is constant).
- ``kendall``: Kendall tau-b of the consensus scores with the sentence's Bradley-Terry scores.
- ``reliability_correct`` / ``reliability_verdicts``: the same agreement count over every judge's
  non-tie verdict on the shared pairs of ``reliability/``, comparable with the human ceiling.

:class:`GridFamily` is the fitting interface of a map-vs-map measure with a settings grid: fitting on
training sentences picks the grid point with the best objective there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import kendalltau, spearmanr

from fcmatch.judge.elo import elo_ratings
from fcmatch.judge.judgements import Comparison, JudgementData, sentence_of
from fcmatch.judge.reliability import fit_per_sentence

if TYPE_CHECKING:
    from fcmatch.judge.measures import Measure

STATS = ("correct", "verdicts", "spearman", "kendall", "reliability_correct", "reliability_verdicts")


@dataclass
class Sentence:
    """What evaluation needs about one sentence (used to grade a measure, never to score maps).

    Attributes:
        id: sentence id.
        items: item ids, sorted.
        verdicts: (winner index, loser index) per non-tie verdict of ``judgements/``.
        reliability: the same for every judge's non-tie verdict in ``reliability/``.
        elo: Elo per item (the paper's protocol); ``ref`` is its first maximum.
        bt: Bradley-Terry (Davidson) score per item from ``judgements/``.
    """

    id: str
    items: list[str]
    verdicts: np.ndarray
    reliability: np.ndarray
    elo: np.ndarray
    bt: np.ndarray

    @property
    def ref(self) -> int:
        return int(np.argmax(self.elo))  # first maximum = first labeler alphabetically


def _pairs(comparisons: Sequence[Comparison], sid: str, index: dict[str, int]) -> np.ndarray:
    rows = [(index[c.winner], index[c.loser]) for c in comparisons if sentence_of(c.a) == sid and c.verdict != "tie"]
    return np.array(rows, dtype=int).reshape(-1, 2)


def sentences_of(data: JudgementData) -> dict[str, Sentence]:
    """A :class:`Sentence` per sentence of the study, in the study's order."""
    elo = elo_ratings(data.judgements, data.items)
    bt = fit_per_sentence(data.judgements, sorted(data.items))
    out = {}
    for sid in data.sentences:
        items = data.items_of(sid)
        index = {x: k for k, x in enumerate(items)}
        out[sid] = Sentence(sid, items, _pairs(data.judgements, sid, index), _pairs(data.reliability, sid, index),
                            np.array([elo[x] for x in items]), np.array([bt[x][0] for x in items]))
    return out


@dataclass
class ItemScores:
    """One measure's scores of one sentence's items (module docstring); arrays over ``Sentence.items``."""

    consensus: np.ndarray
    paper: np.ndarray
    pairwise: np.ndarray | None = None


def _agreement(verdicts: np.ndarray, scores: ItemScores) -> float:
    w, lose = verdicts[:, 0], verdicts[:, 1]
    if scores.pairwise is not None:
        a, b = scores.pairwise[w, lose], scores.pairwise[lose, w]
    else:
        a, b = scores.consensus[w], scores.consensus[lose]
    return float((a > b).sum() + 0.5 * (a == b).sum())


def _correlation(x: np.ndarray, y: np.ndarray, kind: Any) -> float:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(kind(x, y).statistic)


def sentence_stats(sentence: Sentence, scores: ItemScores) -> np.ndarray:
    """The figures of :data:`STATS` for one sentence (module docstring)."""
    others = [k for k in range(len(sentence.items)) if k != sentence.ref]
    return np.array([
        _agreement(sentence.verdicts, scores), len(sentence.verdicts),
        _correlation(scores.paper[others], sentence.elo[others], spearmanr),
        _correlation(scores.consensus, sentence.bt, kendalltau),
        _agreement(sentence.reliability, scores), len(sentence.reliability),
    ])


@dataclass
class SentenceTable:
    """Scores of every ordered pair of one sentence's maps under every grid point of one measure.

    Attributes:
        items: item ids of the sentence, sorted.
        scores: shape (grid points, items, items); ``scores[g, r, c]`` = candidate c scored against
            reference r (the diagonal is unused).
        verdicts: (winner index, loser index) of each non-tie verdict.
        elo: Elo rating per item.
    """

    items: list[str]
    scores: np.ndarray
    verdicts: np.ndarray
    elo: np.ndarray

    def consensus(self, g: int) -> np.ndarray:
        """Mean score of each item against every other item's map."""
        s = self.scores[g]
        n = len(self.items)
        return (s.sum(axis=0) - np.diag(s)) / max(n - 1, 1)

    def item_scores(self, g: int, ref: int) -> ItemScores:
        """Consensus scores and scores against item ``ref``, at grid point ``g``."""
        return ItemScores(self.consensus(g), self.scores[g, ref])

    def pairwise(self, g: int) -> tuple[float, int]:
        """(correct verdicts, ties in the measure counting 1/2; number of verdicts)."""
        c = self.consensus(g)
        win, lose = c[self.verdicts[:, 0]], c[self.verdicts[:, 1]]
        return float((win > lose).sum() + 0.5 * (win == lose).sum()), len(self.verdicts)

    def spearman(self, g: int) -> float:
        """The paper's per-sentence correlation (NaN when the measure is constant over the others)."""
        ref = int(np.argmax(self.elo))
        others = [k for k in range(len(self.items)) if k != ref]
        return _correlation(self.scores[g, ref, others], self.elo[others], spearmanr)


def sentence_tables(data: JudgementData, measure: Measure) -> dict[str, SentenceTable]:
    """Score every ordered pair of maps of every judged sentence under every grid point of ``measure``.

    A reference-free measure is scored once per item and the score copied to every reference.
    """
    if measure.prepare:
        measure.prepare([it.map for it in data.items.values()])
    elo = elo_ratings(data.judgements, data.items)
    tables = {}
    for sid in data.sentences:
        items = data.items_of(sid)
        index = {x: k for k, x in enumerate(items)}
        maps = [data.items[x].map for x in items]
        n = len(items)
        scores = np.zeros((len(measure.grid), n, n))
        for g, settings in enumerate(measure.grid):
            if measure.reference_free:
                scores[g] = np.array([measure.score(m, m, settings) for m in maps])[None, :]
                continue
            for r, c in ((r, c) for r in range(n) for c in range(n) if r != c):
                scores[g, r, c] = measure.score(maps[r], maps[c], settings)
        tables[sid] = SentenceTable(items, scores, _pairs(data.judgements, sid, index),
                                    np.array([elo[x] for x in items]))
    return tables


def objective(stats: np.ndarray) -> float:
    """What every fit maximises over its training sentences: pairwise accuracy + mean paper Spearman
    (a sentence without a correlation counts 0). ``stats``: shape (sentences, len(STATS))."""
    stats = np.atleast_2d(stats)
    return float(stats[:, 0].sum() / max(stats[:, 1].sum(), 1) + np.nan_to_num(stats[:, 2]).mean())


class GridFamily:
    """Fitting interface of a map-vs-map :class:`~fcmatch.judge.measures.Measure` on one study.

    ``fit(train)`` returns ``{"settings": ...}``, the grid point with the best :func:`objective` on the
    training sentences (the first on a tie); ``stats(params, sid)`` and ``scores(params, sid)`` apply
    any grid point's settings to one sentence.
    """

    def __init__(self, measure: Measure, data: JudgementData, sentences: dict[str, Sentence]) -> None:
        self.name = measure.name
        self.measure = measure
        self.sentences = sentences
        self.tables = sentence_tables(data, measure)
        self._stats = {sid: np.array([sentence_stats(s, self.tables[sid].item_scores(g, s.ref))
                                      for g in range(len(measure.grid))]) for sid, s in sentences.items()}

    def _index(self, params: dict[str, Any]) -> int:
        try:
            return self.measure.grid.index(params["settings"])
        except ValueError:
            raise ValueError(f"{self.name}: settings {params['settings']} are not in its grid") from None

    def fit(self, train: Sequence[str]) -> dict[str, Any]:
        if not train:
            return {"settings": self.measure.grid[0]}
        per_point = np.stack([self._stats[s] for s in train], axis=1)  # (grid, sentences, stats)
        best = int(np.argmax([objective(p) for p in per_point]))
        return {"settings": self.measure.grid[best]}

    def scores(self, params: dict[str, Any], sid: str) -> ItemScores:
        return self.tables[sid].item_scores(self._index(params), self.sentences[sid].ref)

    def stats(self, params: dict[str, Any], sid: str) -> np.ndarray:
        return self._stats[sid][self._index(params)]
