"""``fcmatch metacog label`` end to end on a tiny model, the shipped configs load, config errors name the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fcmatch.cli import main
from fcmatch.config import ConfigError
from fcmatch.metacog.config import load_study

CONFIGS = sorted(Path(__file__).resolve().parents[1].glob("configs/metacog-*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    config = load_study(path)
    assert config.rule.preset == "reference" and config.rounds >= 1


def test_bad_study_key_names_file_and_key(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("rule: {preset: reference, bertscore_above: 2}\n")
    with pytest.raises(ConfigError, match="s.yaml.*bertscore_above"):
        load_study(path)
    path.write_text("roundz: 3\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_study(path)


def test_label_command_writes_rows_with_provenance(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "labelled.jsonl"
    code = main(["metacog", "label", "--model", str(tiny_model_dir), "--split", "test", "--limit", "3",
                 "--temperatures", "0", "1.5", "--max-new-tokens", "4", "--preset", "exact", "--output", str(out)])
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert 3 <= len(rows) <= 6  # deduplicated per (question, answer)
    assert {"question_id", "question", "gold", "prediction", "label", "metrics", "model", "temperature",
            "seed"} <= set(rows[0])
    assert {r["temperature"] for r in rows} <= {0.0, 1.5} and rows[0]["model"] == str(tiny_model_dir)
    assert (tmp_path / "labelled.config.yaml").is_file()
    summary = json.loads(capsys.readouterr().out.split("\nlabelled:")[0])
    assert summary["rows"] == len(rows) and summary["correct"] + summary["wrong"] == len(rows)
