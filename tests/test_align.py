"""Alignment of measures with people: hand-computed figures on a tiny study, the registry, the CLIs
(cross-validation, fit then score, frozen files) and the report."""

from __future__ import annotations

import json

import pytest

from fcmatch.cli import main
from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.judge.align import align, format_alignment
from fcmatch.judge.learned import LearnedMeasure
from fcmatch.judge.llm_judge import ModelJudge
from fcmatch.judge.measures import MEASURES, Measure, soft_f1

MAPS = {"A": ("rain", "flood"), "B": ("rain", "flood"), "C": ("sun", "flood")}
# verdicts in file order: A > C, C > B, A > B
VERDICTS = [(("A", "C"), "A"), (("C", "B"), "C"), (("A", "B"), "A")]


def tiny_study(root):
    (root / "annotations").mkdir(parents=True)
    (root / "judgements").mkdir()
    texts = {1: "Rain causes floods.", 2: "Rain really causes floods."}
    for labeler, (src, tgt) in MAPS.items():
        recs = [{"text": t, "causal relations": [{"src": src, "tgt": tgt, "direction": "increase"}],
                 "meta_data": {"labeler": labeler}} for t in texts.values()]
        (root / "annotations" / f"{labeler}.json").write_text(json.dumps(recs))
    records = {}
    for n, text in texts.items():
        for pair, winner in VERDICTS:
            records[str(len(records))] = [text, list(pair), n, winner]
    (root / "judgements" / "judge1.json").write_text(json.dumps(records))
    return root


def test_hand_computed_alignment(tmp_path):
    # exact graph F1 consensus: A = B = (1 + 0) / 2, C = 0. A > C right, C > B wrong, A vs B a measure
    # tie (1/2): accuracy 1.5 / 3. Elo: A ends top; against A, B scores 1 and C 0, but Elo has C above B
    # (C beat B), so Spearman = -1 in both sentences.
    out = align(tiny_study(tmp_path), ["f1_exact"])
    f = out["measures"]["f1_exact"]
    assert f["pairwise_accuracy"] == pytest.approx(0.5)
    assert f["spearman_paper"] == pytest.approx(-1.0)
    assert f["verdicts"] == 6 and f["sentences"] == 2
    assert f["pairwise_accuracy_ci"] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert out["default"] == "f1_exact" and out["selection"]["chosen"] == {"1": "f1_exact", "2": "f1_exact"}
    assert out["ceiling"] is None and f["reliability_verdicts"] == 0
    assert "| f1_exact * | 0.500 [0.500, 0.500]" in format_alignment(out)


def test_unknown_measure(tmp_path):
    with pytest.raises(ValueError, match="unknown measure"):
        align(tiny_study(tmp_path), ["bleurt"])


def test_registry_measures_in_range():
    ref = CausalMap("rain causes floods", [Edge("rain", "flood", 1), Edge("flood", "damage", 1)])
    cand = CausalMap("rain causes floods", [Edge("rain", "floods", 1), Edge("flood", "damage", -1)])
    encoders = ("embedding", "bertscore")
    for name, measure in MEASURES.items():
        assert measure.name == name and measure.description, name
        if not isinstance(measure, Measure):
            assert isinstance(measure, LearnedMeasure | ModelJudge), name
            continue
        assert measure.grid, name
        if name in ("bertscore_concepts", "grounding_embedding") or any(
                s.get("nodes", "embedding") in encoders for s in measure.grid if "nodes" in s):
            continue  # the encoders are exercised in test_align_families.py
        for settings in measure.grid:
            assert 0.0 <= measure.score(ref, cand, settings) <= 1.0, name
            if not measure.reference_free:
                assert measure.score(ref, ref, settings) == pytest.approx(1.0), name
    optional = {n for n, m in MEASURES.items() if m.optional}
    assert optional == {"llm_judge", "llm_judge_sample"}
    learned = MEASURES["learned"]
    assert all(f in learned.features for group in learned.groups.values() for f in group)


def test_soft_f1_partial_credit_by_hand():
    ref = CausalMap("s", [Edge("rain", "flood", 1), Edge("flood", "damage", 1)])
    cand = CausalMap("s", [Edge("rain", "flood", 1), Edge("flood", "damage", -1)])
    # token nodes: identical concepts score 1; one exact edge (1) + one sign error (credit 0.5):
    # TP = 1.5, F1 = 2 * 1.5 / (2 + 2)
    assert soft_f1(ref, cand, {"nodes": "token", "sign_credit": 0.5}) == pytest.approx(0.75)
    assert soft_f1(ref, CausalMap("s"), {"nodes": "token"}) == 0.0
    assert soft_f1(CausalMap("s"), CausalMap("s"), {"nodes": "token"}) == 1.0


def test_cli_align_json(tmp_path, capsys):
    assert main(["align", "--data", str(tiny_study(tmp_path)), "--measure", "f1_exact", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["measures"]["f1_exact"]) >= {"pairwise_accuracy", "spearman_paper", "pairwise_accuracy_ci",
                                                "spearman_paper_ci", "verdicts"}


def test_cli_judge_report_and_scores(tmp_path, capsys):
    study = tiny_study(tmp_path / "study")
    (study / "judgements" / "judge2.json").write_text((study / "judgements" / "judge1.json").read_text())
    out = tmp_path / "r" / "report.html"
    assert main(["judge", "report", str(study), "--out", str(out), "--measure", "f1_exact"]) == 0
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2 and "f1_exact" in page and "ssr" in page
    assert "Kendall tau" in page and "nested selection" in page and "vs the Bradley-Terry human score" in page
    assert main(["judge", "scores", str(study), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert scores["items"]["1/A"]["bt"] > scores["items"]["1/B"]["bt"]


def test_cli_bad_judgement_file(tmp_path, capsys):
    study = tiny_study(tmp_path)
    path = study / "judgements" / "judge1.json"
    records = json.loads(path.read_text())
    records["0"][3] = "nobody"
    path.write_text(json.dumps(records))
    assert main(["align", "--data", str(study), "--measure", "f1_exact"]) == 1
    assert "judge1.json record '0': unknown verdict 'nobody'" in capsys.readouterr().err


def test_cli_fit_then_score_and_frozen_file(tmp_path, capsys):
    fit_on = tiny_study(tmp_path / "a")
    frozen = tmp_path / "frozen.json"
    argv = ["align", "--fit", str(fit_on), "--data", str(fit_on), "--measure", "f1_exact", "--measure", "edge_count"]
    assert main([*argv, "--save", str(frozen), "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    saved = json.loads(frozen.read_text())
    assert fitted["mode"] == "frozen" and saved["measures"]["f1_exact"] == {"settings": {"threshold": 1.0}}
    assert saved["fitted_on"]["sentences"] == ["1", "2"] and len(saved["fitted_on"]["sha256"]) == 64
    assert main(["align", "--frozen", str(frozen), "--data", str(fit_on), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["measures"] == fitted["measures"]
    assert main(["align", "--frozen", str(frozen), "--fit", str(fit_on), "--data", str(fit_on)]) == 1
    assert "--fit DIR or --frozen FILE" in capsys.readouterr().err


def test_frozen_file_errors(tmp_path):
    study = tiny_study(tmp_path / "s")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a frozen-measure file"):
        align(study, frozen=tmp_path / "bad.json")
    frozen = align(study, ["f1_exact"])["frozen"]
    with pytest.raises(ValueError, match="not in the frozen file"):
        align(study, ["edge_count"], frozen=frozen)
