"""Decoding settings and ``fcmatch generate`` / ``fcmatch score`` on the tiny random model.

Sampling is checked against the distribution the model's own logits imply (temperature and top-k applied by
hand), greedy and beam search against plain ``model.generate``; the commands end to end on a few records.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
import torch

from fcmatch.cli import main
from fcmatch.config import ConfigError, field_docs, load_config
from fcmatch.data.instructions import Instruction, write_instructions
from fcmatch.extract import GenerationSettings, generate_batch
from fcmatch.instruct.config import GenerateConfig, ScoreConfig, ScoreOptions
from fcmatch.instruct.evaluate import evaluate_predictions, read_predictions
from fcmatch.instruct.generate import generate, generate_responses
from fcmatch.models import load
from fcmatch.tasks.instruct import prompt_text

RECORDS = [
    Instruction("Name a primary colour.", "", "Red.", id="r0"),
    Instruction("Summarise the sentence.", "Rain increases crop yield in dry regions.", "Rain raises yields.", id="r1"),
    Instruction("What is two plus two?", "", "Four.", id="r2"),
    Instruction("Translate to French.", "Good morning", "Bonjour", id="r3"),
    Instruction("Give a synonym of big.", "", "Large.", id="r4"),
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    return load(str(tiny_model_dir))


@pytest.fixture
def records_file(tmp_path: Path) -> Path:
    path = tmp_path / "test.json"
    write_instructions(RECORDS, path, "alpaca")
    return path


def _prompts(tokenizer, template: str = "alpaca") -> list[str]:
    return [prompt_text(r, tokenizer, template) for r in RECORDS]


def _generate_alone(model, tokenizer, prompt: str, **kwargs) -> str:
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**ids, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             top_p=None, top_k=None, temperature=None, **kwargs)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


# --- decoding settings --------------------------------------------------------------------------------------


def test_settings_reject_knobs_that_would_be_ignored():
    with pytest.raises(ConfigError, match="--top-k only applies when sampling"):
        GenerationSettings(top_k=5)
    with pytest.raises(ConfigError, match="--top-p only applies when sampling"):
        GenerationSettings(top_p=0.9)
    with pytest.raises(ConfigError, match="--num-beams 4 with --temperature 0.7"):
        GenerationSettings(num_beams=4, temperature=0.7)
    with pytest.raises(ConfigError, match="--top-k must be >= 1"):
        GenerationSettings(temperature=1.0, top_k=0)
    with pytest.raises(ConfigError, match="--num-beams must be >= 1"):
        GenerationSettings(num_beams=0)


def test_every_sampling_knob_comes_with_do_sample():
    sample = GenerationSettings(temperature=0.7, top_k=20, top_p=0.9)
    assert sample.strategy == "sample"
    assert sample.generate_kwargs() == {"do_sample": True, "num_beams": 1, "temperature": 0.7, "top_p": 0.9,
                                        "top_k": 20}
    assert GenerationSettings(num_beams=3).generate_kwargs()["do_sample"] is False
    assert GenerationSettings(num_beams=3).strategy == "beam" and GenerationSettings().strategy == "greedy"


def _first_token_law(model, tokenizer, prompt: str, temperature: float, top_k: int | None) -> dict[str, float]:
    """The first token's distribution under these settings, from the logits, summed by decoded text."""
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        logits = model(**ids).logits[0, -1] / temperature
    if top_k:
        logits = logits.masked_fill(logits < torch.topk(logits, top_k).values[-1], float("-inf"))
    law: dict[str, float] = collections.defaultdict(float)
    for token, p in enumerate(torch.softmax(logits, -1).tolist()):
        law[tokenizer.decode([token], skip_special_tokens=True)] += p
    return law


def _total_variation(a: dict[str, float], b: dict[str, float]) -> float:
    return 0.5 * sum(abs(a.get(x, 0.0) - b.get(x, 0.0)) for x in set(a) | set(b))


@pytest.mark.parametrize(("temperature", "top_k"), [(0.05, None), (1.0, 3), (0.5, 5)])
def test_temperature_and_top_k_shape_the_samples(tiny, temperature, top_k):
    model, tokenizer = tiny
    prompt = _prompts(tokenizer, "chat")[0]
    counts: collections.Counter[str] = collections.Counter()
    for seed in range(3):  # 300 first tokens: 100 rows, each sampled on its own, under each of 3 seeds
        settings = GenerationSettings(max_new_tokens=1, temperature=temperature, top_k=top_k, seed=seed)
        counts.update(generate_batch(model, tokenizer, [prompt] * 100, settings))
    seen = {text: n / 300 for text, n in counts.items()}
    # measured on this model: about 0.02-0.05 from their own law, 0.8-1.0 from plain temperature-1 sampling's
    assert _total_variation(seen, _first_token_law(model, tokenizer, prompt, temperature, top_k)) < 0.12
    assert _total_variation(seen, _first_token_law(model, tokenizer, prompt, 1.0, None)) > 0.5
    if top_k:
        assert len(counts) <= top_k


def test_sampling_is_seeded_and_leaves_the_callers_random_state(tiny):
    model, tokenizer = tiny
    prompts = _prompts(tokenizer)
    settings = GenerationSettings(max_new_tokens=6, temperature=1.0)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = generate_responses(model, tokenizer, prompts, settings)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert generate_responses(model, tokenizer, prompts, settings) == first
    other = GenerationSettings(max_new_tokens=6, temperature=1.0, seed=1)
    assert generate_responses(model, tokenizer, prompts, other) != first
    top1 = GenerationSettings(max_new_tokens=6, temperature=1.0, top_k=1)  # sampling among one token is greedy
    assert generate_responses(model, tokenizer, prompts, top1) == generate_responses(
        model, tokenizer, prompts, GenerationSettings(max_new_tokens=6))


@pytest.mark.parametrize("template", ["alpaca", "chat"])
def test_greedy_equals_model_generate(tiny, template):
    model, tokenizer = tiny
    prompts = _prompts(tokenizer, template)
    got = generate_responses(model, tokenizer, prompts, GenerationSettings(max_new_tokens=10), batch_size=2)
    assert got == [_generate_alone(model, tokenizer, p, max_new_tokens=10, do_sample=False) for p in prompts]


def test_beam_search_equals_model_generate(tiny):
    model, tokenizer = tiny
    prompts = _prompts(tokenizer)
    settings = GenerationSettings(max_new_tokens=8, num_beams=3)
    got = generate_responses(model, tokenizer, prompts, settings, batch_size=3)
    assert got == [_generate_alone(model, tokenizer, p, max_new_tokens=8, num_beams=3, do_sample=False)
                   for p in prompts]
    assert got != generate_responses(model, tokenizer, prompts, GenerationSettings(max_new_tokens=8))


def test_a_prompt_ending_with_eos_is_refused(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="prompt 1 ends with the end-of-sequence token"):
        generate_responses(model, tokenizer, ["fine", "### Response:" + tokenizer.eos_token + "\n"],
                           GenerationSettings(max_new_tokens=2))


# --- the commands ---------------------------------------------------------------------------------------------


def test_generate_writes_predictions_config_and_scores(tiny_model_dir, records_file, tmp_path, capsys):
    out = tmp_path / "run" / "pred.jsonl"
    argv = ["generate", "--model", str(tiny_model_dir), "--input", str(records_file), "--output", str(out),
            "--max-new-tokens", "6", "--batch-size", "2", "--no-progress", "--score", "--no-bertscore",
            "--bootstrap", "50"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["records"] == 5 and summary["generated"] == 5 and summary["output"] == str(out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["r0", "r1", "r2", "r3", "r4"]
    assert set(rows[1]) == {"id", "index", "instruction", "input", "prediction", "reference"}
    assert rows[1]["input"] == RECORDS[1].input and rows[1]["reference"] == "Rain raises yields."
    config = load_config(GenerateConfig, out)
    assert config.generation.max_new_tokens == 6 and config.template == "alpaca" and config.score
    scores = json.loads((tmp_path / "run" / "pred.scores.json").read_text())
    assert summary["scores_file"] == str(tmp_path / "run" / "pred.scores.json")
    assert scores["n"] == 5 and [i["id"] for i in scores["items"]] == ["r0", "r1", "r2", "r3", "r4"]
    assert summary["metrics"]["token_f1"] == scores["metrics"]["token_f1"]["value"]
    assert not (tmp_path / "run" / "pred.jsonl.partial").exists()
    # a finished run is not redone; other decoding settings do not resume it
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["generated"] == 0
    assert main([*argv, "--num-beams", "2"]) == 1
    assert "generated with other settings (generation differ" in capsys.readouterr().err


def test_generate_resumes_after_a_crash(tiny, records_file, tmp_path):
    model, tokenizer = tiny
    out = tmp_path / "pred.jsonl"
    config = GenerateConfig(str(records_file), str(out), model="tiny", template="chat", batch_size=2,
                            generation=GenerationSettings(max_new_tokens=5), progress=False)
    generate(config, model, tokenizer)
    reference = out.read_text().splitlines()
    # as a crash leaves it: the first batch written, then half of a line
    partial = tmp_path / "pred.jsonl.partial"
    partial.write_text("\n".join(reference[:2]) + "\n" + reference[2][:20])
    out.unlink()
    summary = generate(config, model, tokenizer)
    assert summary["resumed"] == 2 and summary["generated"] == 3
    assert out.read_text().splitlines() == reference and not partial.exists()


def test_generate_from_a_run_folder_with_an_adapter(tiny_model_dir, records_file, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from fcmatch.models import quiet_peft

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with quiet_peft():
        lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "run" / "adapter")  # names the tiny folder as its base
    tuned, plain = tmp_path / "tuned.jsonl", tmp_path / "plain.jsonl"
    for model, out in ((tmp_path / "run", tuned), (tiny_model_dir, plain)):
        generate(GenerateConfig(str(records_file), str(out), model=str(model), limit=3, progress=False,
                                generation=GenerationSettings(max_new_tokens=6)))
    assert len(read_predictions(tuned)) == 3
    assert [r["prediction"] for r in read_predictions(tuned)] != [r["prediction"] for r in read_predictions(plain)]


def _write_predictions(path: Path, predictions: list[str]) -> Path:
    rows = [{"id": r.id, "index": i, "instruction": r.instruction, "input": r.input, "prediction": p,
             "reference": r.output} for i, (r, p) in enumerate(zip(RECORDS, predictions, strict=True))]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_score_command_tests_against_a_base(tmp_path, capsys):
    base = _write_predictions(tmp_path / "base.jsonl", ["Blue.", "It rains.", "Five.", "Salut", "Small."])
    tuned = _write_predictions(tmp_path / "tuned.jsonl", [r.output for r in RECORDS])
    assert main(["score", str(tuned), "--base", str(base), "--no-bertscore", "--bootstrap", "200", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "tuned.scores.json").read_text())
    assert printed["metrics"] == saved["metrics"] and "items" not in printed and len(saved["items"]) == 5
    assert saved["metrics"]["exact_match"]["value"] == 1.0 and saved["base"]["metrics"]["exact_match"]["value"] == 0.0
    test = saved["compare"]["metrics"]["exact_match"]
    assert test["difference"] == 1.0 and test["p_value"] == pytest.approx(2 ** -4, abs=0.03)  # 2 of 2^5 swaps
    assert load_config(ScoreConfig, tmp_path / "tuned.scores.json").base == str(base)
    assert main(["score", str(tuned), "--no-bertscore", "--out", str(tmp_path / "t.json")]) == 0
    table = capsys.readouterr().out
    assert "token_f1" in table and "95% interval" in table


def test_evaluate_predictions_pairs_by_id_and_refuses_other_records(tmp_path):
    tuned = _write_predictions(tmp_path / "tuned.jsonl", [r.output for r in RECORDS])
    rows = tuned.read_text().splitlines()
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join(rows[::-1]) + "\n")
    out = evaluate_predictions(tuned, shuffled, with_bertscore=False, bootstrap=20)
    assert out["compare"]["metrics"]["token_f1"]["difference"] == 0.0  # paired by id, not by line
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text("\n".join(rows[:3]) + "\n")
    with pytest.raises(ValueError, match="does not hold the records"):
        evaluate_predictions(tuned, fewer, with_bertscore=False)
    with pytest.raises(FileNotFoundError, match="no such prediction file"):
        evaluate_predictions(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(("command", "configs"), [
    ("generate", (GenerateConfig, GenerationSettings, ScoreOptions)), ("score", (ScoreConfig, ScoreOptions)),
])
def test_help_shows_every_field_docstring(command, configs, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    for cls in configs:
        for name, doc in field_docs(cls).items():
            if name not in ("generation", "scoring"):  # nested configs: their own fields are the flags
                assert doc in out, f"fcmatch {command} --help lacks the docstring of {name}"
