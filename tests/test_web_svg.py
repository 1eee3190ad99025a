"""SVG drawing of causal maps for the judge page: escaping and signs."""

from __future__ import annotations

from fcmatch.data.causal_map import Edge
from fcmatch.web.svg import draw_map


def test_svg_escapes_concepts_and_shows_signs():
    svg = str(draw_map([Edge("<b>rain</b> & \"drought\"", "yield", -1), Edge("yield", "income", 1), Edge("income", "yield", 1)]))
    assert "<b>" not in svg and "&lt;b&gt;rain&lt;/b&gt; &amp; &quot;drought&quot;" in svg
    assert svg.count("<rect") == 3 and "−" in svg and "+" in svg  # a cycle is drawn, not looped forever
    assert "no causal relations" in str(draw_map([]))
