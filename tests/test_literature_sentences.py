"""Sentence splitting on the abbreviations, numbers and citation markers of scholarly prose."""

from __future__ import annotations

import pytest

from fcmatch.literature.sentences import sentence_spans, split_sentences

TWO_SENTENCES = [
    ("Smith et al. showed that cover crops suppress weeds [12].", "This was confirmed (Jones et al., 2020)."),
    ("Some treatments, e.g. mulching, reduce erosion.", "Others, i.e. tillage, increase it."),
    ("As shown in Fig. 2, yield rose by 3.5% in 2019.", "The effect vs. control was large."),
    ("Dr. Brown and Prof. Lee et al. disagree.", "See Eq. 3 and Table 1."),
    ("The rate was 0.05 mg/kg (p < 0.01).", "Values ranged from 1.2 to 3.4 in Sect. 4.1 of the report."),
    ("Previous work [3-5] found no effect.", "However, Smith (2019) did."),
    ("Weeds were removed (Smith et al. 2019).", "Yields rose."),
    ("This is known (e.g. Smith 2019; Jones 2020).", "It holds in Figs. 3 and 4."),
    ("Growth was approx. 12 cm per year, ca. 30% faster in the U.S. than elsewhere.", "No. 5 was the outlier."),
    ("The mean was 3.5.", "The median was lower."),
    ("Lysis time was measured (Fig. 3A).", "Its variance fell."),
    ("Plants were grown at 25 °C, cf. Table 2.", "All seeds germinated."),
    ("Data were analysed in R (version 3.4.1; R Core Team, 2017).", "Results follow."),
]


@pytest.mark.parametrize("first,second", TWO_SENTENCES)
def test_hard_cases_split_into_the_two_sentences(first: str, second: str) -> None:
    assert split_sentences(f"{first} {second}") == [first, second]


def test_spans_are_offsets_without_surrounding_whitespace() -> None:
    text = "  Cover crops help [1].\n  Weeds fall.  "
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["Cover crops help [1].", "Weeds fall."]


def test_a_line_break_inside_a_sentence_does_not_end_it() -> None:
    assert split_sentences("Cover crops suppress\nweeds in maize. Yields rose.") == [
        "Cover crops suppress\nweeds in maize.", "Yields rose."]


def test_blank_text_has_no_sentences() -> None:
    assert sentence_spans("   \n ") == []
