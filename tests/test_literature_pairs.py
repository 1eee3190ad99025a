"""``lit pairs`` and ``lit evaluate``: markers stripped, the answer format, the split by document, metrics
computed by hand, the retrieval baseline and both commands end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fcmatch.cli import main
from fcmatch.data.instructions import read_instructions
from fcmatch.literature.document import Marker, Reference, Sentence, write_records
from fcmatch.literature.evaluate import answer_dois, score_answer, summarise
from fcmatch.literature.pairs import TEMPLATES, answer_line, make_pairs, split_documents, strip_markers


def _sentence(text: str, markers: list[tuple[str, list[str]]], doc: str = "d1", index: int = 0) -> Sentence:
    found = []
    for marker, keys in markers:
        start = text.index(marker)
        found.append(Marker(marker, start, start + len(marker), keys))
    return Sentence(doc, index, text, 0, len(text), "Intro", [k for _, ks in markers for k in ks], found)


@pytest.mark.parametrize("text,markers,expected", [
    ("Cover crops suppress weeds [1].", [("[1]", ["a"])], "Cover crops suppress weeds."),
    ("Residues reduce erosion [2–4], e.g. on slopes.", [("[2–4]", ["a"])], "Residues reduce erosion, e.g. on slopes."),
    ("Tillage raises runoff[5].", [("[5]", ["a"])], "Tillage raises runoff."),
    ("Carbon rose (Smith et al., 2020; Lee, 2019).", [("(Smith et al., 2020; Lee, 2019)", ["a", "b"])], "Carbon rose."),
    ("Carbon rose (see Smith et al., 2020).", [("Smith et al., 2020", ["a"])], "Carbon rose (see)."),
    ("Smith et al. (2020) showed that carbon rose.", [("Smith et al. (2020)", ["a"])], "Earlier work showed that carbon rose."),
    ("Weeds fall [1], [3].", [("[1]", ["a"]), ("[3]", ["b"])], "Weeds fall."),
])
def test_strip_markers(text: str, markers: list, expected: str) -> None:
    assert strip_markers(_sentence(text, markers)) == expected


def test_answer_line_and_pairs() -> None:
    refs = {("d1", "a"): Reference("a", "d1", title="Cover crops suppress weeds.", year=2020, doi="10.1234/a"),
            ("d1", "b"): Reference("b", "d1", title="Soil loss", year=None, resolved_doi="10.1234/b"),
            ("d1", "c"): Reference("c", "d1", title="No DOI here", year=2001)}
    assert answer_line(refs[("d1", "a")]) == "Cover crops suppress weeds (2020), doi:10.1234/a"
    assert answer_line(refs[("d1", "b")]) == "Soil loss (n.d.), doi:10.1234/b"
    sentences = [_sentence("Weeds fall [1], [2].", [("[1]", ["a"]), ("[2]", ["b"])], index=0),
                 _sentence("Soil is lost [1, 3].", [("[1, 3]", ["a", "c"])], index=1)]
    every = make_pairs(sentences, refs, "all", seed=0)
    assert [r.id for r in every] == ["d1:0"]
    assert every[0].output == "Cover crops suppress weeds (2020), doi:10.1234/a\nSoil loss (n.d.), doi:10.1234/b"
    assert every[0].input == "Weeds fall." and every[0].instruction in TEMPLATES and every[0].category == "cite"
    some = make_pairs(sentences, refs, "any", seed=0)
    assert [r.output for r in some][1] == "Cover crops suppress weeds (2020), doi:10.1234/a"


def test_split_by_document_is_seeded_and_keeps_both_sides() -> None:
    docs = [f"d{i}" for i in range(10)]
    assert split_documents(docs, 0.2, 0) == split_documents(docs, 0.2, 0)
    assert len(split_documents(docs, 0.2, 0)) == 2 and split_documents(docs, 0.0, 0) == set()
    assert len(split_documents(["a", "b"], 0.1, 0)) == 1 and split_documents(["a"], 0.5, 0) == set()


WORKS = {"10.1234/a": {"title": "Cover crops suppress weeds", "year": 2020}, "10.1234/b": {"title": "Soil loss", "year": 2018}}


def test_score_answer_by_hand() -> None:
    reference = "Cover crops suppress weeds (2020), doi:10.1234/a\nSoil loss (2018), doi:10.1234/b"
    prediction = ("Cover crops suppress weeds (2020), doi:10.1234/a\nA made-up study (2019), doi:10.9999/fake\n"
                  "Soil loss (2017), doi:10.1234/b\nbroken doi:10.12/x")
    row = score_answer(prediction, reference, WORKS)
    assert row["given"] == ["10.1234/a", "10.9999/fake", "10.1234/b", "10.12/x"]
    assert row["any_of"] and row["all_of"]
    assert (row["recall@1"], row["recall@3"]) == (0.5, 1.0)
    assert row["hallucinated"] == ["10.9999/fake", "10.12/x"]  # unknown, malformed
    assert (row["checked_lines"], row["consistent_lines"]) == (2, 1)  # the 2017 is the wrong year
    empty = score_answer("I do not know.", reference, WORKS)
    summary = summarise([row, empty])
    assert summary["any_of"] == 0.5 and summary["recall@1"] == 0.25 and summary["hallucinated_doi_rate"] == 0.5
    assert summary["answers_with_hallucination"] == 0.5 and summary["answers_without_doi"] == 0.5
    assert summary["title_year_consistency"] == 0.5
    assert answer_dois("doi: 10.1234/A. and https://doi.org/10.1234/b") == ["10.1234/a", "10.1234/b"]


def _parsed(tmp_path: Path) -> Path:
    """A parse folder: two documents citing the same two works, in sentences about the same topics."""
    out = tmp_path / "parsed"
    out.mkdir()
    sentences, refs = [], []
    for d, doc in enumerate(["alpha", "beta", "gamma"]):
        refs += [Reference("r1", doc, "1", ["Smith"], "Cover crops suppress weeds", 2020, doi="10.1234/a"),
                 Reference("r2", doc, "2", ["Lee"], "Soil loss under tillage", 2018, doi="10.1234/b")]
        for i, (text, key) in enumerate([(f"Cover crops of type {d} suppressed weeds in maize [1].", "r1"),
                                         (f"Tillage of kind {d} increased soil loss on slopes [2].", "r2")]):
            sentences.append(_sentence(text, [(text[text.index("["):text.index("]") + 1], [key])], doc, i))
    write_records(sentences, out / "sentences.jsonl")
    write_records(refs, out / "references.jsonl")
    return out


def test_pairs_and_evaluate_commands(tmp_path: Path) -> None:
    parsed = _parsed(tmp_path)
    pairs = tmp_path / "pairs"
    assert main(["lit", "pairs", str(parsed), "--out-dir", str(pairs), "--test-fraction", "0.34"]) == 0
    train, test = read_instructions(pairs / "train.json"), read_instructions(pairs / "test.json")
    assert len(train) == 4 and len(test) == 2
    assert {r.id.split(":")[0] for r in train}.isdisjoint({r.id.split(":")[0] for r in test})
    assert (pairs / "config.yaml").is_file() and len((pairs / "works.jsonl").read_text().splitlines()) == 2
    base = tmp_path / "base.jsonl"
    base.write_text("".join(json.dumps({"id": r.id, "prediction": "Weeds (2020), doi:10.5555/made.up"}) + "\n"
                            for r in test))
    out = tmp_path / "scores.json"
    assert main(["lit", "evaluate", str(pairs), "--predictions", str(base), "--out", str(out), "--k", "1"]) == 0
    systems = json.loads(out.read_text())["systems"]
    assert systems["retrieval"]["any_of"] == 1.0 and systems["retrieval"]["hallucinated_doi_rate"] == 0.0
    assert systems["base"]["any_of"] == 0.0 and systems["base"]["hallucinated_doi_rate"] == 1.0
    assert (tmp_path / "scores.retrieval.jsonl").is_file() and (tmp_path / "scores.config.yaml").is_file()
    base.write_text(json.dumps({"id": test[0].id, "prediction": ""}) + "\n")
    assert main(["lit", "evaluate", str(pairs), "--predictions", str(base), "--out", str(out), "--no-baseline"]) == 1
