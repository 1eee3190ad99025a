"""``fcmatch metacog study`` end to end on a tiny random model: every stage's files, and a resume that redoes nothing."""

from __future__ import annotations

import json

from fcmatch.cli import main


def test_study_writes_every_stage_and_resumes(tiny_model_dir, tmp_path, capsys):
    config = tmp_path / "study.yaml"
    out = tmp_path / "study"
    config.write_text(f"""
out: {out}
model: {tiny_model_dir}
limit_train: 12
limit_test: 6
temperatures: [0.0, 1.5]
max_new_tokens: 4
rule: {{preset: reference}}
answerer: {{epochs: 1}}
validator: {{epochs: 1}}
exar: {{epochs: 1}}
rounds: 1
round_temperatures: [1.0]
bootstrap: 20
threads: 1
merge_combinations: [cat]
""")
    assert main(["metacog", "study", str(config), "--no-progress"]) == 0
    for name in ("config.yaml", "labelled.jsonl", "validator.json", "loop.json", "loop.jsonl", "adapters.json",
                 "results.json", "report.md", "reliability.png", "answerer/adapter", "validator/adapter", "exar/adapter"):
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())
    assert results["questions"] == {"train": 12, "test": 6}
    assert set(results["loop"]) >= {"loop_last", "loop_best", "oracle_best"}
    assert results["loop"]["loop_last"]["cost"]["extra_generations_per_question"] <= 1.0  # one round at most
    labelled = [json.loads(line) for line in (out / "labelled.jsonl").read_text().splitlines()]
    test_ids = {r["question_id"] for r in labelled if r["split"] == "test"}
    assert test_ids and not test_ids & {r["question_id"] for r in labelled if r["split"] == "train"}
    assert "## Validator on held-out questions" in (out / "report.md").read_text()
    stamp = (out / "validator" / "manifest.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["metacog", "study", str(config), "--no-progress"]) == 0  # resumes: nothing retrained
    assert (out / "validator" / "manifest.json").stat().st_mtime_ns == stamp
    assert "report:" in capsys.readouterr().out
    assert main(["metacog", "run", str(config), "--rounds", "2", "--round-temperatures", "0.5", "1.5",
                 "--name", "loop-r2"]) == 0
    again = json.loads((out / "loop-r2.json").read_text())
    assert again["loop_last"]["cost"]["extra_generations_per_question"] <= 2.0
    assert "| exact_match |" in capsys.readouterr().out and (out / "loop-r2.jsonl").is_file()
