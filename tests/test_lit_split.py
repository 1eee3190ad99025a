"""``lit pairs --split sentence``: held-out sentences cite only works that training sentences cite too,
one input text never on both sides, seeded; the command writes both splits."""

from __future__ import annotations

from pathlib import Path

from fcmatch.cli import main
from fcmatch.data.instructions import Instruction, read_instructions
from fcmatch.literature.pairs import split_sentences


def _record(n: int, text: str, *dois: str) -> Instruction:
    return Instruction("Cite.", text, "\n".join(f"W{d} (2020), doi:{d}" for d in dois), "cite", f"d{n % 2}:{n}")


RECORDS = [
    _record(0, "a", "10.1/x"), _record(1, "b", "10.1/x"), _record(2, "c", "10.1/x", "10.1/y"),
    _record(3, "d", "10.1/y"), _record(4, "e", "10.1/z"),            # z: cited once, never held out
    _record(5, "a", "10.1/x"), _record(6, "f", "10.1/y"), _record(7, "g", "10.1/x"),
]


def _check(test: set[str]) -> None:
    train = [r for r in RECORDS if r.id not in test]
    seen = {line.rsplit("doi:", 1)[1] for r in train for line in r.output.splitlines()}
    held = [r for r in RECORDS if r.id in test]
    assert all(line.rsplit("doi:", 1)[1] in seen for r in held for line in r.output.splitlines())
    assert {r.input for r in held}.isdisjoint({r.input for r in train})


def test_held_out_sentences_cite_seen_works():
    for seed in range(20):
        test = split_sentences(RECORDS, 0.5, seed)
        _check(test)
        assert 1 <= len(test) <= 4 and "d0:4" not in test
        assert test == split_sentences(RECORDS, 0.5, seed)
    assert split_sentences(RECORDS, 0.0, 0) == set()
    # the hand-checkable case: two records of one work, half held out -> exactly one in test
    assert len(split_sentences([_record(0, "a", "10.1/x"), _record(1, "b", "10.1/x")], 0.5, 0)) == 1


def test_pairs_command_sentence_split(tmp_path: Path):
    from test_literature_pairs import _parsed

    parsed = _parsed(tmp_path)
    pairs = tmp_path / "pairs"
    assert main(["lit", "pairs", str(parsed), "--out-dir", str(pairs), "--split", "sentence",
                 "--test-fraction", "0.5"]) == 0
    train, test = read_instructions(pairs / "train.json"), read_instructions(pairs / "test.json")
    dois = {line.rsplit("doi:", 1)[1] for r in train for line in r.output.splitlines()}
    assert all(line.rsplit("doi:", 1)[1] in dois for r in test for line in r.output.splitlines())
    assert {r.id for r in train}.isdisjoint({r.id for r in test})
    assert "split: sentence" in (pairs / "config.yaml").read_text()


def test_summary_intervals_by_hand():
    from fcmatch.literature.evaluate import summarise

    def row(any_of, hallucinated, given):
        return {"any_of": any_of, "all_of": any_of, **{f"recall@{k}": any_of for k in (1, 3, 5, 10)},
                "gold": ["g"], "given": given, "hallucinated": hallucinated, "checked_lines": 0, "consistent_lines": 0}

    same = summarise([row(1.0, [], ["g"])] * 4)
    assert same["ci"]["any_of"] == [1.0, 1.0] and same["ci"]["hallucinated_doi_rate"] == [0.0, 0.0]
    mixed = summarise([row(1.0, [], ["g"]), row(0.0, ["x", "y"], ["x", "y"]), row(0.0, [], [])] * 5)
    assert mixed["hallucinated_doi_rate"] == 2 / 3
    lo, hi = mixed["ci"]["hallucinated_doi_rate"]
    assert 0 <= lo < 2 / 3 < hi <= 1
    lo, hi = mixed["ci"]["any_of"]
    assert lo < 1 / 3 < hi
