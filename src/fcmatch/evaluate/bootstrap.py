"""Bootstrap confidence intervals for edge F1, and a paired bootstrap comparison of two systems.

The unit of resampling is the sentence: a test set is a sample of sentences, and edges within a
sentence are not independent (one misread sentence loses all of its edges at once). Resamples are
drawn with numpy's seeded ``default_rng`` so a report can be reproduced exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
