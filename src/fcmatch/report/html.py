"""The report page: one self-contained HTML file (figures inlined as data URIs), every text escaped."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from fcmatch.data.causal_map import CausalMap, Edge, normalize_concept, sign_symbol
from fcmatch.report.experiment import LABELS

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d232a}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #d5dbe1;padding:4px 8px;vertical-align:top}
th{background:#f2f5f8;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ci{color:#68727d;font-size:12px}.ok{color:#1a7f37}.sign{color:#b35900}.bad{color:#b42318}
.edges{margin:0;padding-left:1.1em}img{max-width:100%}pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px}
.better{font-weight:bold}
"""


def esc(value: Any) -> str:
    """Any value as HTML-escaped text (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def image(path: Path, alt: str) -> str:
    """An <img> with the PNG inlined, so the page stays readable when moved without its folder."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img src="data:image/png;base64,{data}" alt="{esc(alt)}"></p>'


def _score(value: float, ci: list[float] | None) -> str:
    interval = f' <span class="ci">[{ci[0]:.3f}, {ci[1]:.3f}]</span>' if ci else ""
    return f"{value:.3f}{interval}"


def scores_table(metrics: dict[str, Any]) -> str:
    """Systems as columns; F1 (with 95% CIs), precision and recall per matcher, then text metrics."""
    systems = metrics["systems"]
    paired = metrics.get("paired") or {}
    head = "".join(f"<th>{esc(LABELS.get(s, s))}</th>" for s in systems)
    diff_head = "<th>fine-tuned &minus; base (paired 95% CI, p)</th>" if paired else ""
    out = [f"<table><tr><th>metric</th>{head}{diff_head}</tr>"]
    for matcher in metrics["matchers"]:
        for avg in ("macro", "micro"):
            for key in ("f1", "precision", "recall"):
                cells = []
                for s in systems:
                    score = metrics["scores"][s][matcher]
                    ci = (score.get("ci") or {}).get(f"{avg}_f1") if key == "f1" else None
                    cells.append(f'<td class="num">{_score(score[avg][key], ci)}</td>')
                diff = ""
                if paired:
                    p = paired.get(matcher) if (avg, key) == ("macro", "f1") else None
                    diff = (f'<td class="num">{p["difference"]:+.3f} <span class="ci">[{p["ci"][0]:+.3f}, '
                            f'{p["ci"][1]:+.3f}], p={p["p_value"]:.3f}</span></td>') if p else "<td></td>"
                out.append(f"<tr><td>{esc(matcher)} {avg} {key}</td>{''.join(cells)}{diff}</tr>")
    text = metrics.get("text") or {}
    keys = [k for k in ("bleu", "rougeL", "bertscore_f1", "exact_match") if all(k in text.get(s, {}) for s in systems)]
    for key in keys if text else []:
        cells = "".join(f'<td class="num">{text[s][key]:.3f}</td>' for s in systems)
        out.append(f"<tr><td>text {esc(key)}</td>{cells}{'<td></td>' if paired else ''}</tr>")
    for s_key in ("n_pred", "sign_errors", "swapped"):
        matcher = metrics["matchers"][0]
        cells = "".join(f'<td class="num">{metrics["scores"][s][matcher]["counts"].get(s_key, 0)}</td>' for s in systems)
        out.append(f"<tr><td>{esc(matcher)} {esc(s_key)}</td>{cells}{'<td></td>' if paired else ''}</tr>")
    out.append("</table>")
    return "\n".join(out)


def source_table(metrics: dict[str, Any]) -> str:
    """Macro/micro F1 per source and system (primary matcher)."""
    systems = metrics["systems"]
    sources = sorted({src for s in systems for src in metrics["per_source"][s]})
    head = "".join(f"<th>{esc(LABELS.get(s, s))} macro F1</th><th>micro F1</th>" for s in systems)
    out = [f"<table><tr><th>source</th><th>sentences</th>{head}</tr>"]
    for src in sources:
        first = next(metrics["per_source"][s][src] for s in systems if src in metrics["per_source"][s])
        cells = ""
        for s in systems:
            row = metrics["per_source"][s].get(src)
            cells += (f'<td class="num">{row["macro_f1"]:.3f}</td><td class="num">{row["micro_f1"]:.3f}</td>'
                      if row else "<td></td><td></td>")
        out.append(f'<tr><td>{esc(src)}</td><td class="num">{first["sentences"]}</td>{cells}</tr>')
    out.append("</table>")
    return "\n".join(out)


def _mark(edge: Edge, gold: CausalMap) -> tuple[str, str]:
    """(css class, symbol): the edge is in gold (exact concepts, same sign), sign-flipped, or not."""
    keys = {e.key() for e in gold.edges}
    cause, effect = normalize_concept(edge.cause), normalize_concept(edge.effect)
    if (cause, effect, edge.sign) in keys:
        return "ok", "&#10003;"
    if (cause, effect, -edge.sign) in keys:
        return "sign", "&#177;"
    return "bad", "&#10007;"


def _edge_list(edges: list[Edge], gold: CausalMap | None) -> str:
    if not edges:
        return "<em>none</em>"
    items = []
    for edge in edges:
        text = f"{esc(edge.cause)} &rarr; {esc(edge.effect)} ({sign_symbol(edge.sign)})"
        if gold is not None:
            css, symbol = _mark(edge, gold)
            text = f'<span class="{css}">{symbol} {text}</span>'
        items.append(f"<li>{text}</li>")
    return f'<ul class="edges">{"".join(items)}</ul>'


def examples_table(gold: list[CausalMap], preds: dict[str, list[CausalMap]], metrics: dict[str, Any], limit: int) -> str:
    """Sentences with gold and predicted edges side by side, worst first (lowest F1 of the last system).

    Marks are exact-match (normalised concepts): &#10003; found in gold, &#177; sign flipped, &#10007; not in gold.
    """
    systems = [s for s in metrics["systems"] if s in preds]
    by_text = {s: {p.text: p for p in preds[s]} for s in systems}
    rows = metrics["per_sentence"]
    order = sorted(range(len(gold)), key=lambda i: (rows[systems[-1]][i]["f1"], i)) if systems else []
    head = "".join(f"<th>{esc(LABELS.get(s, s))}</th>" for s in systems)
    out = [f"<table><tr><th>sentence</th><th>gold</th>{head}</tr>"]
    for i in order[:limit]:
        g = gold[i]
        cells = ""
        for s in systems:
            pred = by_text[s].get(g.text)
            f1 = rows[s][i]["f1"]
            body = _edge_list(pred.edges, g) if pred is not None else "<em>missing</em>"
            problems = (pred.meta.get("problems") or []) if pred is not None else []
            note = f'<div class="ci">{esc("; ".join(problems)[:300])}</div>' if problems else ""
            cells += f'<td><div class="ci">F1 {f1:.2f}</div>{body}{note}</td>'
        source = f'<div class="ci">{esc(g.source)}</div>' if g.source else ""
        out.append(f"<tr><td>{esc(g.text)}{source}</td><td>{_edge_list(g.edges, None)}</td>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def page(title: str, sections: list[tuple[str, str]]) -> str:
    """The whole document: a title and (heading, already-escaped HTML body) sections."""
    body = "\n".join(f"<h2>{esc(h)}</h2>\n{content}" for h, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>\n{body}\n</body></html>\n")
