"""Leave-one-sentence-out cross-validation of measures, nested selection of the default, and intervals.

Every measure on a study is a :class:`Family`: ``fit(train)`` makes all of the measure's choices
(settings, features, weights) from the training sentences alone and returns them as JSON-able params;
``stats(params, sid)`` grades those params on one sentence (:data:`fcmatch.judge.tables.STATS`).

- :func:`cross_validate`: for each sentence, fit on the others and grade on it.
- :func:`nested_select`: for each held-out sentence, every candidate measure is cross-validated on the
  other sentences alone; the best by :func:`~fcmatch.judge.tables.objective` is fitted on them and
  graded on the held-out sentence. Its figures are those of the whole procedure, choice of measure
  included; run on every sentence, the same procedure names the default measure.
- :func:`summarise`: pooled figures with 95% percentile-bootstrap intervals over sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from fcmatch.judge.tables import STATS, ItemScores, objective

RESAMPLES = 1000
SEED = 0


class Family(Protocol):
    """A measure bound to one study's data, ready to be fitted and graded per sentence."""

    name: str

    def fit(self, train: Sequence[str]) -> dict[str, Any]: ...

    def stats(self, params: dict[str, Any], sid: str) -> np.ndarray: ...

    def scores(self, params: dict[str, Any], sid: str) -> ItemScores: ...


def cross_validate(family: Family, sids: Sequence[str]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Leave-one-sentence-out: (stats per held-out sentence, shape (len(sids), len(STATS)); params per fold)."""
    params = [family.fit([o for o in sids if o != s]) for s in sids]
    return np.array([family.stats(p, s) for p, s in zip(params, sids, strict=True)]), params


def choose(families: Sequence[Family], sids: Sequence[str]) -> tuple[int, list[float]]:
    """Index of the family with the best cross-validated objective on ``sids`` (first on a tie), and
    every family's objective."""
    scores = [objective(cross_validate(f, sids)[0]) for f in families]
    return int(np.argmax(scores)), scores


def nested_select(families: Sequence[Family], sids: Sequence[str]) -> dict[str, Any]:
    """Nested leave-one-sentence-out selection of a measure (module docstring).

    Returns:
        ``stats`` (held-out stats per sentence), ``chosen`` (measure name per held-out sentence),
        ``params`` (its params per fold), and ``inner`` (each measure's inner objective per fold).
    """
    stats, chosen, params, inner = [], [], [], []
    for s in sids:
        train = [o for o in sids if o != s]
        best, scores = choose(families, train)
        p = families[best].fit(train)
        stats.append(families[best].stats(p, s))
        chosen.append(families[best].name)
        params.append(p)
        inner.append({f.name: v for f, v in zip(families, scores, strict=True)})
    return {"stats": np.array(stats), "chosen": chosen, "params": params, "inner": inner}


def _interval(values: np.ndarray) -> list[float] | None:
    values = values[~np.isnan(values)]
    if not len(values):
        return None
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def _pooled(stats: np.ndarray) -> dict[str, float | None]:
    """Figures of a (..., sentences, STATS) array, reduced over sentences."""
    verdicts, rel = stats[..., 1].sum(-1), stats[..., 5].sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "pairwise_accuracy": np.where(verdicts > 0, stats[..., 0].sum(-1) / verdicts, np.nan),
            "spearman_paper": np.nan_to_num(stats[..., 2]).mean(-1),
            "kendall_bt": np.nan_to_num(stats[..., 3]).mean(-1),
            "reliability_accuracy": np.where(rel > 0, stats[..., 4].sum(-1) / rel, np.nan),
        }


def _value(x: Any) -> float | None:
    return None if np.isnan(x) else float(x)


def summarise(stats: np.ndarray, sids: Sequence[str]) -> dict[str, Any]:
    """Pooled figures of per-sentence stats with bootstrap intervals (sentences resampled, seeded).

    Returns:
        ``pairwise_accuracy``, ``spearman_paper`` (constant measure = 0), ``kendall_bt`` (same),
        ``reliability_accuracy``, each with ``_ci``; ``verdicts``, ``reliability_verdicts``,
        ``sentences``, ``spearman_undefined`` and ``per_sentence`` (the stats by name).
    """
    point = _pooled(stats)
    boot = _pooled(stats[np.random.default_rng(SEED).integers(len(sids), size=(RESAMPLES, len(sids)))])
    out: dict[str, Any] = {}
    for key, value in point.items():
        out[key] = _value(value)
        out[f"{key}_ci"] = _interval(boot[key])
    out.update({
        "verdicts": int(stats[:, 1].sum()),
        "reliability_verdicts": int(stats[:, 5].sum()),
        "sentences": len(sids),
        "spearman_undefined": int(np.isnan(stats[:, 2]).sum()),
        "per_sentence": {s: {k: _value(v) for k, v in zip(STATS, row, strict=True)}
                         for s, row in zip(sids, stats, strict=True)},
    })
    return out
