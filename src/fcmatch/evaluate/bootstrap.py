"""Bootstrap confidence intervals and paired tests: edge F1 of causal maps, and any per-item text metric.

The unit of resampling is the item (a sentence, an instruction): a test set is a sample of items, and
edges within a sentence are not independent (one misread sentence loses all of its edges at once).
Resamples are drawn with numpy's seeded ``default_rng`` so a report can be reproduced exactly.

For text metrics, every statistic is a function of the column sums of per-item rows (a mean is the sum
of a column over n; corpus BLEU is computed from summed n-gram counts), so a resample is a weight per
item and its sums one matrix product: :func:`bootstrap_interval` and :func:`paired_test`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Statistic = Callable[[np.ndarray, int], np.ndarray]
"""``statistic(sums, n)``: sums of per-item rows, shape (resamples, columns), over n items -> one value per row."""

DEFAULT_RESAMPLES = 1000


def _columns(per_sentence: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    if not per_sentence:
        raise ValueError("no sentences to resample")
    try:
        return {k: np.array([row[k] for row in per_sentence], dtype=np.float64)
                for k in ("f1", "tp", "fp", "n_gold", "n_pred")}
    except KeyError as err:
        raise ValueError(f"per-sentence rows need the key {err.args[0]!r} (use evaluate_maps' per_sentence)") from None


def _micro_f1(cols: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
    """Micro F1 of every resample (rows of ``idx``), with the empty-set convention of graph.py."""
    tp = cols["tp"][idx].sum(axis=1)
    correct = (cols["n_pred"] - cols["fp"])[idx].sum(axis=1)
    n_gold = cols["n_gold"][idx].sum(axis=1)
    n_pred = cols["n_pred"][idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n_pred > 0, correct / n_pred, 0.0)
        r = np.where(n_gold > 0, tp / n_gold, 0.0)
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return np.where((n_gold == 0) & (n_pred == 0), 1.0, f1)


def _resample(n_items: int, resamples: int, seed: int) -> np.ndarray:
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    return np.random.default_rng(seed).integers(0, n_items, size=(resamples, n_items))


def _interval(values: np.ndarray, level: float) -> list[float]:
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return [float(lo), float(hi)]


def bootstrap_ci(
    per_sentence: list[dict[str, Any]], resamples: int = DEFAULT_RESAMPLES, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """Percentile bootstrap intervals of macro and micro F1, resampling sentences.

    Args:
        per_sentence: ``evaluate_maps(...)["per_sentence"]``.
        resamples: number of bootstrap resamples.
        seed: numpy seed.
        level: coverage of the interval (0.95 gives the 2.5th and 97.5th percentiles).

    Returns:
        ``{"macro_f1": [lo, hi], "micro_f1": [lo, hi], "resamples", "seed", "level"}``.

    Raises:
        ValueError: no sentences, rows without counts, or resamples < 1.
    """
    cols = _columns(per_sentence)
    idx = _resample(len(per_sentence), resamples, seed)
    return {
        "macro_f1": _interval(cols["f1"][idx].mean(axis=1), level),
        "micro_f1": _interval(_micro_f1(cols, idx), level),
        "resamples": resamples,
        "seed": seed,
        "level": level,
    }


def paired_bootstrap(
    rows_a: list[dict[str, Any]],
    rows_b: list[dict[str, Any]],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Paired bootstrap of the macro-F1 difference B - A on the same gold sentences.

    Both systems are scored on the same resampled sentences each time, so sentence difficulty cancels.
    The p-value is two-sided and tests "no difference" by centring the bootstrap distribution on zero
    (Berg-Kirkpatrick et al. 2012, section 2): ``(1 + #{|d* - d| >= |d|}) / (resamples + 1)``.

    Args:
        rows_a: per-sentence rows of system A, from ``evaluate_maps`` on some gold file.
        rows_b: the same for system B on the same gold file (same sentences, same order).
        resamples: number of bootstrap resamples.
        seed: numpy seed.
        level: coverage of the interval of the difference.

    Returns:
        ``{"macro_f1_a", "macro_f1_b", "difference", "ci": [lo, hi], "p_value", "resamples", "seed"}``.

    Raises:
        ValueError: the rows are not for the same sentences.
    """
    if [r.get("text") for r in rows_a] != [r.get("text") for r in rows_b]:
        raise ValueError("paired comparison needs both systems scored on the same gold sentences in the same order")
    f1_a, f1_b = _columns(rows_a)["f1"], _columns(rows_b)["f1"]
    diff = float(f1_b.mean() - f1_a.mean())
    idx = _resample(len(rows_a), resamples, seed)
    boot = (f1_b - f1_a)[idx].mean(axis=1)
    extreme = int(np.sum(np.abs(boot - diff) >= abs(diff) - 1e-12))
    return {
        "macro_f1_a": float(f1_a.mean()),
        "macro_f1_b": float(f1_b.mean()),
        "difference": diff,
        "ci": _interval(boot, level),
        "p_value": (1 + extreme) / (resamples + 1),
        "resamples": resamples,
        "seed": seed,
    }


def mean_statistic(sums: np.ndarray, n: int) -> np.ndarray:
    """The mean of the first column: the default :data:`Statistic`."""
    return sums[:, 0] / n


def _rows(values: Any) -> np.ndarray:
    rows = np.asarray(values, dtype=np.float64)
    if rows.ndim == 1:
        rows = rows[:, None]
    if rows.ndim != 2 or not len(rows):
        raise ValueError("no items to resample" if rows.size == 0 else f"expected per-item rows, got shape {rows.shape}")
    return rows


def _weights(n_items: int, resamples: int, seed: int) -> np.ndarray:
    """How many times each item is drawn in each resample, shape (resamples, n_items)."""
    idx = _resample(n_items, resamples, seed)
    flat = (idx + n_items * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * n_items).reshape(resamples, n_items).astype(np.float64)


def bootstrap_interval(
    values: Any, statistic: Statistic = mean_statistic, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
    level: float = 0.95,
) -> dict[str, float | None]:
    """A statistic of per-item values and its percentile bootstrap interval, resampling items.

    Args:
        values: one number per item, or one row of numbers per item (e.g. BLEU's n-gram counts).
        statistic: computes the value from column sums; default the mean.
        resamples: number of bootstrap resamples; 0 gives no interval (``ci_low`` and ``ci_high`` None).
        seed: numpy seed; the same seed draws the same resamples for every metric of a test set.
        level: coverage of the interval (0.95: the 2.5th and 97.5th percentiles).

    Returns:
        ``{"value", "ci_low", "ci_high"}``.

    Raises:
        ValueError: no items, or resamples < 0.
    """
    rows = _rows(values)
    n = len(rows)
    value = float(statistic(rows.sum(axis=0, keepdims=True), n)[0])
    if resamples == 0:
        return {"value": value, "ci_low": None, "ci_high": None}
    lo, hi = _interval(statistic(_weights(n, resamples, seed) @ rows, n), level)
    return {"value": value, "ci_low": lo, "ci_high": hi}


def paired_test(
    values_a: Any, values_b: Any, statistic: Statistic = mean_statistic, resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0, level: float = 0.95,
) -> dict[str, Any]:
    """System B against system A on the same items: the difference B - A, its interval and a p-value.

    The interval is a paired bootstrap (both systems scored on the same resampled items, so item
    difficulty cancels). The p-value is a paired permutation test of "the two systems are exchangeable":
    each resample swaps A's and B's rows of a random half of the items, and
    ``p = (1 + #{|d*| >= |d|}) / (resamples + 1)`` (two-sided; never 0, as a finite test cannot show).

    Args:
        values_a, values_b: per-item values (or rows) of A and B, item i the same input in both.
        statistic: as for :func:`bootstrap_interval`; default the mean.
        resamples: resamples for both the interval and the permutations (at least 1).
        seed: numpy seed.
        level: coverage of the interval.

    Returns:
        ``{"a", "b", "difference", "ci_low", "ci_high", "p_value", "resamples", "seed"}``.

    Raises:
        ValueError: no items, different numbers of items, or resamples < 1.
    """
    a, b = _rows(values_a), _rows(values_b)
    if a.shape != b.shape:
        raise ValueError(f"paired test needs the same items for both systems, got {len(a)} and {len(b)}")
    n = len(a)
    value_a = float(statistic(a.sum(axis=0, keepdims=True), n)[0])
    value_b = float(statistic(b.sum(axis=0, keepdims=True), n)[0])
    diff = value_b - value_a
    weights = _weights(n, resamples, seed)
    lo, hi = _interval(statistic(weights @ b, n) - statistic(weights @ a, n), level)
    swap = np.random.default_rng(seed + 1).integers(0, 2, size=(resamples, n)).astype(np.float64)
    moved = swap @ (b - a)  # what swapping those items moves from B's sums to A's
    permuted = statistic(b.sum(axis=0) - moved, n) - statistic(a.sum(axis=0) + moved, n)
    extreme = int(np.sum(np.abs(permuted) >= abs(diff) - 1e-12))
    return {"a": value_a, "b": value_b, "difference": diff, "ci_low": lo, "ci_high": hi,
            "p_value": (1 + extreme) / (resamples + 1), "resamples": resamples, "seed": seed}
