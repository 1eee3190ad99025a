"""Self-contained HTML report of a comparative-judgement study (``fcmatch judge report DIR``).

Sections: Bradley-Terry scores per sentence with 95% error bars, reliability figures, the measure
alignment table (every measure with pairwise accuracy, Kendall tau, the paper's Spearman and agreement
on the shared pairs, beside the human ceiling and the floor; :mod:`fcmatch.judge.align`) and, per
sentence, the default measure's held-out score against the human Bradley-Terry score. Figures are matplotlib PNGs embedded as base64.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fcmatch.config import save_beside
from fcmatch.data.formats import atomic_write
from fcmatch.judge.align import cross_validated, format_alignment, measure_names
from fcmatch.judge.config import JudgeReportConfig
from fcmatch.judge.judgements import JudgementData, read_match_study
from fcmatch.judge.reliability import fit_per_sentence, study_reliability
from fcmatch.judge.selection import Family


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _bt_figure(data: JudgementData, fitted: dict[str, tuple[float, float]]) -> str:
    import matplotlib.pyplot as plt

    sids = list(data.sentences)
    cols = 5
    rows = (len(sids) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, sid in zip(axes.flat, sids, strict=False):
        items = sorted(data.items_of(sid), key=lambda x: fitted[x][0])
        y = np.arange(len(items))
        ax.errorbar([fitted[x][0] for x in items], y, xerr=[1.96 * fitted[x][1] for x in items], fmt="o", ms=3)
        ax.set_yticks(y, [data.items[x].labeler for x in items], fontsize=7)
        ax.set_title(f"sentence {sid}", fontsize=9)
        ax.axvline(0, color="grey", lw=0.5)
    for ax in list(axes.flat)[len(sids):]:
        ax.axis("off")
    fig.supxlabel("Bradley-Terry score (log-strength, 95% interval)")
    return _png(fig)


def _measure_figure(data: JudgementData, fitted: dict[str, tuple[float, float]], family: Family,
                    folds: dict[str, dict[str, Any]]) -> str:
    """One panel per sentence: the measure's consensus score of each item, with the settings fitted on
    the other sentences (held out, as in the table), against the item's Bradley-Terry score."""
    import matplotlib.pyplot as plt
    from scipy.stats import kendalltau

    sids = list(data.sentences)
    cols = 5
    rows = (len(sids) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, sid in zip(axes.flat, sids, strict=False):
        items = data.items_of(sid)
        x = family.scores(folds[sid], sid).consensus
        y = [fitted[i][0] for i in items]
        ax.scatter(x, y, s=14)
        for xi, yi, item in zip(x, y, items, strict=True):
            ax.annotate(data.items[item].labeler, (xi, yi), fontsize=6)
        tau = kendalltau(x, y).statistic if np.ptp(x) > 0 else float("nan")
        ax.set_title(f"sentence {sid}: tau {tau:.2f}", fontsize=9)
    for ax in list(axes.flat)[len(sids):]:
        ax.axis("off")
    fig.supxlabel(f"{family.name} consensus score (held-out sentence)")
    fig.supylabel("Bradley-Terry score")
    return _png(fig)


def _table(rows: dict[str, Any]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(json.dumps(v))}</td></tr>" for k, v in rows.items())
    return f"<table>{body}</table>"


def _markdown_table(markdown: str) -> str:
    lines = [ln for ln in markdown.splitlines() if not set(ln) <= set("|-")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(
    data_dir: str | os.PathLike | JudgementData, out: str | os.PathLike, measures: list[str] | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    """Write the HTML report of the study in ``data_dir`` to ``out``.

    Args:
        data_dir: a folder with the layout of ../shared/data/match, or a study already read.
        out: the ``.html`` file to write (parent folders are created).
        measures: measures for the alignment table; default every non-optional one of
            :data:`fcmatch.judge.measures.MEASURES`.
        label: what the page calls the study; default the folder's path.

    Returns:
        ``{"reliability": ..., "alignment": ...}``, the figures shown.
    """
    import matplotlib

    matplotlib.use("Agg")
    data = data_dir if isinstance(data_dir, JudgementData) else read_match_study(data_dir)
    fitted = fit_per_sentence(data.judgements, sorted(data.items))
    reliability = study_reliability(data)
    alignment, families = cross_validated(data, measure_names(measures))
    default = alignment["default"]
    family = next(f for f in families if f.name == default)
    selection = alignment["selection"]["chosen"]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>fcmatch judgement report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}}</style></head><body>
<h1>Comparative judgement report</h1>
<p>{html.escape(label or str(data_dir))}: {len(data.sentences)} sentences, {len(data.items)} items,
{len(data.judgements)} judgements ({sum(c.verdict == "tie" for c in data.judgements)} ties),
{len(data.reliability)} reliability judgements.</p>
<h2>Bradley-Terry scores (Davidson ties, per sentence)</h2>{_bt_figure(data, fitted)}
<h2>Reliability</h2>{_table(reliability)}
<h2>Automatic measures vs people (leave-one-sentence-out, choices made in the training folds)</h2>
{_markdown_table(format_alignment(alignment))}
<p>Default measure (best cross-validated objective): {html.escape(default)}
{html.escape(json.dumps(alignment["measures"][default]["params_all"]))}. Nested selection chose, per
held-out sentence: {html.escape(json.dumps(selection))}. Shared pairs: agreement with each judge's
non-tie verdicts on the pairs every judge saw, read against the human ceiling; floor→ceiling: the
share of the way from the floor (more edges wins) to that ceiling.</p>
<h3>{html.escape(default)} vs the Bradley-Terry human score, per sentence</h3>
{_measure_figure(data, fitted, family, alignment["measures"][default]["folds"])}
</body></html>"""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as fh:
        fh.write(page)
    return {"reliability": reliability, "alignment": alignment}


def judge_report(config: JudgeReportConfig, data: JudgementData | None = None) -> dict[str, Any]:
    """Run ``fcmatch judge report``: :func:`write_report` with ``config``, the config saved beside the page.

    Args:
        config: the command's settings.
        data: the study, when the caller read it (``--study``); None reads ``config.data``.

    Returns:
        :func:`write_report`'s figures.
    """
    label = f"study {config.study} of {config.db}" if data is not None else None
    figures = write_report(data if data is not None else config.data, config.out, config.measures or None, label)
    save_beside(config, config.out)
    return figures
