"""The report's PNG figures: scores with confidence intervals, the training loss curve, per-source F1.

matplotlib runs on its non-interactive Agg backend, so figures render on machines without a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fcmatch.report.experiment import LABELS

COLORS = {"base": "#9aa5b1", "finetuned": "#2f6fb3"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def score_bars(metrics: dict[str, Any], path: Path) -> Path:
    """Grouped bars of macro and micro F1 per matcher and system, with 95% bootstrap intervals."""
    plt = _pyplot()
    groups = [(m, avg) for m in metrics["matchers"] for avg in ("macro", "micro")]
    systems = metrics["systems"]
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(groups), 3.6))
    for k, system in enumerate(systems):
        xs, heights, errs = [], [], [[], []]
        for g, (matcher, avg) in enumerate(groups):
            score = metrics["scores"][system][matcher]
            value = score[avg]["f1"]
            lo, hi = (score["ci"] or {}).get(f"{avg}_f1", [value, value])
            xs.append(g + (k - (len(systems) - 1) / 2) * width)
            heights.append(value)
            errs[0].append(max(value - lo, 0.0))
            errs[1].append(max(hi - value, 0.0))
        ax.bar(xs, heights, width, yerr=errs, capsize=3, label=LABELS.get(system, system),
               color=COLORS.get(system, None))
    ax.set_xticks(range(len(groups)), [f"{m}\n{avg} F1" for m, avg in groups])
    ax.set_ylim(0, 1)
    ax.set_ylabel("edge F1 (95% CI)")
    ax.legend(frameon=False)
    return _save(fig, path)


def loss_curve(rows: list[dict[str, Any]], path: Path) -> Path:
    """Training loss (and validation loss when logged) against the optimizer step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    train = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None and "step" in r]
    val = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None and "step" in r]
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color=COLORS["finetuned"])
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="validation loss", color="#d9822b")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    ax.legend(frameon=False)
    return _save(fig, path)


def source_bars(metrics: dict[str, Any], path: Path) -> Path:
    """Macro F1 per source (field) and system, under the primary matcher."""
    plt = _pyplot()
    systems = metrics["systems"]
    sources = sorted({s for system in systems for s in metrics["per_source"][system]})
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(sources) + 2), 3.6))
    for k, system in enumerate(systems):
        table = metrics["per_source"][system]
        xs = [i + (k - (len(systems) - 1) / 2) * width for i in range(len(sources))]
        ax.bar(xs, [table.get(s, {}).get("macro_f1", 0.0) for s in sources], width,
               label=LABELS.get(system, system), color=COLORS.get(system, None))
    ax.set_xticks(range(len(sources)), sources, rotation=35, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"macro F1 ({metrics['matchers'][0]})")
    ax.legend(frameon=False)
    return _save(fig, path)
