"""Each reader of the reference study's formats on its tiny file in tests/data/fewshot."""

from pathlib import Path

import pytest

from fcmatch.fewshot.readers import (
    ReaderError,
    bytes_literal,
    read_cola,
    read_cola_ood,
    read_hans,
    read_mnli,
    read_paws_qqp,
    read_qqp,
    read_rte,
)

DATA = Path(__file__).parent / "data" / "fewshot"


def test_rte_keeps_quotes_and_maps_labels():
    records = read_rte(DATA / "rte.tsv")
    assert [r.label for r in records] == ["no", "yes"]
    assert '"antibiotics"' in records[1].text1 and records[1].meta["gold"] == "entailment"


def test_mnli_neutral_dropped_or_merged():
    assert [r.label for r in read_mnli(DATA / "mnli.tsv")] == ["yes", "no"]
    merged = read_mnli(DATA / "mnli.tsv", neutral="merge")
    assert [r.label for r in merged] == ["yes", "no", "no"] and merged[1].meta["genre"] == "fiction"
    with pytest.raises(ValueError, match="neutral"):
        read_mnli(DATA / "mnli.tsv", neutral="keep")


def test_qqp():
    records = read_qqp(DATA / "qqp.tsv")
    assert [(r.text1, r.label) for r in records] == [("How do I learn Python?", "yes"), ("Why is the sky blue?", "no")]


def test_cola_and_cola_ood_are_headerless_single_texts():
    cola, ood = read_cola(DATA / "cola.tsv"), read_cola_ood(DATA / "cola_ood.tsv")
    assert [(r.text2, r.label, r.meta["mark"]) for r in cola] == [(None, "yes", ""), (None, "no", "*")]
    assert ood[0].text1 == "The book was by John written." and ood[0].label == "no"


def test_hans_keeps_heuristic_and_subcase():
    records = read_hans(DATA / "hans.tsv")
    assert [(r.label, r.meta["heuristic"], r.meta["subcase"]) for r in records] == [
        ("no", "lexical_overlap", "ln_subject/object_swap"), ("yes", "subsequence", "se_conjunction")]


def test_paws_bytes_literals_decoded_safely():
    records = read_paws_qqp(DATA / "paws_qqp.tsv")
    assert records[0].text2 == "What's France's capital?" and records[1].text1 == "Café or tea?"
    assert [r.label for r in records] == ["yes", "no"]
    with pytest.raises(ReaderError, match="x.tsv:3"):
        bytes_literal("b'__import__(\"os\")' + b''", "x.tsv:3")


def test_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "rte.tsv"
    bad.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(ReaderError, match=r"rte.tsv:2: unknown label 'maybe'"):
        read_rte(bad)
    cola = tmp_path / "cola.tsv"
    cola.write_text("src\t1\t\tfine.\nsrc\t1\tonly three\n")
    with pytest.raises(ReaderError, match=r"cola.tsv:2: CoLA rows have 4 columns"):
        read_cola(cola)
