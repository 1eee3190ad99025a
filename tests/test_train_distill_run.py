"""fcmatch distill: the examples file (both forms, chat wrapping, errors naming file and line), verbalizer
checks, and a whole run from the command line on a tiny random Llama (KL falls, the run folder is complete)."""

from __future__ import annotations

import json

import pytest

from fcmatch.cli import main
from fcmatch.config import ConfigError
from fcmatch.train.distill import DistillConfig
from fcmatch.train.distill_run import DistillRunConfig, ExamplesError, label_ids, read_examples


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_both_forms_and_the_separator(tmp_path):
    path = write(tmp_path / "e.jsonl", [{"context": "Always say yes.", "prompt": "Q: one\nA:"}, "",
                                        {"teacher_prompt": "T", "student_prompt": "S", "completion": " yes"}])
    rows = read_examples(path, separator="\n")
    assert rows == [{"teacher_prompt": "Always say yes.\nQ: one\nA:", "student_prompt": "Q: one\nA:", "completion": ""},
                    {"teacher_prompt": "T", "student_prompt": "S", "completion": " yes"}]
    assert len(read_examples(path, limit=1)) == 1


def test_chat_wraps_each_prompt_as_a_user_turn(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    path = write(tmp_path / "e.jsonl", [{"context": "C", "prompt": "P"}])
    row = read_examples(path, tok)[0]
    expected = tok.apply_chat_template([{"role": "user", "content": "P"}], add_generation_prompt=True, tokenize=False)
    assert row["student_prompt"] == expected and "C\n\nP" in row["teacher_prompt"]


@pytest.mark.parametrize("line, message", [
    ("{not json", ":2: not valid JSON"),
    ("[1, 2]", ":2: expected a JSON object"),
    ('{"context": "c"}', ":2: field 'prompt' is missing"),
    ('{"teacher_prompt": "t", "student_prompt": ""}', ":2: field 'student_prompt'"),
    ('{"context": "c", "prompt": "p", "completion": 3}', ":2: field 'completion' must be a string"),
])
def test_bad_lines_name_the_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "bad.jsonl", [{"context": "c", "prompt": "p"}, line])
    with pytest.raises(ExamplesError, match="bad.jsonl" + message):
        read_examples(path)


def test_missing_or_empty_file(tmp_path):
    with pytest.raises(ExamplesError, match="no such examples file"):
        read_examples(tmp_path / "none.jsonl")
    with pytest.raises(ExamplesError, match="no examples"):
        read_examples(write(tmp_path / "empty.jsonl", [""]))


def test_label_words_must_be_one_token_each(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    one = [w for w in (" yes", " no", "y", "n") if len(tok(w, add_special_tokens=False)["input_ids"]) == 1][:2]
    assert len(label_ids(tok, one)) == 2
    with pytest.raises(ConfigError, match="label_words: 'several words here' is"):
        label_ids(tok, ["several words here"])


def test_config_needs_an_output_dir_and_first_position_for_labels():
    with pytest.raises(ConfigError, match="examples is required"):
        DistillRunConfig(distill=DistillConfig(output_dir="out"))
    with pytest.raises(ConfigError, match="output_dir is required"):
        DistillRunConfig(examples="e.jsonl")
    with pytest.raises(ConfigError, match="positions=first"):
        DistillRunConfig(examples="e.jsonl", label_words=[" Yes"],
                         distill=DistillConfig(positions="all", output_dir="out"))


def test_cli_run_lowers_the_kl_and_writes_the_run(tmp_path, tiny_model_dir, capsys):
    rows = [{"context": f"Context: always answer {a}.", "prompt": f"Q: {q}\nA:", "completion": f" {a}"}
            for q, a in [("one", "yes"), ("two", "no"), ("three", "yes"), ("four", "no")]]
    examples = write(tmp_path / "e.jsonl", rows)
    config = tmp_path / "d.yaml"
    config.write_text("distill:\n  positions: all\n  epochs: 15\n  batch_size: 2\n  learning_rate: 0.001\n"
                      "  lora_r: 4\n  progress: false\n")
    out = tmp_path / "run"
    assert main(["distill", "--config", str(config), "--examples", str(examples), "--model", str(tiny_model_dir),
                 "--output-dir", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["examples"] == 4 and summary["steps"] == 30
    assert summary["kl_after"] < 0.2 * summary["kl_before"]
    assert json.loads((out / "summary.json").read_text()) == summary
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 30
    saved = (out / "config.yaml").read_text()
    assert "DistillRunConfig" in saved and "epochs: 15" in saved


def test_the_shipped_demo_config_loads():
    from pathlib import Path

    from fcmatch.config import from_dict, read_values

    root = Path(__file__).resolve().parents[1]
    config = from_dict(DistillRunConfig, read_values(root / "configs" / "distill-demo.yaml"), "distill-demo.yaml: ")
    assert config.label_words == [" Yes", " No"] and config.distill.positions == "first"
    assert len(read_examples(root / config.examples, limit=config.limit)) == 64
