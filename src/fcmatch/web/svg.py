"""Server-side SVG drawing of a small causal map, for the judge page (no JavaScript graph library).

Layout: concepts are put in layers by longest path from a root (a cycle is cut at the edge that closes
it), layers run top to bottom, nodes of a layer sit side by side. Positive edges are solid teal with
"+", negative edges dashed red with "−", so the sign reads without colour too. Every string drawn is
escaped here; the result is ``Markup`` so that Jinja does not escape the SVG tags a second time.
"""

from __future__ import annotations

import textwrap
from html import escape

from markupsafe import Markup

from fcmatch.data.causal_map import Edge

NODE_W, LINE_H, PAD = 150, 15, 8  # px; 150 px holds ~21 characters of 12 px sans-serif
GAP_X, GAP_Y = 16, 58
WRAP, MAX_LINES = 21, 3
COLORS = {1: "#1f7a6d", -1: "#c0392b"}


def _layers(nodes: list[str], edges: list[Edge]) -> dict[str, int]:
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        succ[e.cause].append(e.effect)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()

    def visit(n: str) -> None:  # DFS marks edges that close a cycle, so the rest is acyclic
        state[n] = 1
        for m in succ[n]:
            if state.get(m) == 1:
                back.add((n, m))
            elif m not in state:
                visit(m)
        state[n] = 2

    for n in nodes:
        if n not in state:
            visit(n)
    layer = {n: 0 for n in nodes}
    for _ in nodes:  # longest path by relaxation; at most len(nodes) rounds on a DAG
        changed = False
        for e in edges:
            if (e.cause, e.effect) not in back and e.cause != e.effect and layer[e.effect] < layer[e.cause] + 1:
                layer[e.effect] = layer[e.cause] + 1
                changed = True
        if not changed:
            break
    return layer


def _label(text: str) -> list[str]:
    lines = textwrap.wrap(text, WRAP, break_long_words=True) or [""]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][: WRAP - 1].rstrip() + "…"
    return lines


def draw_map(edges: list[Edge], max_per_row: int = 3) -> Markup:
    """An SVG drawing of a causal map.

    Args:
        edges: the map's edges (concepts are compared in display form).
        max_per_row: nodes side by side before a layer wraps onto another row.

    Returns:
        ``<svg>`` markup scaled to its container's width, or a short note for an empty map.
    """
    if not edges:
        return Markup('<p class="empty">(no causal relations)</p>')
    nodes: list[str] = []
    for e in edges:
        for n in (e.cause, e.effect):
            if n not in nodes:
                nodes.append(n)
    layer = _layers(nodes, edges)
    rows: list[list[str]] = []
    for k in range(max(layer.values()) + 1):
        members = [n for n in nodes if layer[n] == k]
        rows += [members[i : i + max_per_row] for i in range(0, len(members), max_per_row)]
    width = max(len(r) for r in rows) * (NODE_W + GAP_X) + GAP_X
    labels = {n: _label(n) for n in nodes}
    pos: dict[str, tuple[float, float, float]] = {}  # centre x, top y, height
    y = 12.0
    for row in rows:
        height = max(len(labels[n]) for n in row) * LINE_H + 2 * PAD
        x0 = (width - len(row) * (NODE_W + GAP_X) + GAP_X) / 2
        for i, n in enumerate(row):
            pos[n] = (x0 + i * (NODE_W + GAP_X) + NODE_W / 2, y, height)
        y += height + GAP_Y
    total_h = y - GAP_Y + 12
    out = [
        f'<svg class="map" viewBox="0 0 {width:.0f} {total_h:.0f}" width="{width:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="causal map drawing">',
        "<defs>",
        *(
            f'<marker id="arr{s}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
            for s, c in (("p", COLORS[1]), ("n", COLORS[-1]))
        ),
        "</defs>",
    ]
    for k, e in enumerate(edges):
        (cx, cy, ch), (ex, ey, _eh) = pos[e.cause], pos[e.effect]
        color, marker = COLORS[e.sign], "arrp" if e.sign > 0 else "arrn"
        dash = "" if e.sign > 0 else ' stroke-dasharray="6 4"'
        if ey > cy:  # downward: bottom of cause to top of effect
            x1, y1, x2, y2 = cx, cy + ch, ex, ey
            # the sign sits 40% along the edge, so crossing edges keep their signs apart
            mx, my = x1 + 0.4 * (x2 - x1), y1 + 0.4 * (y2 - y1)
            path = f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"
        else:  # same row, upward or self loop: a curve out to the side so it does not cross the boxes
            x1, y1 = cx + NODE_W / 2, cy + ch / 2
            x2, y2 = ex + NODE_W / 2, ey + 6
            bend = 40 + 10 * (k % 3)
            mx, my = max(x1, x2) + bend, (y1 + y2) / 2
            path = f"M{x1:.1f},{y1:.1f} Q{mx + bend:.1f},{my:.1f} {x2:.1f},{y2:.1f}"
            mx -= bend / 2
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"{dash} marker-end="url(#{marker})"/>')
        symbol = "+" if e.sign > 0 else "−"
        out.append(
            f'<circle cx="{mx:.1f}" cy="{my:.1f}" r="9" fill="#fff" stroke="{color}"/>'
            f'<text x="{mx:.1f}" y="{my + 4.5:.1f}" text-anchor="middle" class="sign" fill="{color}">{symbol}</text>'
        )
    for n in nodes:
        x, top, height = pos[n]
        out.append(f'<g class="node"><title>{escape(n)}</title>')
        out.append(f'<rect x="{x - NODE_W / 2:.1f}" y="{top:.1f}" width="{NODE_W}" height="{height}" rx="6"/>')
        first = top + PAD + LINE_H - 3 + (height - 2 * PAD - len(labels[n]) * LINE_H) / 2
        for i, line in enumerate(labels[n]):
            out.append(f'<text x="{x:.1f}" y="{first + i * LINE_H:.1f}" text-anchor="middle">{escape(line)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def draw_scores(rows: list[tuple[str, float, float]], width: int = 420) -> Markup:
    """A horizontal dot-and-error-bar chart of scores.

    Args:
        rows: ``(label, score, half width of the error bar)``, drawn top to bottom in the given order.
        width: pixels of the drawing.

    Returns:
        ``<svg>`` markup; labels are escaped.
    """
    label_w, row_h, pad = 110, 20, 10
    lo = min((s - h for _, s, h in rows), default=-1.0)
    hi = max((s + h for _, s, h in rows), default=1.0)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    span = (hi - lo) or 1.0
    plot = width - label_w - 2 * pad

    def x(v: float) -> float:
        return label_w + pad + (v - lo) / span * plot

    height = len(rows) * row_h + 2 * pad
    out = [
        f'<svg class="bt" viewBox="0 0 {width} {height}" width="{width}" xmlns="http://www.w3.org/2000/svg" '
        'role="img" aria-label="Bradley-Terry scores with 95% error bars">',
        f'<line class="zero" x1="{x(0):.1f}" y1="{pad / 2}" x2="{x(0):.1f}" y2="{height - pad / 2}"/>',
    ]
    for k, (label, score, half) in enumerate(rows):
        y = pad + k * row_h + row_h / 2
        out.append(f'<text x="{label_w - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<line class="bar" x1="{x(score - half):.1f}" y1="{y:.1f}" x2="{x(score + half):.1f}" y2="{y:.1f}"/>')
        out.append(f'<circle cx="{x(score):.1f}" cy="{y:.1f}" r="4"><title>{escape(label)}: {score:+.2f} ± {half:.2f}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))
