"""``fcmatch report``: one self-contained HTML page plus PNG figures for an experiment folder or a run.

    fcmatch report demo-out/          # experiment folder: base vs fine-tuned, see experiment.py
    fcmatch report runs/causal-lora/  # a training run alone: loss curve and configuration

The report folder also gets the resolved :class:`~fcmatch.report.config.ReportConfig` as ``config.yaml``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fcmatch.config import save_beside
from fcmatch.data.formats import atomic_write
from fcmatch.report import figures
from fcmatch.report.config import ReportConfig
from fcmatch.report.experiment import (
    DEFAULT_MATCHERS,
    GOLD,
    LABELS,
    METRICS,
    REPORT,
    RUN,
    SYSTEMS,
    TIMINGS,
    Experiment,
    read_training_log,
    score_experiment,
)
from fcmatch.report.html import esc, examples_table, image, page, scores_table, source_table

__all__ = ["report", "write_report", "score_experiment", "Experiment", "ReportConfig", "SYSTEMS", "GOLD", "RUN",
           "METRICS", "REPORT", "LABELS"]


def _run_section(run: Path, out: Path) -> str:
    parts = []
    rows = read_training_log(run)
    if rows:
        parts.append(image(figures.loss_curve(rows, out / "loss.png"), "training loss curve"))
        last = rows[-1]
        facts = {k: last[k] for k in ("step", "loss", "val_loss", "tokens_per_s") if last.get(k) is not None}
        parts.append(f"<p>last logged step: {esc(json.dumps(facts))}</p>")
    for name in ("config.yaml", "manifest.json"):
        if (run / name).is_file():
            parts.append(f"<details><summary>{esc(name)}</summary><pre>{esc((run / name).read_text(encoding='utf-8'))}</pre></details>")
    return "\n".join(parts) or "<p>no metrics.jsonl yet</p>"


def _timings(root: Path) -> str:
    path = root / TIMINGS
    if not path.is_file():
        return ""
    stages = json.loads(path.read_text(encoding="utf-8"))
    rows = "".join(f'<tr><td>{esc(k)}</td><td class="num">{float(v):.1f}</td></tr>' for k, v in stages.items())
    return f"<table><tr><th>stage</th><th>seconds</th></tr>{rows}</table>"


def write_report(
    path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    rescore: bool = False,
    matchers: tuple[str, ...] = DEFAULT_MATCHERS,
    examples: int = 40,
    bertscore: bool = True,
) -> Path:
    """Write ``index.html`` and its PNGs for an experiment folder or a training run folder.

    Args:
        path: an experiment folder (holding gold.jsonl; layout in :mod:`fcmatch.report.experiment`)
            or a training run folder (holding metrics.jsonl).
        out: folder for the report; default ``path/report``.
        rescore: recompute metrics.json even when it exists.
        matchers: node matchers to score under when (re)scoring.
        examples: how many example sentences to show, worst first.
        bertscore: include BERTScore when scoring.

    Returns:
        The path of index.html.

    Raises:
        FileNotFoundError: ``path`` is neither an experiment folder nor a run folder.
    """
    root = Path(path)
    out = Path(out) if out is not None else root / REPORT
    if (root / GOLD).is_file():
        title, sections = _experiment_sections(root, out, rescore, matchers, examples, bertscore)
    elif (root / "metrics.jsonl").is_file():
        out.mkdir(parents=True, exist_ok=True)
        title, sections = f"fcmatch training run {root.name}", [("Training", _run_section(root, out))]
    else:
        raise FileNotFoundError(f"{root}: neither an experiment folder (no {GOLD}) nor a training run (no metrics.jsonl)")
    index = out / "index.html"
    with atomic_write(index) as handle:
        handle.write(page(title, sections))
    index.chmod(0o644)  # atomic_write's temporary file is private (0600); a report is meant to be shared
    return index


def report(config: ReportConfig) -> Path:
    """Run ``fcmatch report``: :func:`write_report` with ``config``, saved as ``config.yaml`` beside index.html.

    Returns:
        The path of index.html.

    Raises:
        FileNotFoundError: as :func:`write_report`.
    """
    index = write_report(config.path, config.out, config.rescore, config.matchers, config.examples, config.bertscore)
    save_beside(config, index.parent)
    return index


def _experiment_sections(
    root: Path, out: Path, rescore: bool, matchers: tuple[str, ...], examples: int, bertscore: bool
) -> tuple[str, list[tuple[str, str]]]:
    exp = Experiment.open(root)
    metrics_path = root / METRICS
    metrics: dict[str, Any]
    if rescore or not metrics_path.is_file():
        metrics = score_experiment(root, matchers, bertscore=bertscore)
    else:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    systems = ", ".join(LABELS.get(s, s) for s in metrics["systems"])
    intro = (f"<p>{metrics['sentences']} test sentences; systems: {esc(systems)}. Node matchers: "
             f"{esc(', '.join(metrics['matchers']))} (one-to-one). Intervals are 95% percentile bootstrap "
             f"intervals over sentences; the last column is a paired bootstrap of the macro-F1 difference.</p>")
    sections = [("Scores", intro + scores_table(metrics) + image(figures.score_bars(metrics, out / "scores.png"), "F1 bar chart"))]
    timings = _timings(root)
    if exp.run is not None:
        sections.append(("Training", _run_section(exp.run, out)))
    if timings:
        sections.append(("Timings", timings))
    sections.append((f"Per source ({metrics['matchers'][0]} matching)",
                     source_table(metrics) + image(figures.source_bars(metrics, out / "sources.png"), "F1 per source")))
    legend = ("<p>Worst first (lowest F1 of the last system). Marks use exact concept matching: "
              '<span class="ok">&#10003; in gold</span>, <span class="sign">&#177; sign flipped</span>, '
              '<span class="bad">&#10007; not in gold</span>.</p>')
    sections.append(("Examples", legend + examples_table(exp.gold, exp.preds, metrics, examples)))
    return f"fcmatch report: {root.resolve().name}", sections
