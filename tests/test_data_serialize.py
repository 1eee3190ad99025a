"""The canonical serialisation round-trips exactly; the lenient parser reads drifted model output and never raises."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcmatch.data import Edge, ParseError, format_edges, parse_edges, parse_lenient
from fcmatch.data.causal_map import clean_concept

# concepts full of the format's own syntax: arrows, signs, brackets, quotes, backslashes, commas, unicode
tricky = st.text(
    alphabet=st.sampled_from(list("ab ->()+-\\\"',[]{}:;|é漢\u2192\n\t")) | st.characters(codec="utf-8"),
    min_size=1,
    max_size=30,
).filter(lambda s: clean_concept(s) != "")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(tricky, tricky, st.sampled_from([1, -1])), max_size=6))
def test_round_trip_is_exact(triples):
    edges = [Edge(c, e, s) for c, e, s in triples]
    text = format_edges(edges)
    assert parse_edges(text) == edges
    assert "\n" not in "".join(format_edges([e]) for e in edges)  # one edge per line, always


def test_format_is_one_edge_per_line_and_none_when_empty():
    edges = [Edge("fertiliser use", "crop yield", 1), Edge("drought", "crop yield", -1)]
    assert format_edges(edges) == "fertiliser use -> crop yield (+)\ndrought -> crop yield (-)"
    assert format_edges([]) == "none"
    assert parse_edges("none\n") == []


def test_arrows_and_backslashes_inside_concepts_are_escaped():
    edge = Edge("a -> b", "c \\ d (+)", -1)
    assert format_edges([edge]) == "a -\\> b -> c \\\\ d (+) (-)"
    assert parse_edges(format_edges([edge])) == [edge]


def test_strict_parser_names_the_bad_line():
    with pytest.raises(ParseError, match="line 2"):
        parse_edges("a -> b (+)\na -> b")


def test_lenient_parser_handles_drift_and_reports_problems():
    text = (
        "Here are the causal relations:\n"
        "1. rainfall -> runoff (+)\n"
        "- grazing pressure → vegetation cover (negative)\n"
        "rainfall -> runoff (+)\n"
        "income -> school attendance: increase\n"
        "prices -> demand (maybe)\n"
        "soil erosion -> crop yi"
    )
    result = parse_lenient(text)
    assert result.edges == [
        Edge("rainfall", "runoff", 1),
        Edge("grazing pressure", "vegetation cover", -1),
        Edge("income", "school attendance", 1),
    ]
    problems = "\n".join(result.problems)
    assert "line 1: not an edge" in problems
    assert "line 4: repeated edge" in problems
    assert "line 6: unknown sign 'maybe'" in problems
    assert "line 7: cut-off last line" in problems
    assert not result.ok


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_lenient_parser_never_raises(text):
    result = parse_lenient(text)
    assert all(isinstance(e, Edge) for e in result.edges)


def test_lenient_parser_reads_canonical_output_without_problems():
    result = parse_lenient("none")
    assert result.edges == [] and result.ok
    result = parse_lenient("a -> b (+)\nc -> d (-)\n")
    assert len(result.edges) == 2 and result.ok
    assert parse_lenient(None).problems  # type: ignore[arg-type]
