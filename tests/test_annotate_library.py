"""The annotation library without a database: reading sentences, assignment with overlap, the
editor's document, suggestion outcomes, agreement numbers (hand-computed) and ordering."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from fcmatch.annotate.agreement import agreement_report, cohen_kappa, matched_sign_pairs
from fcmatch.annotate.annotation import AnnotationError, parse_annotation
from fcmatch.annotate.assignment import plan_assignments
from fcmatch.annotate.ordering import model_disagreement, model_uncertainty, priorities
from fcmatch.annotate.sentences import read_sentences
from fcmatch.annotate.suggestions import outcome_rates, suggestion_outcomes
from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.data.formats import FormatError


def test_read_sentences_from_text_csv_and_jsonl(tmp_path):
    txt = tmp_path / "s.txt"
    txt.write_text("Rain  increases yield.\n\nHeat lowers yield.\nRain increases yield.\n", encoding="utf-8")
    assert [s.text for s in read_sentences(txt)] == ["Rain increases yield.", "Heat lowers yield."]

    csv_path = tmp_path / "s.csv"
    csv_path.write_text("id,sentence,source\n1,Taxes cut demand.,econ\n2,Heat lowers yield.,agri\n", encoding="utf-8")
    records = read_sentences(csv_path)
    assert [(s.text, s.source) for s in records] == [("Taxes cut demand.", "econ"), ("Heat lowers yield.", "agri")]
    with pytest.raises(FormatError, match="no column 'body'"):
        read_sentences(csv_path, column="body")

    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text(
        json.dumps({"text": "A raises B.", "edges": [], "source": "x", "meta": {"id": 7, "raw": "r"}}) + "\n"
    )
    (record,) = read_sentences(jsonl)
    assert (record.text, record.source, record.meta) == ("A raises B.", "x", {"id": 7})


def test_read_sentences_rejects_empty_input(tmp_path):
    empty = tmp_path / "e.txt"
    empty.write_text("\n  \n")
    with pytest.raises(FormatError, match="no sentences"):
        read_sentences(empty)


def test_assignment_overlap_and_balance():
    sentences = list(range(50))
    plan = plan_assignments(sentences, ["a", "b", "c"], overlap=0.2, redundancy=2, seed=3)
    per_sentence = Counter(s for assigned in plan.values() for s in assigned)
    assert set(per_sentence) == set(sentences)
    assert Counter(per_sentence.values()) == {1: 40, 2: 10}  # 20% of 50 done twice
    loads = [len(v) for v in plan.values()]
    assert max(loads) - min(loads) <= 1 and sum(loads) == 60
    assert plan == plan_assignments(sentences, ["a", "b", "c"], overlap=0.2, redundancy=2, seed=3)
    assert all(v == sorted(v) for v in plan.values())
    # the overlapping sentences are spread over different pairs, not always the same two people
    pairs = {tuple(sorted(a for a, v in plan.items() if s in v)) for s, n in per_sentence.items() if n == 2}
    assert len(pairs) >= 2


def test_assignment_second_round_keeps_loads_even():
    plan = plan_assignments([1, 2, 3], ["a", "b"], overlap=0.0, load={"a": 5, "b": 0})
    assert plan == {"a": [], "b": [1, 2, 3]}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"annotators": []}, "invite"),
        ({"overlap": 1.5}, "--overlap"),
        ({"redundancy": 1}, "--redundancy"),
        ({"redundancy": 3}, "at least 3 annotators"),
    ],
)
def test_assignment_rejects_bad_settings(kwargs, message):
    args = {"sentences": list(range(10)), "annotators": ["a", "b"], "overlap": 0.5, "redundancy": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        plan_assignments(**args)


def test_parse_annotation_validates_and_keeps_half_typed_rows_as_draft():
    payload = {
        "edges": [
            {"cause": " rain ", "effect": "yield", "sign": "+", "confidence": "high", "origin": 0},
            {"cause": "heat", "effect": "", "sign": "-"},
            {"cause": "", "effect": ""},
        ],
        "rejected": [1, 1],
        "flag": "",
        "status": "draft",
    }
    doc = parse_annotation(payload, n_suggestions=2)
    # the draft keeps the half-typed row (autosave runs while people type); the map has only real edges
    assert [(e.cause, e.effect, e.sign) for e in doc.edges] == [("rain", "yield", 1), ("heat", "", -1), ("", "", 1)]
    assert [(e.cause, e.effect) for e in doc.causal_map("s").edges] == [("rain", "yield")]
    assert doc.rejected == [1] and doc.status == "draft"
    with pytest.raises(AnnotationError, match="edge 2 has no effect yet"):  # "Done" with a half-typed row
        parse_annotation({**payload, "status": "done"}, n_suggestions=2)
    payload["edges"] = payload["edges"][:1] + payload["edges"][2:]
    done = parse_annotation({**payload, "status": "done"}, n_suggestions=2)
    assert [(e.cause, e.effect, e.sign, e.confidence, e.origin) for e in done.edges] == [("rain", "yield", 1, "high", 0)]
    assert done.status == "done"  # an empty row is dropped on "Done"
    for bad, field in [
        ({"edges": [{"cause": "a", "effect": "b", "sign": "up"}]}, "sign"),
        ({"edges": [{"cause": "a", "effect": "b", "origin": 5}]}, "origin"),
        ({"flag": "maybe"}, "flag"),
        ({"edges": [{"cause": "a" * 301, "effect": "b"}]}, "longer"),
        ([], "object"),
    ]:
        with pytest.raises(AnnotationError, match=field):
            parse_annotation(bad, n_suggestions=2)


def test_no_claim_flag_exports_an_empty_map():
    doc = parse_annotation({"edges": [{"cause": "a", "effect": "b"}], "flag": "no_claim"})
    cmap = doc.causal_map("A sentence.")
    assert cmap.edges == [] and cmap.meta["flag"] == "no_claim"


def test_suggestion_outcomes_and_rates():
    suggested = [Edge("rain", "yield", 1), Edge("heat", "yield", -1), Edge("tax", "demand", -1), Edge("x", "y", 1)]
    doc = parse_annotation(
        {
            "edges": [
                {"cause": "rain", "effect": "yield", "sign": "+", "origin": 0},  # kept as suggested
                {"cause": "heat stress", "effect": "yield", "sign": "-", "origin": 1},  # changed
                {"cause": "Tax.", "effect": "demand", "sign": "-"},  # retyped by hand: same edge
            ],
            "rejected": [],
        },
        n_suggestions=4,
    )
    assert suggestion_outcomes(suggested, doc) == ["accepted", "edited", "accepted", "pending"]
    doc.status = "done"  # undecided at "done" counts as rejected
    outcomes = suggestion_outcomes(suggested, doc)
    assert outcomes == ["accepted", "edited", "accepted", "rejected"]
    rates = outcome_rates([("m", o) for o in outcomes] + [("n", "pending")])
    assert rates["m"]["accept_rate"] == 0.5 and rates["m"]["edit_rate"] == 0.25 and rates["m"]["decided"] == 4
    assert rates["n"]["decided"] == 0 and rates["n"]["accept_rate"] == 0.0


def test_cohen_kappa_hand_computed():
    # po = 3/4; marginals a: 3/4 +, b: 1/2 + -> pe = 3/8 + 1/8 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 1/2
    assert cohen_kappa([(1, 1), (1, 1), (1, -1), (-1, -1)]) == pytest.approx(0.5)
    assert cohen_kappa([(1, 1), (-1, -1)]) == pytest.approx(1.0)
    assert cohen_kappa([(1, 1), (1, 1)]) is None  # one label throughout: undefined
    assert cohen_kappa([]) is None


def test_matched_sign_pairs_ignore_sign_when_matching():
    a = CausalMap("s", [Edge("Rain", "yield", 1), Edge("heat", "yield", 1), Edge("tax", "demand", -1)])
    b = CausalMap("s", [Edge("rain", "Yield", 1), Edge("heat", "yield", -1), Edge("demand", "tax", -1)])
    assert matched_sign_pairs(a, b) == [(1, 1), (1, -1)]  # the reversed tax edge does not match


def test_agreement_report_numbers():
    s1a = CausalMap("S1", [Edge("rain", "yield", 1), Edge("heat", "yield", -1)])
    s1b = CausalMap("S1", [Edge("rain", "yield", 1)])  # P 1, R 1/2 -> F1 2/3 (a as gold)
    s2a = CausalMap("S2", [Edge("tax", "demand", -1)])
    s2b = CausalMap("S2", [Edge("tax", "demand", 1)])  # sign differs -> F1 0
    s3a, s3b = CausalMap("S3"), CausalMap("S3")  # both: no causal claim -> F1 1
    report = agreement_report({1: {"a": s1a, "b": s1b}, 2: {"a": s2a, "b": s2b}, 3: {"a": s3a, "b": s3b}})
    assert report["sentences"] == 3 and report["pairs"] == 3
    assert report["mean_f1"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert report["matched_edges"] == 2 and report["sign_agreement"] == 0.5
    # pairs (+,+), (-,+): po 1/2; a: 1/2 +, b: all + -> pe 1/2 -> kappa 0
    assert report["sign_kappa"] == pytest.approx(0.0)
    assert [d["sentence"] for d in report["disagreements"]] == [2, 1, 3]
    assert report["by_pair"] == [{"a": "a", "b": "b", "sentences": 3, "mean_f1": pytest.approx(report["mean_f1"])}]


def test_ordering_scores():
    sure = CausalMap("s", [Edge("a", "b")], meta={"mean_logprob": -0.1})
    unsure = CausalMap("s", [Edge("a", "b")], meta={"mean_logprob": -2.0})
    broken = CausalMap("s", meta={"problems": ["bad line", "bad sign"]})
    assert model_uncertainty(unsure) == 2.0 and model_uncertainty(broken) == 2.0
    assert model_uncertainty(CausalMap("s", meta={"confidence": 0.75})) == 0.25
    scores = priorities({"x": [sure], "y": [unsure]}, "uncertainty")
    assert scores["y"] > scores["x"]
    other = CausalMap("s", [Edge("c", "d")])
    assert model_disagreement([sure, unsure]) == 0.0 and model_disagreement([sure, other]) == 1.0
    assert priorities({"x": [sure, other], "y": [sure, unsure]}, "disagreement") == {"x": 1.0, "y": 0.0}
    with pytest.raises(ValueError, match="two models"):
        priorities({"x": [sure]}, "disagreement")
    with pytest.raises(ValueError, match="--by must be one of"):
        priorities({}, "random")
