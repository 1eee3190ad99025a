"""End to end on the tiny model: the run folder, falling loss, methods (bitfit on a copy with biases), merge, the CLI,
refusing to overwrite."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from fcmatch.cli import main
from fcmatch.models import load
from fcmatch.train import ConfigError, TrainConfig, merge, sft
from fcmatch.train.data import collate, tokenize
from fcmatch.train.loss import batch_loss_sum

PAIRS = [("rain", "drought"), ("money", "debt"), ("sun", "cold"), ("food", "hunger"), ("work", "poverty"), ("sleep", "stress")]


def causal_records():
    return [{"text": f"More {a} means less {b}.", "edges": [{"cause": a, "effect": b, "sign": "-"}]} for a, b in PAIRS]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from conftest import write_jsonl

    folder = tmp_path_factory.mktemp("data")
    return write_jsonl(folder / "train.jsonl", causal_records())


def config(tiny_model_dir, data, out, **kw) -> TrainConfig:
    base = dict(model=str(tiny_model_dir), train_file=str(data), output_dir=str(out), batch_size=3, max_steps=6,
                lr=1e-2, lora_r=4, warmup_steps=1, save_every=3, eval_every=3, progress=False,
                # one thread: the tiny model's ops take microseconds, and thread syncs dominate on a busy machine
                num_threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "lora"
    return sft(config(tiny_model_dir, data, out, val_file=str(data), max_steps=30, eval_every=10, save_every=10))


def test_run_folder_holds_adapter_config_manifest_metrics(lora_run, tiny_model_dir):
    assert (lora_run / "adapter" / "adapter_model.safetensors").is_file()
    adapter_config = json.loads((lora_run / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(tiny_model_dir)
    assert "lr: 0.01" in (lora_run / "config.yaml").read_text()
    manifest = json.loads((lora_run / "manifest.json").read_text())
    for key in ("packages", "git_commit", "data_sha256", "seed", "hardware", "wall_seconds", "peak_rss_mb", "huge_pages",
                "cpu_allocator"):
        assert key in manifest
    assert manifest["dtype"] == "float32"  # auto on a CPU, whatever its bf16 speed
    lines = [json.loads(x) for x in (lora_run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == list(range(1, 31))
    assert all({"loss", "lr", "tokens_per_s"} <= set(m) for m in lines)
    assert [m["step"] for m in lines if "val_loss" in m] == [10, 20, 30]
    assert [p.name for p in sorted((lora_run / "checkpoints").iterdir())] == ["step-000020", "step-000030"]
    # loss falls on this memorisable data (a run gave 5.55 -> 5.06; val 5.17, 5.07, 5.06)
    assert lines[-1]["loss"] < lines[0]["loss"] - 0.3
    val = [m["val_loss"] for m in lines if "val_loss" in m]
    assert val == sorted(val, reverse=True)


def test_exported_adapter_is_the_best_validation_step_and_loads(lora_run, tiny_model_dir, data):
    best = json.loads((lora_run / "best" / "best.json").read_text())
    lines = [json.loads(x) for x in (lora_run / "metrics.jsonl").read_text().splitlines()]
    assert best["val_loss"] == min(m["val_loss"] for m in lines if "val_loss" in m)
    model, tokenizer = load(lora_run, dtype=torch.float32, device="cpu")
    examples = [tokenize(tokenizer, m) for m in _messages(data)]
    with torch.no_grad():
        loss = batch_loss_sum(model, collate(examples)).item() / sum(e.loss_tokens for e in examples)
    assert loss == pytest.approx(best["val_loss"], rel=1e-5)


def _messages(path):
    from fcmatch.train.data import load_conversations

    return load_conversations(path, "causal")


def test_merge_gives_the_same_logits_as_the_adapter(lora_run, tmp_path):
    merged = merge(lora_run, tmp_path / "merged")
    assert (merged / "config.json").is_file() and (merged / "tokenizer.json").is_file()
    adapted, tokenizer = load(lora_run, dtype=torch.float32, device="cpu")
    plain, _ = load(merged, dtype=torch.float32, device="cpu")
    ids = torch.tensor([tokenizer("More rain means less drought.")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(plain(ids).logits, adapted(ids).logits, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="exists"):
        merge(lora_run, merged)


def test_an_existing_run_is_never_overwritten(lora_run, tiny_model_dir, data):
    before = (lora_run / "adapter" / "adapter_model.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        sft(config(tiny_model_dir, data, lora_run))
    assert (lora_run / "adapter" / "adapter_model.safetensors").read_bytes() == before


def test_bitfit_on_a_model_without_biases_says_so(tiny_model_dir, data, tmp_path):
    with pytest.raises(ConfigError, match="has no bias terms.*use method lora"):
        sft(config(tiny_model_dir, data, tmp_path / "b", method="bitfit"))


@pytest.mark.parametrize("method", ["dora", "qlora"])
def test_adapter_methods_train_their_parameters(tiny_model_dir, data, tmp_path, method):
    # per layer, the 7 linear layers (q k v o gate up down) have sum(in + out) and sum(out) (DoRA magnitudes):
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    h, m, kv = cfg["hidden_size"], cfg["intermediate_size"], cfg["hidden_size"] // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    outs = [h, kv, kv, h, m, m, h]
    ins = [h, h, h, h, h, h, m]
    r, layers = 4, cfg["num_hidden_layers"]
    trainable = layers * (r * (sum(ins) + sum(outs)) + (sum(outs) if method == "dora" else 0))
    assert trainable == {"dora": 9216, "qlora": 8192}[method]  # hidden 64, intermediate 128, 2 layers
    run = sft(config(tiny_model_dir, data, tmp_path / method, method=method, max_steps=2, save_every=0))
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["trainable_parameters"] == trainable
    weights = load_file(run / "adapter" / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())


def test_full_fine_tuning_saves_a_whole_model(tiny_model_dir, data, tmp_path):
    run = sft(config(tiny_model_dir, data, tmp_path / "full", method="full", max_steps=2, save_every=0))
    model, _ = load(run, dtype=torch.float32, device="cpu")  # a full run folder loads its model/
    base, _ = load(str(tiny_model_dir), dtype=torch.float32, device="cpu")
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, base.state_dict()[n])]
    assert "lm_head.weight" in changed and "model.layers.0.mlp.up_proj.weight" in changed


def test_cli_train_with_overrides(tiny_model_dir, data, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tiny_model_dir}\ntrain_file: {data}\nmax_steps: 50\n")
    out = tmp_path / "cli"
    code = main(["train", str(cfg), "--max-steps", "2", "--output-dir", str(out), "--progress", "false",
                 "--batch_size", "2", "--lora-r", "2", "--num-threads", "1"])
    assert code == 0 and f"run folder: {out}" in capsys.readouterr().out
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert main(["train", str(cfg), "--lora-r", "zero"]) == 1
    assert "lora_r: expected an integer" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_gradient_checkpointing_trains_the_same_adapter(tiny_model_dir, data, tmp_path, method):
    """Recomputed forwards redraw the same dropout positions (checkpoint restores the RNG): same weights."""
    runs = [sft(config(tiny_model_dir, data, tmp_path / f"gc{flag}", method=method, lora_dropout=0.2, max_steps=3,
                       save_every=0, eval_every=0, gradient_checkpointing=flag))
            for flag in (False, True)]
    plain, checkpointed = (load_file(run / "adapter" / "adapter_model.safetensors") for run in runs)
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=1e-5, atol=1e-6)
    assert any("lora_B" in name and plain[name].abs().sum() > 0 for name in plain)  # trained, not the zero init


def test_a_malformed_data_file_fails_before_the_model_loads(tiny_model_dir, tmp_path, monkeypatch):
    from fcmatch.train import loop

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "More rain means less drought.", "edges": []}\n{"text": \n', encoding="utf-8")
    monkeypatch.setattr(loop, "_load", lambda *a: pytest.fail("the model loaded before the data was read"))
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        sft(config(tiny_model_dir, bad, tmp_path / "run"))


@pytest.fixture(scope="module")
def biased_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with biases on its attention and MLP projections (zeros, as transformers initialises them)."""
    from conftest import tiny_model_variant

    return tiny_model_variant(tiny_model_dir, tmp_path_factory.mktemp("biased"), attention_bias=True, mlp_bias=True)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_bitfit_trains_the_biases_only(biased_model_dir, data, tmp_path, dtype):
    run = sft(config(biased_model_dir, data, tmp_path / "b", method="bitfit", max_steps=3, eval_every=0, dtype=dtype))
    base = load_file(biased_model_dir / "model.safetensors")
    trained = load_file(run / "model" / "model.safetensors")
    assert trained.keys() == base.keys()
    biases = [k for k in base if k.endswith(".bias")]
    assert len(biases) == 2 * 7  # 2 layers x q k v o gate up down
    for name, tensor in trained.items():
        if name in biases:  # fp16: the biases trained as fp32 master weights, and are exported so
            assert tensor.dtype == torch.float32 and not torch.equal(tensor, base[name].float())
        else:  # every other tensor is the base's, in the run's dtype
            assert torch.equal(tensor, base[name].to(getattr(torch, dtype)))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert ("loss_scale" in lines[0]) == (dtype == "float16")
    model, tokenizer = load(run, device="cpu")  # the mixed fp16/fp32 export loads and runs
    with torch.no_grad():
        assert torch.isfinite(model(torch.tensor([tokenizer("More rain.")["input_ids"]])).logits.float()).all()
