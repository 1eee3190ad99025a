"""The few-shot report's figures, from results.csv rows (one row per run).

- ``fewshot-accuracy-vs-k.png``: accuracy against k, one box per method (spread over seeds and patterns), a
  panel per test set; the zero-shot model as a dashed line;
- ``fewshot-id-vs-ood.png``: in-domain against out-of-domain accuracy, one point per run, the diagonal drawn
  (a point below it lost accuracy under the shift);
- ``fewshot-patterns.png``: ICL accuracy per pattern and k (box over seeds): pattern sensitivity;
- ``fewshot-cost.png``: prompt tokens, latency and peak memory per test example against k, per method.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fcmatch.sweep.plots import _pyplot

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
TITLES = {"test_id": "in domain", "test_ood": "other corpora (OOD)", "test_flip": "flipped hypothesis"}


def _num(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _methods(rows: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in rows if r["k"] > 0))


def _boxes(ax: Any, data: list[list[float]], offset: float, width: float, color: str, label: str) -> None:
    """One box per k position (shifted by ``offset``) for the non-empty lists of ``data``, and a legend entry."""
    keep = [(d, i + offset) for i, d in enumerate(data) if d]
    if keep:
        box = ax.boxplot([d for d, _ in keep], positions=[w for _, w in keep], widths=width * 0.9,
                         patch_artist=True, manage_ticks=False)
        for patch in box["boxes"]:
            patch.set_facecolor(color)
            patch.set_alpha(0.6)
    ax.plot([], [], color=color, lw=6, alpha=0.6, label=label)


def _finish(plt: Any, fig: Any, axes: Any, path: Path, ylabel: str | None = "accuracy", legend: dict | None = None) -> Path:
    if ylabel:
        axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(**(legend or {"fontsize": 7}))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def accuracy_vs_k(rows: Sequence[dict[str, Any]], sets: Sequence[str], path: Path) -> Path:
    """Box plots of accuracy per method at each k, a panel per test set."""
    plt = _pyplot()
    methods, ks = _methods(rows), sorted({r["k"] for r in rows if r["k"] > 0})
    fig, axes = plt.subplots(1, len(sets), figsize=(4.6 * len(sets), 3.8), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(methods))
    for ax, name in zip(axes[0], sets, strict=True):
        for m, method in enumerate(methods):
            data = [[v for r in rows if r["method"] == method and r["k"] == k
                     if (v := _num(r, f"{name}_accuracy")) is not None] for k in ks]
            _boxes(ax, data, (m - (len(methods) - 1) / 2) * width, width, COLORS[m % len(COLORS)], method)
        zero = [v for r in rows if r["k"] == 0 and (v := _num(r, f"{name}_accuracy")) is not None]
        if zero:
            ax.axhline(statistics.median(zero), ls="--", color="#68727d", lw=1, label="zero-shot")
        ax.set_xticks(range(len(ks)), [f"k={k}" for k in ks])
        ax.set_title(TITLES.get(name, name))
        ax.grid(axis="y", alpha=0.3)
    return _finish(plt, fig, axes, path)


def id_vs_ood(rows: Sequence[dict[str, Any]], sets: Sequence[str], path: Path) -> Path | None:
    """In-domain accuracy against each shifted set's, one point per run, the diagonal drawn (None: no shifted set)."""
    shifted = [s for s in sets if s != "test_id"]
    if "test_id" not in sets or not shifted:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(shifted), figsize=(4.4 * len(shifted), 4.2), squeeze=False)
    markers = {k: mk for k, mk in zip(sorted({r["k"] for r in rows}), "o^sDvP*X", strict=False)}
    for ax, name in zip(axes[0], shifted, strict=True):
        for m, method in enumerate(_methods(rows) + (["zero-shot"] if any(r["k"] == 0 for r in rows) else [])):
            for k, marker in markers.items():
                picked = [r for r in rows if (r["method"] == method and r["k"] == k) or (method == "zero-shot" and r["k"] == k == 0)]
                xy = [(x, y) for r in picked if (x := _num(r, "test_id_accuracy")) is not None
                      and (y := _num(r, f"{name}_accuracy")) is not None]
                if xy:
                    ax.scatter(*zip(*xy, strict=True), color=COLORS[m % len(COLORS)], marker=marker, s=28, alpha=0.75,
                               label=f"{method} k={k}" if method != "zero-shot" else "zero-shot")
        ax.plot([0, 1], [0, 1], color="#68727d", lw=1, ls="--")
        ax.set_xlim(0.2, 1.0)
        ax.set_ylim(0.2, 1.0)
        ax.set_xlabel("in-domain accuracy")
        ax.set_ylabel(f"{TITLES.get(name, name)} accuracy")
        ax.grid(alpha=0.3)
    return _finish(plt, fig, axes, path, None, {"fontsize": 6, "loc": "lower right"})


def patterns(rows: Sequence[dict[str, Any]], sets: Sequence[str], path: Path) -> Path | None:
    """ICL accuracy per pattern and k (boxes over seeds); None when the grid has a single ICL pattern."""
    icl = [r for r in rows if r["method"] == "icl"]
    names = list(dict.fromkeys(r["pattern"] for r in icl))
    if len(names) < 2:
        return None
    plt = _pyplot()
    ks = sorted({r["k"] for r in icl})
    fig, axes = plt.subplots(1, len(sets), figsize=(4.6 * len(sets), 3.8), squeeze=False, sharey=True)
    width = 0.8 / len(names)
    for ax, name in zip(axes[0], sets, strict=True):
        for p, pattern in enumerate(names):
            data = [[v for r in icl if r["pattern"] == pattern and r["k"] == k if (v := _num(r, f"{name}_accuracy")) is not None]
                    for k in ks]
            _boxes(ax, data, (p - (len(names) - 1) / 2) * width, width, COLORS[p % len(COLORS)], pattern)
        ax.set_xticks(range(len(ks)), [f"k={k}" for k in ks])
        ax.set_title(f"ICL, {TITLES.get(name, name)}")
        ax.grid(axis="y", alpha=0.3)
    return _finish(plt, fig, axes, path)


COST = (("prompt_tokens", "prompt tokens / example"), ("latency_ms", "latency ms / example"),
        ("peak_memory_mb", "peak memory MiB (scoring)"))


def cost(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Median cost per test example against k, a line per method (ICL's grows with k, fine-tuned models' does not)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(COST), figsize=(4.4 * len(COST), 3.6), squeeze=False)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for ax, (key, title) in zip(axes[0], COST, strict=True):
        for m, method in enumerate(methods):
            ks = sorted({r["k"] for r in rows if r["method"] == method})
            points = [(k, statistics.median(vals)) for k in ks
                      if (vals := [v for r in rows if r["method"] == method and r["k"] == k if (v := _num(r, key)) is not None])]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", color=COLORS[m % len(COLORS)], label=method)
        ax.set_xlabel("k")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    return _finish(plt, fig, axes, path, None)
