"""The report: metrics.json, the HTML page and its PNGs from small synthetic experiment folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fcmatch.cli import main
from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.data.formats import write_jsonl
from fcmatch.report import score_experiment, write_report

EVIL = '<script>alert("x")</script> & co'


def _experiment(root: Path, with_run: bool = True) -> Path:
    gold = [
        CausalMap("Rain increases yield.", [Edge("rain", "yield", 1)], "agri"),
        CausalMap(f"Taxes cut spending {EVIL}.", [Edge("taxes", "spending", -1), Edge("spending", "growth", 1)], "econ"),
        CausalMap("Nothing causal here.", [], "econ"),
    ]
    base = [
        CausalMap(gold[0].text, [Edge("rain", "yield", -1)], "agri", {"raw": "rain -> yield (-)", "problems": []}),
        CausalMap(gold[1].text, [], "econ", {"raw": EVIL, "problems": [f"line 1: not an edge, skipped: {EVIL!r}"]}),
        CausalMap(gold[2].text, [Edge("nothing", "here", 1)], "econ", {"raw": "nothing -> here (+)", "problems": []}),
    ]
    tuned = [
        CausalMap(gold[0].text, [Edge("rain", "yield", 1)], "agri", {"raw": "rain -> yield (+)", "problems": []}),
        CausalMap(gold[1].text, [Edge("taxes", "spending", -1), Edge(EVIL, "growth", 1)], "econ", {"raw": "", "problems": []}),
        CausalMap(gold[2].text, [], "econ", {"raw": "none", "problems": []}),
    ]
    root.mkdir(parents=True, exist_ok=True)
    write_jsonl(gold, root / "gold.jsonl")
    write_jsonl(base, root / "pred_base.jsonl")
    write_jsonl(tuned, root / "pred_finetuned.jsonl")
    if with_run:
        run = root / "run"
        run.mkdir()
        rows = [{"step": s, "loss": 2.0 / s, "lr": 1e-3, "tokens_per_s": 100.0} for s in range(1, 6)]
        rows[-1]["val_loss"] = 0.7
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 6, "lo')
        (run / "config.yaml").write_text(f"method: qlora\nnote: '{EVIL}'\n")
    (root / "timings.json").write_text(json.dumps({"train": 12.5, "extract": 3.0}))
    return root


def test_scores_hand_computed(tmp_path: Path) -> None:
    metrics = score_experiment(_experiment(tmp_path / "exp"), matchers=("exact",), text=True, bertscore=False, resamples=50)
    base, tuned = metrics["scores"]["base"]["exact"], metrics["scores"]["finetuned"]["exact"]
    # base: 0 correct of 2 predicted, 0 of 3 gold found; sentence F1s 0, 0, 0
    assert base["micro"]["f1"] == 0.0 and base["macro"]["f1"] == 0.0
    assert base["counts"]["sign_errors"] == 1
    # fine-tuned: 2 correct of 3 predicted, 2 of 3 gold found -> micro F1 2/3; sentence F1s 1, 0.5, 1 (both empty)
    assert tuned["micro"]["f1"] == pytest.approx(2 / 3)
    assert tuned["macro"]["f1"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert metrics["per_source"]["finetuned"]["econ"] == {"sentences": 2, "macro_f1": 0.75, "micro_f1": pytest.approx(0.5)}
    assert metrics["paired"]["exact"]["difference"] == pytest.approx(2.5 / 3)
    assert json.loads((tmp_path / "exp" / "metrics.json").read_text())["systems"] == ["base", "finetuned"]


def test_report_writes_escaped_html_and_pngs(tmp_path: Path) -> None:
    root = _experiment(tmp_path / "exp")
    index = write_report(root, matchers=("exact", "fuzzy"), bertscore=False)
    assert index == root / "report" / "index.html"
    text = index.read_text()
    for png in ("scores.png", "loss.png", "sources.png"):
        assert (root / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "data:image/png;base64," in text and "fine-tuned" in text and "agri" in text
    # worst case first: the econ sentence (fine-tuned F1 0.5) comes before the rain sentence (F1 1)
    assert text.index("Taxes cut spending") < text.index("Rain increases yield.")
    assert "&#177;" in text  # the base model's sign-flipped edge is marked


def test_report_of_a_run_folder_and_cli(tmp_path: Path, capsys) -> None:
    root = _experiment(tmp_path / "exp")
    assert main(["report", str(root / "run"), "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r" / "index.html")
    assert (tmp_path / "r" / "loss.png").is_file()
    assert main(["report", str(tmp_path), "--no-bertscore"]) == 1
    assert "neither an experiment folder" in capsys.readouterr().err


def test_report_without_run_or_base(tmp_path: Path) -> None:
    root = _experiment(tmp_path / "exp", with_run=False)
    (root / "pred_base.jsonl").unlink()
    index = write_report(root, matchers=("exact",), bertscore=False)
    assert "fine-tuned" in index.read_text() and not (root / "report" / "loss.png").exists()
