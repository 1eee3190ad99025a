"""``fcmatch fewshot`` end to end on the bundled demo data with the tiny model: every file it writes,
resuming without redoing finished points, the shipped grid configs load, the MiniLM and distill methods
called through the agreed interfaces."""

import csv
import json
from pathlib import Path

import pytest

from fcmatch.cli import main
from fcmatch.config import ConfigError
from fcmatch.fewshot.config import FewshotConfig, load_grid
from fcmatch.fewshot.grid import Point, points

ROOT = Path(__file__).parents[1]


def _grid(tmp_path: Path, model: Path, methods: list[str], **extra) -> Path:
    patterns = tmp_path / "patterns.yaml"
    patterns.write_text("- {name: yn, template: '{text1} / {text2}', prefix: ' =', verbalizer: {'yes': 'Y', 'no': 'N'}}\n")
    values = {"out": str(tmp_path / "grid"), "model": str(model), "methods": methods, "ks": [2], "seeds": [0],
              "patterns": ["yn"], "pattern_file": str(patterns), "test_cap": 4, "resamples": 20, "progress": False,
              "pbft": {"epochs": 1, "batch_size": 2}, "distill": {"queries": 2, "epochs": 1, "batch_size": 2},
              "encoder": {"epochs": 1, "batch_size": 2}, **extra}
    path = tmp_path / "grid.yaml"
    path.write_text(json.dumps(values))
    return path


def test_fewshot_command_writes_results_report_and_resumes(tiny_model_dir, tmp_path, capsys):
    grid = _grid(tmp_path, tiny_model_dir, ["icl", "pbft-lora"])
    assert main(["fewshot", str(grid)]) == 0
    out = tmp_path / "grid"
    for name in ("results.csv", "report.md", "fewshot.config.yaml", "fewshot-accuracy-vs-k.png",
                 "fewshot-id-vs-ood.png", "fewshot-cost.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["point"] for r in rows] == ["icl-k0-s0-yn", "icl-k2-s0-yn", "pbft-lora-k2-s0-yn"]
    assert all(0 <= float(r["test_ood_accuracy"]) <= 1 for r in rows)
    assert float(rows[1]["context_tokens"]) > 0 and float(rows[2]["context_tokens"]) == 0
    done = out / "points" / "icl-k2-s0-yn" / "done.json"
    stamp = done.stat().st_mtime_ns
    assert main(["fewshot", str(grid)]) == 0  # resumes: nothing redone
    assert done.stat().st_mtime_ns == stamp
    predictions = (out / "points" / "icl-k2-s0-yn" / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 12 and {json.loads(p)["set"] for p in predictions} == {"test_id", "test_ood", "test_flip"}
    assert "| icl | 2 |" in (out / "report.md").read_text()


@pytest.mark.slow
def test_distill_and_minilm_methods_run_through_the_grid(tiny_model_dir, tmp_path):
    grid = _grid(tmp_path, tiny_model_dir, ["distill", "minilm-bitfit"], zero_shot=False, test_sets=["test_id"])
    assert main(["fewshot", str(grid)]) == 0
    rows = list(csv.DictReader((tmp_path / "grid" / "results.csv").open()))
    assert [r["point"] for r in rows] == ["distill-k2-s0-yn", "minilm-bitfit-k2-s0--"]


def test_points_and_bad_configs():
    config = FewshotConfig(methods=["icl", "pbft-lora", "minilm-lora", "distill"], ks=[16, 64], seeds=[0],
                           patterns=["gpt-3", "minimal"])
    config.distill.max_k = 16
    ids = [p.id for p in points(config)]
    assert ids[:2] == ["icl-k0-s0-gpt-3", "icl-k0-s0-minimal"]
    assert "pbft-lora-k16-s0-gpt-3" in ids and "pbft-lora-k16-s0-minimal" not in ids
    assert "minilm-lora-k64-s0--" in ids and "distill-k64-s0-gpt-3" not in ids
    assert Point("icl", 16, 2, "gpt-3").id == "icl-k16-s2-gpt-3"
    with pytest.raises(ConfigError, match="even"):
        FewshotConfig(ks=[3]).validate()


@pytest.mark.parametrize("name", ["fewshot-demo.yaml", "fewshot-sign.yaml"])
def test_shipped_grid_configs_load(name):
    path = ROOT / "configs" / name
    config = load_grid(path, {"data": ""})
    assert config.methods and config.ks


def test_reference_formats_run_through_the_grid_with_per_heuristic_accuracy(tiny_model_dir, tmp_path):
    data = ROOT / "tests" / "data" / "fewshot"
    grid = _grid(tmp_path, tiny_model_dir, ["icl"], zero_shot=False, format="mnli-merge",
                 train_file=str(data / "mnli.tsv"), test_id_file=str(data / "mnli.tsv"),
                 test_ood_file=str(data / "hans.tsv"), ood_format="hans", test_sets=["test_id", "test_ood"])
    assert main(["fewshot", str(grid)]) == 0
    done = json.loads((tmp_path / "grid" / "points" / "icl-k2-s0-yn" / "done.json").read_text())
    assert set(done["sets"]["test_ood"]["by"]["heuristic"]) == {"lexical_overlap", "subsequence"}
    with pytest.raises(ConfigError, match="test_flip"):
        FewshotConfig(format="rte", train_file="a", test_id_file="b", test_sets=["test_flip"]).validate()
