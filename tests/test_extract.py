"""Extraction plumbing on the tiny random model: batching, order, resume after a crash, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fcmatch.cli import main
from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.data.formats import FormatError, read_jsonl, write_jsonl
from fcmatch.extract import (
    ExtractConfig,
    GenerationSettings,
    chat_prompt,
    extract,
    extract_maps,
    generate_batch,
    greedy,
    pick_demonstrations,
)
from fcmatch.extract.generation import length_sorted_batches
from fcmatch.extract.greedy import common_prefix_length, greedy_stream
from fcmatch.extract.pipeline import partial_path
from fcmatch.models import load
from fcmatch.tasks.causal import prompt_messages

SENTENCES = [
    "Rain increases crop yield.",
    "Drought sharply lowers the yield of maize in semi-arid regions of eastern Africa.",
    "Ok.",
    "Higher taxes reduce consumption, and lower consumption reduces investment over time.",
    "Trust in institutions improves cooperation.",
    "Fishing pressure depletes stocks.",
    "Urbanisation raises land prices, which pushes farmers out.",
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    return load(str(tiny_model_dir))


@pytest.fixture
def sentences_file(tmp_path: Path) -> Path:
    maps = [CausalMap(s, [Edge("rain", "yield", 1)] if i == 0 else [], source=f"s{i % 2}") for i, s in enumerate(SENTENCES)]
    path = tmp_path / "in.jsonl"
    write_jsonl(maps, path)
    return path


def test_batched_greedy_equals_one_by_one(tiny) -> None:
    model, tokenizer = tiny
    prompts = [chat_prompt(tokenizer, prompt_messages(s)) for s in SENTENCES]
    settings = GenerationSettings(max_new_tokens=12)
    alone = [generate_batch(model, tokenizer, [p], settings)[0] for p in prompts]
    assert generate_batch(model, tokenizer, prompts, settings) == alone


def test_length_sorted_batches_cover_all_longest_first() -> None:
    batches = list(length_sorted_batches([3, 9, 1, 9, 5], 2))
    assert batches == [[1, 3], [4, 0], [2]]
    with pytest.raises(ValueError, match="--batch-size"):
        list(length_sorted_batches([1], 0))


def test_extract_keeps_input_order_and_records_raw(tiny, sentences_file: Path, tmp_path: Path) -> None:
    model, tokenizer = tiny
    out = tmp_path / "pred.jsonl"
    config = ExtractConfig(str(sentences_file), str(out), model="tiny", batch_size=3,
                           generation=GenerationSettings(max_new_tokens=8), progress=False)
    summary = extract(config, model, tokenizer)
    preds = read_jsonl(out)
    assert [p.text for p in preds] == SENTENCES
    assert [p.meta["index"] for p in preds] == list(range(len(SENTENCES)))
    assert all(isinstance(p.meta["raw"], str) and isinstance(p.meta["problems"], list) for p in preds)
    assert preds[0].meta["model"] == "tiny" and preds[1].source == "s1"
    assert summary["generated"] == len(SENTENCES) and not partial_path(out).exists()
    # batch size must not change greedy output
    out1 = tmp_path / "pred1.jsonl"
    extract(ExtractConfig(str(sentences_file), str(out1), model="tiny", batch_size=1,
                          generation=GenerationSettings(max_new_tokens=8), progress=False), model, tokenizer)
    assert [p.meta["raw"] for p in read_jsonl(out1)] == [p.meta["raw"] for p in preds]
    # a finished output is not regenerated
    assert extract(config, model, tokenizer)["generated"] == 0


def test_resume_after_crash_drops_cut_line(tiny, sentences_file: Path, tmp_path: Path) -> None:
    model, tokenizer = tiny
    out = tmp_path / "pred.jsonl"
    settings = GenerationSettings(max_new_tokens=8)
    config = ExtractConfig(str(sentences_file), str(out), model="tiny", batch_size=2, generation=settings, progress=False)
    reference = [p.meta["raw"] for p in extract_maps(model, tokenizer, read_jsonl(sentences_file), config)]

    # simulate a crash: the process dies while writing the third batch
    class Crash(Exception):
        pass

    class DyingSink:
        def __init__(self, handle):
            self.handle, self.batches = handle, 0

        def write(self, text: str) -> None:
            self.batches += 1
            if self.batches == 3:
                self.handle.write(text[: len(text) // 3])  # half a line reaches the disk
                self.handle.flush()
                raise Crash
            self.handle.write(text)

        def flush(self) -> None:
            self.handle.flush()

        def fileno(self) -> int:
            return self.handle.fileno()

    partial = partial_path(out)
    with open(partial, "a", encoding="utf-8") as handle, pytest.raises(Crash):
        extract_maps(model, tokenizer, read_jsonl(sentences_file), config, sink=DyingSink(handle))
    assert not partial.read_text().endswith("\n")  # the cut-off line is there
    summary = extract(config, model, tokenizer)
    assert summary["resumed"] == 4 and summary["generated"] == 3
    preds = read_jsonl(out)
    assert [p.text for p in preds] == SENTENCES
    assert [p.meta["raw"] for p in preds] == reference
    assert not partial.exists()


def test_resume_refuses_partial_from_other_input(sentences_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.jsonl"
    partial_path(out).write_text(json.dumps({"text": "another sentence", "edges": [], "meta": {"index": 0}}) + "\n")
    with pytest.raises(FormatError, match="another input"):
        extract(ExtractConfig(str(sentences_file), str(out), model="unused", progress=False))


def test_config_rejects_contradictions() -> None:
    with pytest.raises(ValueError, match="--demos"):
        ExtractConfig("a", "b", shots=2)
    with pytest.raises(ValueError, match="--threads"):
        ExtractConfig("a", "b", threads=-1)
    with pytest.raises(ValueError, match="--dtype 'bf16'"):
        ExtractConfig("a", "b", dtype="bf16")
    with pytest.raises(ValueError, match="--top-p"):
        GenerationSettings(top_p=0.9)
    with pytest.raises(ValueError, match="--temperature"):
        GenerationSettings(temperature=-1)


def test_pick_demonstrations_mixes_one_none() -> None:
    pool = [CausalMap(f"s{i}", [Edge("a", f"b{i}")]) for i in range(5)] + [CausalMap("n1"), CausalMap("n2")]
    demos = pick_demonstrations(pool, 3, seed=1)
    assert len(demos) == 3 and sum(not d.edges for d in demos) == 1
    assert demos == pick_demonstrations(pool, 3, seed=1)
    with pytest.raises(ValueError, match="--shots"):
        pick_demonstrations(pool, 99)


def test_cli_extract_few_shot_and_sampling(tiny_model_dir: Path, sentences_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "pred.jsonl"
    argv = ["extract", "--model", str(tiny_model_dir), "--input", str(sentences_file), "--output", str(out),
            "--shots", "1", "--demos", str(sentences_file), "--max-new-tokens", "6", "--batch-size", "4",
            "--temperature", "0.8", "--top-p", "0.9", "--seed", "3", "--no-progress"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["sentences"] == len(SENTENCES) and summary["output"] == str(out)
    preds = read_jsonl(out)
    assert len(preds) == len(SENTENCES) and "1-shot" in preds[0].meta["model"]


def test_cli_extract_missing_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["extract", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o.jsonl")]) == 1
    assert "nope.jsonl" in capsys.readouterr().err


def _generate_alone(model, tokenizer, prompt: str, max_new_tokens: int, eos: int) -> list[int]:
    """What plain ``model.generate`` writes for one prompt, greedy."""
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                             pad_token_id=tokenizer.pad_token_id, top_p=None, top_k=None, temperature=None)
    return out[0, ids["input_ids"].shape[1]:].tolist()


def test_shrinking_greedy_equals_model_generate_when_rows_stop_early(tiny) -> None:
    """Rows leave the batch at different steps; each must still decode what model.generate decodes alone."""
    model, tokenizer = tiny
    prompts = [chat_prompt(tokenizer, prompt_messages(s)) for s in SENTENCES]
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]

    def decode(eos: int) -> list[list[int]]:
        done = dict(greedy_stream(model, ids, 10, eos, len(ids), share_prefix=False))
        return [done[i] for i in range(len(ids))]

    free = decode(-1)
    stop = free[0][3]  # a token row 0 writes at step 4: use it as "eos" so rows stop at different steps
    got = decode(stop)
    assert len(got[0]) == 4 and len({len(r) for r in got}) > 1  # rows really left the batch at different steps
    for prompt, row in zip(prompts, got, strict=True):
        assert row == _generate_alone(model, tokenizer, prompt, 10, stop)


@pytest.mark.parametrize(("batch_size", "prefill_tokens"), [(3, 1024), (2, 150), (16, 1024)])
def test_prefix_cached_refilling_greedy_equals_model_generate(tiny, monkeypatch, batch_size, prefill_tokens) -> None:
    """Shared prefix prefilled once, rows refilled as others stop, prefills packed: still model.generate's tokens."""
    model, tokenizer = tiny
    monkeypatch.setattr(greedy, "PREFILL_TOKENS", prefill_tokens)  # 150: one suffix per prefill forward
    prompts = [chat_prompt(tokenizer, prompt_messages(s)) for s in SENTENCES]
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    assert common_prefix_length(ids) > 100  # the byte tokenizer shares the whole instruction
    free = dict(greedy_stream(model, ids, 12, eos_token_id=-1, batch_size=batch_size))
    stop = free[0][4]  # rows then stop at different steps and free their places for waiting prompts
    got = list(greedy_stream(model, ids, 12, eos_token_id=stop, batch_size=batch_size))
    assert sorted(i for i, _ in got) == list(range(len(SENTENCES)))
    assert len({len(row) for _, row in got}) > 1
    for index, row in got:
        assert row == _generate_alone(model, tokenizer, prompts[index], 12, stop), index


def test_common_prefix_length() -> None:
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert common_prefix_length([[1, 2], [3, 4]]) == 0  # no common prefix
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # each row keeps a token to predict from
    assert common_prefix_length([[1, 2], [1, 2, 3, 4]]) == 1  # one prompt is the others' prefix
    assert common_prefix_length([[1, 2, 3]]) == 0 and common_prefix_length([]) == 0  # nothing to share


def test_greedy_without_common_prefix_or_prompts(tiny) -> None:
    model, _ = tiny
    ids = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
    got = dict(greedy_stream(model, ids, 5, eos_token_id=-1, batch_size=2))
    assert got == dict(greedy_stream(model, ids, 5, eos_token_id=-1, batch_size=1, share_prefix=False))
    assert all(len(row) == 5 for row in got.values())
    assert list(greedy_stream(model, [], 5, eos_token_id=-1)) == []


def test_dtype_option_reaches_the_model(tiny_model_dir: Path, sentences_file: Path, tmp_path: Path,
                                        monkeypatch) -> None:
    import fcmatch.models

    real, seen = fcmatch.models.load, []

    def spy(*args, **kwargs):
        model, tokenizer = real(*args, **kwargs)
        seen.append(next(model.parameters()).dtype)
        return model, tokenizer

    monkeypatch.setattr(fcmatch.models, "load", spy)
    main(["extract", "--model", str(tiny_model_dir), "--input", str(sentences_file), "--output",
          str(tmp_path / "cli.jsonl"), "--dtype", "bfloat16", "--max-new-tokens", "4", "--no-progress"])
    extract(ExtractConfig(str(sentences_file), str(tmp_path / "auto.jsonl"), model=str(tiny_model_dir), progress=False,
                          generation=GenerationSettings(max_new_tokens=4)))
    assert seen == [torch.bfloat16, torch.float32]  # auto is fp32 on every CPU
