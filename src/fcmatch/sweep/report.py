"""A sweep's report.html: what was swept, the results table, the figures inlined, the resolved sweep config.

One self-contained file (figures as data URIs, every text escaped), built with :mod:`fcmatch.report.html`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from fcmatch.data.formats import atomic_write
from fcmatch.report.html import esc, image, page

SIGNIFICANT = 0.05


COST = {"train_seconds": ".1f", "tokens_per_s": ".0f", "train_loss": ".3f", "eval_seconds": ".1f"}


def _setting(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return esc(" ".join(map(str, value)) if isinstance(value, list) else value)


def _cost(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else format(value, COST[key])


def _metric_cell(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return '<td class="num"></td>'
    lo, hi = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    interval = f' <span class="ci">[{lo:.3f}, {hi:.3f}]</span>' if lo is not None and hi is not None else ""
    diff, p = row.get(f"{name}_vs_base"), row.get(f"{name}_vs_base_p")
    test = ""
    if diff is not None and p is not None:
        mark = ' class="better"' if p < SIGNIFICANT and diff > 0 else ""
        test = f'<br><span class="ci"><span{mark}>{diff:+.3f}</span> vs base, p {p:.3f}</span>'
    return f'<td class="num">{value:.3f}{interval}{test}</td>'


def results_table(rows: Sequence[dict[str, Any]], settings: Sequence[str], metrics: Sequence[str]) -> str:
    """Points as rows: settings, each metric with its 95% interval and its paired test against the base
    model (bold where the tuned model is better at p < 0.05), then the training cost."""
    head = ["point", *settings, *metrics, "train s", "tokens/s", "train loss", "eval s"]
    lines = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = [f"<td>{esc(row['point'])}</td>"]
        cells += [f"<td>{_setting(row.get(s))}</td>" for s in settings]
        cells += [_metric_cell(row, m) for m in metrics]
        cells += [f'<td class="num">{_cost(row, k)}</td>' for k in COST]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(lines) + "</table>"


def write_report(path: Path, summary: dict[str, Any], rows: Sequence[dict[str, Any]], settings: Sequence[str],
                 metrics: Sequence[str], figures: Sequence[Path], config: dict[str, Any]) -> Path:
    """Write the report page to ``path``; returns it.

    Args:
        summary: label -> value lines of the first section (task, model, test file, points, time).
        rows: results rows, base first.
        settings: the swept columns.
        metrics: the metric columns.
        figures: PNGs to inline, in order.
        config: the resolved sweep config, shown as YAML.
    """
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary.items())
    notes = ("<p>Intervals are 95% percentile bootstrap intervals over the test records; a tuned point's "
             "difference from the base model (decoded the same way) comes from a paired test on the same records."
             "</p>")
    sections = [
        ("Sweep", f"<table>{facts}</table>"),
        ("Results", notes + results_table(rows, settings, metrics)),
        ("Figures", "\n".join(image(f, f.stem) for f in figures) or "<p>No figures: no tuned point finished.</p>"),
        ("Sweep config", f"<pre>{esc(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))}</pre>"),
    ]
    with atomic_write(path) as handle:
        handle.write(page(f"fcmatch sweep: {summary.get('sweep', '')}", sections))
    return path
