"""A sweep's PNG figures: every metric against each swept setting, and heat maps of two-way grids.

One figure per swept setting, one panel per metric: a line per combination of the other settings, 95%
intervals as error bars, the untuned base model as a dashed reference (a horizontal line and its interval
band for a training setting; a line of its own along a decoding setting, which the base is decoded with too).
A sweep with exactly two settings that vary also gets one heat map figure. matplotlib runs on its
non-interactive Agg backend, so the figures render on machines without a display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fcmatch.sweep.results import DECODING

BASE_COLOR = "#68727d"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def values_of(rows: Sequence[dict[str, Any]], setting: str) -> list[Any]:
    """The distinct values of ``setting`` in ``rows``, sorted (numbers by value, others by text)."""
    found = list(dict.fromkeys(_hashable(r[setting]) for r in rows if r.get(setting) is not None))
    return sorted(found, key=lambda v: (0, v, "") if _is_number(v) else (1, 0, str(v)))


def _label(setting: str, value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{setting}={text}"


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, n)
    return math.ceil(n / cols), cols


def _error(rows: Sequence[dict[str, Any]], metric: str) -> list[list[float]] | None:
    lows = [r.get(f"{metric}_ci_low") for r in rows]
    highs = [r.get(f"{metric}_ci_high") for r in rows]
    if any(v is None for v in lows + highs):
        return None
    return [[r[metric] - lo for r, lo in zip(rows, lows, strict=True)],
            [hi - r[metric] for r, hi in zip(rows, highs, strict=True)]]


def _line(ax: Any, rows: list[dict[str, Any]], setting: str, metric: str, where: Any, **style: Any) -> None:
    rows = sorted((r for r in rows if r.get(metric) is not None), key=lambda r: where(_hashable(r[setting])))
    if rows:
        ax.errorbar([where(_hashable(r[setting])) for r in rows], [r[metric] for r in rows],
                    yerr=_error(rows, metric), marker="o", capsize=3, **style)


def _groups(rows: Sequence[dict[str, Any]], others: Sequence[str]) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(_hashable(row.get(o)) for o in others), []).append(row)
    return groups


def setting_figure(rows: Sequence[dict[str, Any]], setting: str, others: Sequence[str], metrics: Sequence[str],
                   path: Path) -> Path:
    """Each metric against ``setting`` (a results.csv column), one line per combination of ``others``.

    Args:
        rows: results rows (kind ``base`` and ``tuned``), values typed as in done.json.
        setting: the x axis; a ``decoding.`` column puts the base model on the axis too.
        others: the other swept columns.
        metrics: one panel each.
        path: the PNG to write.
    """
    plt = _pyplot()
    tuned = [r for r in rows if r["kind"] == "tuned"]
    base = [r for r in rows if r["kind"] == "base"]
    along_decoding = setting.startswith(DECODING)
    xs = values_of(tuned + (base if along_decoding else []), setting)
    numeric = all(_is_number(v) for v in xs)
    where = (lambda v: v) if numeric else (lambda v: xs.index(v))
    n_rows, n_cols = _grid(len(metrics))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.4 * n_cols, 3.3 * n_rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for key, members in _groups(tuned, others).items():
            label = ", ".join(_label(o, v) for o, v in zip(others, key, strict=True)) or "tuned"
            _line(ax, members, setting, metric, where, label=label)
        decoding_others = [o for o in others if o.startswith(DECODING)]
        for key, members in _groups(base, decoding_others).items():
            suffix = ", ".join(_label(o, v) for o, v in zip(decoding_others, key, strict=True))
            label = f"base model ({suffix})" if suffix else "base model"
            if along_decoding:
                _line(ax, members, setting, metric, where, label=label, color=BASE_COLOR, linestyle="--")
                continue
            row = members[0]
            if row.get(metric) is None:
                continue
            ax.axhline(row[metric], color=BASE_COLOR, linestyle="--", linewidth=1.2, label=label)
            if row.get(f"{metric}_ci_low") is not None and row.get(f"{metric}_ci_high") is not None:
                ax.axhspan(row[f"{metric}_ci_low"], row[f"{metric}_ci_high"], color=BASE_COLOR, alpha=0.12)
        ax.set_title(metric)
        ax.set_xlabel(setting)
        if numeric and xs and min(xs) > 0 and max(xs) / min(xs) >= 4:  # learning rates and ranks read in ratios
            ax.set_xscale("log")
            ax.set_xticks(xs, [f"{v:g}" for v in xs])
            ax.minorticks_off()
        elif numeric and len(xs) <= 8:
            ax.set_xticks(xs, [f"{v:g}" for v in xs])
        elif not numeric:
            ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=20, ha="right")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(handles)), fontsize=9, frameon=False)
    legend = 0.45 / fig.get_figheight() if handles else 0  # about half an inch under the panels
    fig.tight_layout(rect=(0, legend, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def heat_map(rows: Sequence[dict[str, Any]], first: str, second: str, metrics: Sequence[str], path: Path) -> Path:
    """Each metric of the tuned points over the ``first`` x ``second`` grid, values written in the cells."""
    import numpy as np

    plt = _pyplot()
    tuned = [r for r in rows if r["kind"] == "tuned"]
    ys, xs = values_of(tuned, first), values_of(tuned, second)
    n_rows, n_cols = _grid(len(metrics))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.2 + 1.1 * len(xs) * n_cols + 1.5 * n_cols,
                                                     0.9 + 0.8 * len(ys) * n_rows + 0.6 * n_rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        grid = np.full((len(ys), len(xs)), np.nan)
        for row in tuned:
            if row.get(metric) is not None:
                grid[ys.index(_hashable(row[first])), xs.index(_hashable(row[second]))] = row[metric]
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value):
                dark = value < np.nanmean(grid)
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=9, color="white" if dark else "black")
        ax.set_xticks(range(len(xs)), [f"{v:g}" if isinstance(v, float) else str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" if isinstance(v, float) else str(v) for v in ys])
        ax.set_xlabel(second)
        ax.set_ylabel(first)
        ax.set_title(metric)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def sweep_figures(rows: Sequence[dict[str, Any]], settings: Sequence[str], metrics: Sequence[str],
                  folder: Path) -> list[Path]:
    """Every figure of a sweep into ``folder``: one per setting that takes two or more values (or one over
    the points when none does), and a heat map when exactly two do.

    Args:
        rows: results rows.
        settings: the swept columns (training keys, then ``decoding.`` keys).
        metrics: the metrics to plot.
        folder: created if needed; its PNGs are rewritten.

    Returns:
        The PNG paths, figures along settings first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tuned = [r for r in rows if r["kind"] == "tuned"]
    varying = [s for s in settings if len(values_of(rows if s.startswith(DECODING) else tuned, s)) >= 2]
    if not metrics or not tuned:
        return []
    if not varying:
        return [setting_figure(rows, "point", [], metrics, folder / "points.png")]
    paths = [setting_figure(rows, s, [o for o in varying if o != s], metrics, folder / f"{s}.png") for s in varying]
    if len(varying) == 2:
        paths.append(heat_map(rows, varying[0], varying[1], metrics, folder / f"heatmap_{varying[0]}_{varying[1]}.png"))
    return paths
