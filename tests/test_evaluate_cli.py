"""``fcmatch evaluate`` end to end on small files: JSON on stdout, the --out file, the table, errors."""

from __future__ import annotations

import json

from conftest import write_jsonl
from fcmatch.cli import main

GOLD = [
    {"text": "Rain raises yield.", "edges": [{"cause": "rain", "effect": "yield", "sign": "+"}]},
    {"text": "Drought cuts income.", "edges": [{"cause": "drought", "effect": "income", "sign": "-"}]},
]
PRED = [
    {"text": "Rain raises yield.", "edges": [{"cause": "Rain", "effect": "yield", "sign": "+"}]},
    {"text": "Drought cuts income.", "edges": [{"cause": "drought", "effect": "income", "sign": "+"}]},
]


def test_evaluate_json_out_and_compare(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", GOLD)
    pred = write_jsonl(tmp_path / "pred.jsonl", PRED)
    out = tmp_path / "result.json"
    args = ["evaluate", "--gold", str(gold), "--pred", str(pred), "--json", "--out", str(out)]
    assert main([*args, "--compare", str(gold), "--bootstrap", "200"]) == 0
    printed = json.loads(capsys.readouterr().out)
    # sentence 1 right, sentence 2 a sign error: macro F1 (1 + 0) / 2, micro P = R = 1/2
    assert printed["sentences"] == 2
    assert printed["macro"]["f1"] == 0.5 and printed["micro"]["f1"] == 0.5
    assert printed["counts"]["sign_errors"] == 1
    assert printed["ci"]["resamples"] == 200 and "per_sentence" not in printed
    assert printed["compare"]["macro"]["f1"] == 1.0
    assert printed["compare"]["paired"]["difference"] == 0.5
    saved = json.loads(out.read_text())
    assert [r["f1"] for r in saved["per_sentence"]] == [1.0, 0.0]


def test_evaluate_table_with_text_metrics(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", GOLD)
    args = ["evaluate", "--gold", str(gold), "--pred", str(gold), "--match", "fuzzy", "--text-metrics", "--no-bertscore"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "micro" in table and "macro" in table and "fuzzy (threshold 0.8, one-to-one)" in table
    assert "BLEU 1.000" in table and "BERTScore" not in table


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", GOLD)
    assert main(["evaluate", "--gold", str(gold), "--pred", str(tmp_path / "nope.jsonl")]) == 1
    assert "nope.jsonl: no such file" in capsys.readouterr().err
    assert main(["evaluate", "--gold", str(gold), "--pred", str(gold), "--threshold", "2"]) == 1
    assert "threshold must be in [0, 1]" in capsys.readouterr().err
