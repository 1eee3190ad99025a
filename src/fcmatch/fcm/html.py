"""The interactive view of a corpus map: one HTML page, no CDN and no JS library.

Positions come from networkx's spring layout on the server; about fifty lines of plain JavaScript
(:data:`SCRIPT`) draw the SVG, filter edges by source and minimum |weight|, and list an edge's evidence
(sentence, document, sign, source) when it is clicked. The exported file inlines the script and style so
it opens from disk; the web app links them as files instead (``assets=...``), because its
Content-Security-Policy forbids inline script and style.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from fcmatch.data.formats import atomic_write
from fcmatch.fcm.corpus import CorpusMap

SCRIPT = """
const D = JSON.parse(document.getElementById('data').textContent);
const svg = document.getElementById('map'), NS = 'http://www.w3.org/2000/svg';
const src = document.getElementById('source'), wmin = document.getElementById('wmin');
D.sources.forEach(s => { const o = document.createElement('option'); o.value = o.textContent = s; src.appendChild(o); });
function el(tag, attrs) { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; }
function show(edge) {
  const box = document.getElementById('evidence');
  box.innerHTML = '';
  const h = document.createElement('h3');
  h.textContent = `${D.nodes[edge.cause].name} -> ${D.nodes[edge.effect].name}  (weight ${edge.weight.toFixed(2)}, +${edge.positive} / -${edge.negative})`;
  box.appendChild(h);
  edge.evidence.forEach(v => {
    const p = document.createElement('p');
    p.textContent = `[${v.sign}] ${v.source}${v.document ? ' / ' + v.document : ''}: "${v.cause}" -> "${v.effect}" in: ${v.sentence}`;
    box.appendChild(p);
  });
}
function draw() {
  svg.innerHTML = '';
  const m = parseFloat(wmin.value), s = src.value;
  document.getElementById('wval').textContent = m.toFixed(2);
  const used = new Set();
  D.edges.forEach(e => {
    if (Math.abs(e.weight) < m) return;
    if (s && !e.evidence.some(v => v.source === s)) return;
    const a = D.nodes[e.cause], b = D.nodes[e.effect];
    used.add(e.cause); used.add(e.effect);
    const line = el('line', {x1: a.x, y1: a.y, x2: b.x, y2: b.y, 'marker-end': 'url(#arrow)',
      stroke: e.weight >= 0 ? '#2e7d32' : '#c62828', 'stroke-width': 1 + 4 * Math.abs(e.weight),
      'stroke-dasharray': e.conflict ? '6 4' : ''});
    line.style.cursor = 'pointer';
    line.addEventListener('click', () => show(e));
    svg.appendChild(line);
  });
  for (const id in D.nodes) {
    if (!used.has(id)) continue;
    const n = D.nodes[id];
    svg.appendChild(el('circle', {cx: n.x, cy: n.y, r: 4 + Math.sqrt(n.count), fill: '#dbe7f3', stroke: '#4a6d8c'}));
    const t = el('text', {x: n.x + 6, y: n.y - 6, 'font-size': 11}); t.textContent = n.name; svg.appendChild(t);
  }
}
src.addEventListener('change', draw); wmin.addEventListener('input', draw); draw();
"""

STYLE = """body{font-family:sans-serif;margin:1em}#evidence p{font-size:13px;border-left:3px solid #ccc;
padding-left:6px}svg{border:1px solid #ddd;background:#fff}
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
{style}</head>
<body><h1>{title}</h1>
<p>{summary}. Green: positive, red: negative, dashed: evidence with both signs. Click an edge for its evidence.</p>
<label>Source <select id="source"><option value="">all</option></select></label>
<label>min |weight| <input id="wmin" type="range" min="0" max="1" step="0.05" value="{min_weight}">
<span id="wval"></span></label>
<div><svg id="map" width="{size}" height="{size}" viewBox="0 0 {size} {size}"><defs><marker id="arrow"
viewBox="0 0 10 10" refX="14" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z"
fill="#555"/></marker></defs></svg></div>
<div id="evidence"></div>
<script type="application/json" id="data">{data}</script>
{script}</body></html>
"""

SIZE = 900


def page_data(corpus: CorpusMap) -> dict:
    """Node positions (pixels), names and counts; edges with weight, counts and evidence; the sources."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(corpus.concepts)
    g.add_edges_from((e.cause, e.effect) for e in corpus.edges)
    pos = nx.spring_layout(g, seed=0, k=2.0 / max(len(g), 1) ** 0.5) if len(g) else {}
    margin = 60

    def px(v: float) -> float:
        return round(margin + (v + 1) / 2 * (SIZE - 2 * margin), 1)

    nodes = {c.id: {"name": c.name, "count": c.count, "x": px(pos[c.id][0]), "y": px(pos[c.id][1])}
             for c in corpus.concepts.values()}
    edges = [{"cause": e.cause, "effect": e.effect, "weight": e.weight(corpus.weight_prior),
              "positive": e.positive, "negative": e.negative, "conflict": e.conflict,
              "evidence": [v.to_dict() for v in e.evidence]} for e in corpus.edges]
    return {"nodes": nodes, "edges": edges, "sources": corpus.sources()}


def render_html(corpus: CorpusMap, min_weight: float = 0.0, title: str = "Corpus causal map",
                assets: str | None = None) -> str:
    """The page as a string.

    Args:
        corpus: the corpus map.
        min_weight: the initial position of the minimum-|weight| slider.
        title: the page title.
        assets: None inlines :data:`SCRIPT` and :data:`STYLE`; a URL prefix links ``{assets}/fcm.js`` and
            ``{assets}/fcm.css`` instead (for a page served under a Content-Security-Policy).
    """
    # "<" escaped as \u003c: no sentence can close the data block or open a comment inside it
    data = json.dumps(page_data(corpus), ensure_ascii=False).replace("<", "\\u003c")
    m = corpus.meta
    summary = (f"{len(corpus.concepts)} concepts, {len(corpus.edges)} edges from "
               f"{m.get('sentences', '?')} sentences ({m.get('conflicting_edges', 0)} edges with conflicting signs)")
    if assets is None:
        style, script = f"<style>{STYLE}</style>", f"<script>{SCRIPT}</script>"
    else:
        base = html.escape(assets.rstrip("/"))
        style = f'<link rel="stylesheet" href="{base}/fcm.css">'
        script = f'<script src="{base}/fcm.js"></script>'
    return _PAGE.format(title=html.escape(title), summary=html.escape(summary), min_weight=float(min_weight),
                        size=SIZE, data=data, style=style, script=script)


def write_html(corpus: CorpusMap, path: str | os.PathLike, min_weight: float = 0.0) -> Path:
    """The self-contained page (script and style inline) at ``path``."""
    with atomic_write(path) as handle:
        handle.write(render_html(corpus, min_weight))
    return Path(path)
