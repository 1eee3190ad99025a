"""Smoke test of the main job on the tiny random model: every stage runs and writes its files."""

from __future__ import annotations

import json
from pathlib import Path

from fcmatch.demo import DemoConfig, auto_threads, main, parse_args


def test_demo_end_to_end_on_tiny_model(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    argv = ["--out", str(out), "--model", str(tiny_model_dir), "--max-train", "6", "--max-test", "4",
            "--method", "qlora", "--epochs", "1", "--max-length", "1024", "--train-batch-size", "3", "--max-new-tokens", "8",
            "--matchers", "exact", "fuzzy", "--resamples", "20", "--no-bertscore", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for stage in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"):
        assert stage in printed
    assert printed.strip().endswith(str((out / "report" / "index.html").resolve()))
    for name in ("gold.jsonl", "pred_base.jsonl", "pred_finetuned.jsonl", "metrics.json", "timings.json",
                 "run/adapter/adapter_config.json", "run/metrics.jsonl", "report/index.html", "report/scores.png",
                 "report/loss.png", "report/sources.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sentences"] == 4 and metrics["systems"] == ["base", "finetuned"]
    assert set(json.loads((out / "timings.json").read_text())) >= {"extract_base", "train", "extract_finetuned", "total"}
    # a second run skips the finished stages and reuses the outputs
    first = json.loads((out / "timings.json").read_text())
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "skipping training" in again
    # each stage prints this run's seconds and, resumed, the total with the first run that timings.json keeps
    assert again.count("with the earlier runs)") == 5
    assert json.loads((out / "timings.json").read_text())["train"] >= first["train"]


def test_demo_refuses_folder_of_other_sentences(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "gold.jsonl").write_text(json.dumps({"text": "something else", "edges": []}) + "\n")
    assert main(["--out", str(out), "--model", str(tiny_model_dir), "--max-test", "2"]) == 1
    assert "other test sentences" in capsys.readouterr().err


def test_quick_and_flags() -> None:
    config = parse_args(["--quick", "--epochs", "5", "--matchers", "exact"])
    assert config.max_train == 64 and config.max_test == 16 and config.epochs == 2.0
    assert config.matchers == ("exact",) and not config.bertscore
    assert DemoConfig().method == "qlora"  # the issue: the demo fine-tunes with QLoRA


def test_auto_threads_keeps_explicit_values() -> None:
    assert auto_threads(3) == 3
    assert auto_threads(0) in (0, 1)
