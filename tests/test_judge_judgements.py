"""Judgement data: MATCH readers, fcmatch comparison JSONL round trip, clear errors on bad input."""

from __future__ import annotations

import json

import pytest

from fcmatch.data.formats import FormatError
from fcmatch.judge.judgements import (
    Comparison,
    item_id,
    read_comparisons,
    read_match_study,
    read_match_verdicts,
    sentence_of,
    write_comparisons,
)


def _study(tmp_path, verdict="Human1"):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "judgements").mkdir()
    text = "Rain increases floods."
    for labeler in ("Human1", "llama3"):
        rec = {"text": text, "causal relations": [{"src": "rain", "tgt": "floods", "direction": "increase"}],
               "meta_data": {"labeler": labeler}}
        (tmp_path / "annotations" / f"{labeler}.json").write_text(json.dumps([rec]))
    (tmp_path / "judgements" / "judge1.json").write_text(json.dumps({"0": [text, ["Human1", "llama3"], 3, verdict]}))
    return tmp_path


def test_item_ids():
    assert item_id(4, "Human6") == "4/Human6"
    assert sentence_of("4/Human6") == "4"


def test_comparison_winner_and_validation():
    c = Comparison("j", "x", "y", "B")
    assert (c.winner, c.loser) == ("y", "x")
    assert Comparison("j", "x", "y", "tie").winner is None
    with pytest.raises(ValueError, match="verdict"):
        Comparison("j", "x", "y", "C")
    with pytest.raises(ValueError, match="two different"):
        Comparison("j", "x", "x", "A")


def test_jsonl_round_trip(tmp_path):
    comps = [Comparison("j1", "1/a", "1/b", "A", "2024-05-01T12:00:00Z"), Comparison("j2", "1/b", "1/a", "tie")]
    path = tmp_path / "c.jsonl"
    write_comparisons(comps, path)
    assert read_comparisons(path, items=["1/a", "1/b"]) == comps


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"judge": "j", "a": "x"}', "expected an object with string fields"),
        ('{"judge": "j", "a": "x", "b": "y", "verdict": "maybe"}', "unknown verdict 'maybe'"),
        ('{"judge": "j", "a": "x", "b": "zz", "verdict": "A"}', "unknown item 'zz'"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "c.jsonl"
    path.write_text('{"judge": "j", "a": "x", "b": "y", "verdict": "tie"}\n' + line + "\n")
    with pytest.raises(FormatError, match=rf"c.jsonl:2: {message}"):
        read_comparisons(path, items=["x", "y"])


def test_tiny_study(tmp_path):
    data = read_match_study(_study(tmp_path))
    assert sorted(data.items) == ["3/Human1", "3/llama3"]
    assert data.judgements == [Comparison("judge1", "3/Human1", "3/llama3", "A")]
    assert data.sentences == {"3": "Rain increases floods."}


def test_unknown_verdict_names_file_and_record(tmp_path):
    with pytest.raises(FormatError, match=r"judge1.json record '0': unknown verdict 'Human9'"):
        read_match_study(_study(tmp_path, verdict="Human9"))


def test_unknown_labeler(tmp_path):
    path = tmp_path / "judge1.json"
    path.write_text(json.dumps({"0": ["s", ["Human1", "gpt9"], 1, "Tie"]}))
    with pytest.raises(FormatError, match="unknown labeler 'gpt9'"):
        read_match_verdicts(path, labelers=["Human1"])
    assert read_match_verdicts(path) == [("1", "Human1", "gpt9", "tie")]


def test_shared_match_data(shared_data):
    data = read_match_study(shared_data / "match")
    assert len(data.items) == 100 and len(data.sentences) == 10
    assert len(data.judgements) == 450
    assert sum(c.verdict == "tie" for c in data.judgements) == 60
    assert len(data.reliability) == 7 * 30
    assert len(data.problems) == 1 and "tokens." in data.problems[0]
    # every pair of the ten labelers of a sentence is judged exactly once
    for sid in data.sentences:
        pairs = {c.pair() for c in data.judgements if sentence_of(c.a) == sid}
        assert len(pairs) == 45
