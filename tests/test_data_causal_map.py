"""The causal-map data model: signs, concept cleaning/normalisation, duplicates."""

import pytest

from fcmatch.data import CausalMap, Edge, SignError, clean_concept, normalize_concept, parse_sign


@pytest.mark.parametrize(
    ("spelling", "sign"),
    [("Positive", 1), ("Negative", -1), ("positive", 1), ("negative", -1), ("increase", 1), ("decrease", -1),
     ("Increase", 1), ("Decrease", -1), ("+", 1), ("-", -1), (" Positive ", 1), (1, 1), (-1, -1)],
)
def test_every_spelling_in_the_real_data_maps_to_a_sign(spelling, sign):
    assert parse_sign(spelling) == sign


@pytest.mark.parametrize("bad", ["tokens.", "", "neutral", 0, 2, None, True])
def test_unknown_sign_names_value_and_place(bad):
    with pytest.raises(SignError) as err:
        parse_sign(bad, "annotations/mistral.json record 5")
    assert repr(bad) in str(err.value)
    assert "mistral.json record 5" in str(err.value)


def test_clean_and_normalize_are_different_jobs():
    assert clean_concept("  Crop\n  Yield ") == "Crop Yield"
    assert normalize_concept("Crop  Yield.") == normalize_concept("crop yield") == "crop yield"
    assert normalize_concept("“soil-moisture”") == "soil moisture"


def test_edge_cleans_and_rejects_empty_concepts():
    assert Edge(" rain\tfall ", "runoff", "increase") == Edge("rain fall", "runoff", 1)
    with pytest.raises(ValueError, match="non-empty"):
        Edge("  ", "runoff", 1)


def test_dedupe_drops_only_exact_duplicates_after_normalisation():
    cmap = CausalMap(
        "s",
        [Edge("Rain", "runoff", 1), Edge("rain.", "Runoff", 1), Edge("rain", "runoff", -1), Edge("runoff", "rain", 1)],
    )
    assert cmap.dedupe() == 1
    assert [e.sign for e in cmap.edges] == [1, -1, 1]
    assert cmap.concepts == ["Rain", "runoff"]
