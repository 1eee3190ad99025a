"""Classification metrics with bootstrap intervals: accuracy, macro-F1, MCC, and per label F1 and recall.

Each test item becomes a one-hot row of the confusion matrix (gold x predicted, flattened), so every
metric is a function of the matrix's column sums and reuses :func:`fcmatch.evaluate.bootstrap.bootstrap_interval`,
which resamples items. MCC is the multiclass form (Gorodkin 2004), equal to the usual phi coefficient for two labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fcmatch.evaluate.bootstrap import DEFAULT_RESAMPLES, bootstrap_interval


def confusion_rows(golds: Sequence[str], preds: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """One row per item: the one-hot cell (gold, predicted) of the flattened L x L confusion matrix.

    Raises:
        ValueError: different lengths, or a gold/predicted label outside ``labels``.
    """
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold labels but {len(preds)} predictions")
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({x for x in (*golds, *preds) if x not in index})
    if unknown:
        raise ValueError(f"labels {unknown} not among {list(labels)}")
    rows = np.zeros((len(golds), len(labels) ** 2))
    for row, (g, p) in enumerate(zip(golds, preds, strict=True)):
        rows[row, index[g] * len(labels) + index[p]] = 1.0
    return rows


def _matrices(sums: np.ndarray, size: int) -> np.ndarray:
    return sums.reshape(len(sums), size, size)  # (resamples, gold, predicted)


def _accuracy(size: int) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda sums, n: np.trace(_matrices(sums, size), axis1=1, axis2=2) / n


def _f1(size: int, label: int) -> Callable[[np.ndarray, int], np.ndarray]:
    def statistic(sums: np.ndarray, n: int) -> np.ndarray:
        m = _matrices(sums, size)
        tp = m[:, label, label]
        denominator = m[:, label, :].sum(1) + m[:, :, label].sum(1)
        return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return statistic


def _recall(size: int, label: int) -> Callable[[np.ndarray, int], np.ndarray]:
    def statistic(sums: np.ndarray, n: int) -> np.ndarray:
        m = _matrices(sums, size)
        support = m[:, label, :].sum(1)
        return np.divide(m[:, label, label], support, out=np.zeros_like(support), where=support > 0)
    return statistic


def _macro_f1(size: int) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda sums, n: np.mean([_f1(size, i)(sums, n) for i in range(size)], axis=0)


def _mcc(size: int) -> Callable[[np.ndarray, int], np.ndarray]:
    def statistic(sums: np.ndarray, n: int) -> np.ndarray:
        m = _matrices(sums, size)
        correct = np.trace(m, axis1=1, axis2=2)
        true, pred = m.sum(2), m.sum(1)  # per-label gold counts and predicted counts
        numerator = correct * n - (true * pred).sum(1)
        denominator = np.sqrt((n**2 - (pred**2).sum(1)) * (n**2 - (true**2).sum(1)))
        return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    return statistic


def classification_metrics(golds: Sequence[str], preds: Sequence[str], labels: Sequence[str],
                           resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Accuracy, macro-F1 and MCC, each ``{"value", "ci_low", "ci_high"}``, ``per_label`` F1 and recall, and ``n``.

    Args:
        golds, preds: one label per item.
        labels: the label set (order fixes the confusion matrix's rows).
        resamples: bootstrap resamples (0 = no intervals); the same ``seed`` draws the same resamples for every metric.
    """
    rows = confusion_rows(golds, preds, labels)
    size = len(labels)

    def interval(statistic: Callable[[np.ndarray, int], np.ndarray]) -> dict[str, float | None]:
        return bootstrap_interval(rows, statistic, resamples, seed)

    return {
        "n": len(rows),
        "accuracy": interval(_accuracy(size)),
        "macro_f1": interval(_macro_f1(size)),
        "mcc": interval(_mcc(size)),
        "per_label": {label: {"f1": interval(_f1(size, i)), "recall": interval(_recall(size, i)),
                              "support": int(rows[:, i * size:(i + 1) * size].sum())}
                      for i, label in enumerate(labels)},
    }


def grouped_accuracy(golds: Sequence[str], preds: Sequence[str], groups: Sequence[str]) -> dict[str, float]:
    """Accuracy per group (e.g. HANS heuristic or corpus), keyed by group name."""
    out: dict[str, list[int]] = {}
    for g, p, group in zip(golds, preds, groups, strict=True):
        out.setdefault(group, []).append(int(g == p))
    return {group: float(np.mean(hits)) for group, hits in sorted(out.items())}
