"""A learned pairwise measure: a Bradley-Terry (logistic) model on the feature differences of two maps.

Each feature is a map-vs-map measure at fixed settings (reference-free ones ignore the reference).
An item's feature vector is its consensus (mean against the other maps of its sentence), standardised
with the training items' mean and sd; the model says ``P(a preferred to b) = sigmoid(w . (z_a - z_b))``
(no intercept: the order of the pair carries no information), fitted to the training sentences' non-tie
verdicts by penalised maximum likelihood (``ridge / 2 * |w|^2``, Newton's method). Scored like every
measure: consensus score ``w . z``, paper score ``w . z(item against the reference)``.

Which feature group and which ridge are chosen by leave-one-sentence-out cross-validation on the
training sentences alone (:func:`fcmatch.judge.tables.objective`), then the model is refitted on all
of them; so in :func:`fcmatch.judge.selection.nested_select` the held-out sentence never informs the
features, the ridge or the coefficients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from fcmatch.judge.tables import ItemScores, objective, sentence_stats, sentence_tables

if TYPE_CHECKING:
    from fcmatch.judge.judgements import JudgementData
    from fcmatch.judge.measures import Measure
    from fcmatch.judge.tables import Sentence

NEWTON_STEPS = 50


def fit_logistic(diffs: np.ndarray, ridge: float) -> np.ndarray:
    """Weights w maximising ``sum log sigmoid(diffs @ w) - ridge / 2 * |w|^2`` (every row a "first wins").

    Args:
        diffs: shape (verdicts, features), winner's features minus loser's.
        ridge: > 0; keeps w finite when the verdicts are separable.

    Returns:
        w, shape (features,).
    """
    k = diffs.shape[1]
    w = np.zeros(k)
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(diffs @ w)))
        grad = diffs.T @ (1.0 - p) - ridge * w
        hess = (diffs * (p * (1.0 - p))[:, None]).T @ diffs + ridge * np.eye(k)
        step = np.linalg.solve(hess, grad)
        w += step
        if np.abs(step).max() < 1e-10:
            break
    return w


@dataclass(frozen=True)
class LearnedMeasure:
    """Registry entry of the learned measure.

    Attributes:
        name: registry key.
        features: feature name -> measure with a one-point grid (its settings are the feature's).
        groups: candidate feature sets, by name; the first wins ties.
        ridges: candidate penalties.
        description: one line for the docs and the report table.
        optional: left out of a run unless named.
    """

    name: str
    features: dict[str, Measure]
    groups: dict[str, list[str]]
    ridges: list[float] = field(default_factory=lambda: [1.0])
    description: str = ""
    optional: bool = False

    def family(self, data: JudgementData, sentences: dict[str, Sentence],
               params: dict[str, Any] | None = None) -> LearnedFamily:
        """This measure on one study; with ``params`` (a frozen fit) only its features, at its settings."""
        if params is None:
            features = self.features
        else:
            features = {f: replace(self.features[f], grid=[params["settings"][f]]) for f in params["features"]}
        return LearnedFamily(self, features, data, sentences)


class LearnedFamily:
    """The learned measure on one study: features computed once, fits memoised per training set."""

    def __init__(self, entry: LearnedMeasure, features: dict[str, Measure], data: JudgementData,
                 sentences: dict[str, Sentence]) -> None:
        self.name = entry.name
        self.entry = entry
        self.sentences = sentences
        self.names = list(features)
        self.settings = {f: m.grid[0] for f, m in features.items()}
        tables = {f: sentence_tables(data, m) for f, m in features.items()}
        # x[sid][r, c, k]: feature k of item c against item r
        self.x = {sid: np.stack([tables[f][sid].scores[0] for f in self.names], axis=-1) for sid in sentences}
        self.consensus = {}
        for sid, x in self.x.items():
            n = x.shape[0]
            off = ~np.eye(n, dtype=bool)
            self.consensus[sid] = np.stack([x[off[:, c], c].mean(axis=0) for c in range(n)]) if n > 1 else x[0]
        self._fits: dict[tuple, dict[str, Any]] = {}
        self._chosen: dict[tuple, dict[str, Any]] = {}

    def _train(self, group: str, ridge: float, train: Sequence[str]) -> dict[str, Any]:
        key = (group, ridge, tuple(sorted(train)))
        if key not in self._fits:
            cols = [self.names.index(f) for f in self.entry.groups[group]]
            items = np.concatenate([self.consensus[s][:, cols] for s in train] or [np.zeros((1, len(cols)))])
            center, scale = items.mean(axis=0), items.std(axis=0)
            scale = np.where(scale > 0, scale, 1.0)
            diffs = np.concatenate([
                ((self.consensus[s][:, cols] - center) / scale)[v[:, 0]] - ((self.consensus[s][:, cols] - center) / scale)[v[:, 1]]
                for s in train if len(v := self.sentences[s].verdicts)
            ] or [np.zeros((0, len(cols)))])
            coef = fit_logistic(diffs, ridge)
            features = self.entry.groups[group]
            self._fits[key] = {
                "group": group, "ridge": ridge, "features": features,
                "settings": {f: self.settings[f] for f in features},
                "center": center.tolist(), "scale": scale.tolist(), "coef": coef.tolist(),
                "coef_per_unit": (coef / scale).tolist(), "verdicts": int(len(diffs)),
            }
        return self._fits[key]

    def configs(self) -> list[tuple[str, float]]:
        return [(g, r) for g in self.entry.groups for r in self.entry.ridges]

    def fit(self, train: Sequence[str]) -> dict[str, Any]:
        """Feature group and ridge by leave-one-out on ``train`` (module docstring), then refit on it all."""
        key = tuple(sorted(train))
        if key not in self._chosen:
            configs = self.configs()
            if len(train) >= 2 and len(configs) > 1:
                scores = []
                for group, ridge in configs:
                    inner = [self.stats(self._train(group, ridge, [o for o in train if o != s]), s) for s in train]
                    scores.append(objective(np.array(inner)))
                configs = [configs[int(np.argmax(scores))]]
            self._chosen[key] = self._train(*configs[0], train)
        return self._chosen[key]

    def scores(self, params: dict[str, Any], sid: str) -> ItemScores:
        cols = [self.names.index(f) for f in params["features"]]
        z = (self.x[sid][..., cols] - np.array(params["center"])) / np.array(params["scale"])
        pair = z @ np.array(params["coef"])  # pair[r, c]: item c's score against item r
        consensus = (self.consensus[sid][:, cols] - np.array(params["center"])) / np.array(params["scale"])
        return ItemScores(consensus @ np.array(params["coef"]), pair[self.sentences[sid].ref])

    def stats(self, params: dict[str, Any], sid: str) -> np.ndarray:
        return sentence_stats(self.sentences[sid], self.scores(params, sid))
