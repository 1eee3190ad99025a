"""Nested selection never sees the held-out sentence: a planted feature that only helps on one sentence
is not credited there, choices for a sentence do not change with its verdicts, and fitting on some
sentences then scoring another reproduces the cross-validated figure of that sentence."""

from __future__ import annotations

import json

import pytest

from fcmatch.judge.align import align
from fcmatch.judge.learned import LearnedMeasure, fit_logistic
from fcmatch.judge.measures import MEASURES, Measure

LABELERS = ("A", "B", "C")
PLANTED = "4"
# sentences 1-3: people rank A > B > C; sentence 4: C > B > A, judged ten times over, so that a
# selection allowed to see sentence 4 would prefer whatever fits it
GOOD = {"A": 1.0, "B": 0.5, "C": 0.0}
PLANT = {"A": 0.0, "B": 0.5, "C": 1.0}


def _text(n: str) -> str:
    return f"Sentence {n}: rain causes floods."


def write_study(root, sentences: dict[str, tuple[tuple[str, ...], int]]):
    """A MATCH-layout study: per sentence, (ranking best first, how many judges judge its three pairs)."""
    (root / "annotations").mkdir(parents=True)
    (root / "judgements").mkdir()
    for lab in LABELERS:
        recs = [{"text": _text(n), "causal relations": [{"src": "rain", "tgt": "flood", "direction": "increase"}],
                 "meta_data": {"labeler": lab}} for n in sentences]
        (root / "annotations" / f"{lab}.json").write_text(json.dumps(recs))
    judges: dict[int, dict[str, list]] = {}
    for n, (ranking, repeats) in sentences.items():
        for k in range(repeats):
            records = judges.setdefault(k, {})
            for i, j in ((0, 1), (1, 2), (0, 2)):
                records[str(len(records))] = [_text(n), [ranking[j], ranking[i]], int(n), ranking[i]]
    for k, records in judges.items():
        (root / "judgements" / f"judge{k + 1}.json").write_text(json.dumps(records))
    return root


def _sentence(cmap) -> str:
    return cmap.text.split(":")[0].removeprefix("Sentence ")


def _score(table_of):
    def score(reference, candidate, settings):
        return table_of(settings, _sentence(candidate))[candidate.meta["labeler"]]
    return score


def _good(settings, sid):
    return GOOD


def _plant(settings, sid):
    return PLANT if sid == PLANTED else {x: 0.5 for x in LABELERS}


def _planted_grid(settings, sid):
    return _good(settings, sid) if settings["use"] == "good" else _plant(settings, sid)


@pytest.fixture
def planted(monkeypatch):
    """Fake measures registered for the test: a grid with a planted point, two one-point measures and a
    learned measure over the good and the planted feature."""
    good = Measure("good_only", _score(_good), [{}], "ranks A > B > C", reference_free=True)
    plant = Measure("oracle", _score(_plant), [{}], "right on sentence 4 only", reference_free=True)
    entries = {
        "planted": Measure("planted", _score(_planted_grid), [{"use": "good"}, {"use": "plant"}], "grid with a plant",
                           reference_free=True),
        "good_only": good,
        "oracle": plant,
        "learned_plant": LearnedMeasure("learned_plant", {"good": good, "plant": plant}, {"both": ["good", "plant"]},
                                        ridges=[1.0], description="learned on a planted feature"),
    }
    for name, entry in entries.items():
        monkeypatch.setitem(MEASURES, name, entry)
    return list(entries)


def _full(tmp_path, name="full", planted_order=("C", "B", "A")):
    return write_study(tmp_path / name, {"1": (("A", "B", "C"), 1), "2": (("A", "B", "C"), 1),
                                         "3": (("A", "B", "C"), 1), PLANTED: (planted_order, 10)})


def test_a_planted_grid_point_is_not_credited_on_its_sentence(tmp_path, planted):
    out = align(_full(tmp_path), ["planted"])["measures"]["planted"]
    # chosen without sentence 4, the good point: all 30 verdicts of sentence 4 wrong
    assert out["folds"][PLANTED] == {"settings": {"use": "good"}}
    assert out["per_sentence"][PLANTED]["correct"] == 0 and out["per_sentence"][PLANTED]["verdicts"] == 30
    # seeing every sentence, the plant would have won (30 verdicts outweigh 9): the check above has teeth
    assert out["params_all"] == {"settings": {"use": "plant"}}
    # folds 1-3 train on sentence 4 and choose the plant, which ties on their sentence (1.5 of 3)
    assert out["pairwise_accuracy"] == pytest.approx(3 * 1.5 / 39)


def test_nested_selection_does_not_pick_a_measure_for_the_sentence_it_fits(tmp_path, planted):
    out = align(_full(tmp_path), ["good_only", "oracle"])
    assert out["selection"]["chosen"] == {"1": "oracle", "2": "oracle", "3": "oracle", PLANTED: "good_only"}
    assert out["selection"]["per_sentence"][PLANTED]["correct"] == 0
    # folds 1-3 choose the oracle (it fits sentence 4, which is in their training data) and it ties there
    assert out["selection"]["per_sentence"]["1"]["correct"] == pytest.approx(1.5)
    assert out["default"] == "oracle"  # on all four sentences the procedure picks it: the default is its choice


def test_a_learned_model_gives_a_feature_no_weight_where_it_never_varied(tmp_path, planted):
    out = align(_full(tmp_path), ["learned_plant"])["measures"]["learned_plant"]
    fold = out["folds"][PLANTED]
    assert fold["features"] == ["good", "plant"] and fold["coef"][1] == pytest.approx(0.0)
    assert fold["coef"][0] > 0 and out["per_sentence"][PLANTED]["correct"] == 0
    assert out["params_all"]["coef"][1] > 0  # with sentence 4 in training it would have counted


def test_choices_for_a_sentence_ignore_its_verdicts(tmp_path, planted):
    first = align(_full(tmp_path, "a"), planted)
    flipped = align(_full(tmp_path, "b", ("A", "B", "C")), planted)
    for name in planted:
        assert first["measures"][name]["folds"][PLANTED] == flipped["measures"][name]["folds"][PLANTED], name
    assert first["selection"]["chosen"][PLANTED] == flipped["selection"]["chosen"][PLANTED]
    assert first["measures"]["planted"]["per_sentence"][PLANTED]["correct"] == 0
    assert flipped["measures"]["planted"]["per_sentence"][PLANTED]["correct"] == 30


def test_fit_then_score_reproduces_the_held_out_figure_and_the_frozen_file(tmp_path, planted):
    full = align(_full(tmp_path), planted)
    train = write_study(tmp_path / "train", {n: (("A", "B", "C"), 1) for n in ("1", "2", "3")})
    held = write_study(tmp_path / "held", {PLANTED: (("C", "B", "A"), 10)})
    fitted = align(held, planted, fit=train)
    for name in planted:
        assert fitted["measures"][name]["per_sentence"][PLANTED] == full["measures"][name]["per_sentence"][PLANTED]
        assert fitted["frozen"]["measures"][name] == full["measures"][name]["folds"][PLANTED]
    saved = tmp_path / "frozen.json"
    saved.write_text(json.dumps(fitted["frozen"]))
    again = align(held, frozen=saved)
    assert again["measures"] == fitted["measures"] and again["default"] == fitted["default"]


def test_fit_logistic_by_hand():
    # one feature, "first wins" rows with differences +1, +1, -1: the likelihood 2 log s(w) + log s(-w)
    # peaks where 2 (1 - s(w)) = s(w), s(w) = 2/3, w = log 2; a ridge shrinks w towards 0
    import numpy as np

    diffs = np.array([[1.0], [1.0], [-1.0]])
    assert fit_logistic(diffs, 1e-9)[0] == pytest.approx(np.log(2), abs=1e-6)
    assert 0 < fit_logistic(diffs, 10.0)[0] < fit_logistic(diffs, 1.0)[0] < np.log(2)


@pytest.mark.slow
def test_shared_nested_figures(shared_data):
    # the figures quoted in docs/judging.md (fcmatch align --data ../shared/data/match, about 4 minutes)
    out = align(shared_data / "match")
    assert out["default"] == "quality_f1" and set(out["selection"]["chosen"].values()) == {"quality_f1"}
    assert out["selection"]["verdicts"] == 390
    assert out["selection"]["pairwise_accuracy"] == pytest.approx(0.722, abs=0.002)
    assert out["selection"]["spearman_paper"] == pytest.approx(0.650, abs=0.002)
    assert out["ceiling"]["pairwise_accuracy"] == pytest.approx(0.714, abs=0.002)
    assert out["measures"]["edge_count"]["pairwise_accuracy"] == pytest.approx(0.533, abs=0.002)
    assert out["measures"]["learned"]["pairwise_accuracy"] == pytest.approx(0.687, abs=0.002)
