"""PBFT through the training engine on tiny models: LoRA learns the k labels, BitFit moves only the biases
(a tiny Llama with attention and MLP biases), BitFit without biases is a clear error, dev selection."""

import pytest
import torch

from fcmatch.config import ConfigError
from fcmatch.fewshot.data import ClassRecord
from fcmatch.fewshot.patterns import pattern_from_dict
from fcmatch.fewshot.pbft import PBFTConfig, drop_weights, exported, train_pbft
from fcmatch.fewshot.scoring import score

YN = pattern_from_dict({"name": "yn", "template": "{text1} / {text2}", "prefix": " =", "verbalizer": {"yes": "Y", "no": "N"}})
TRAIN = [ClassRecord(f"{'up' if i % 2 else 'down'} {i}", "rises", "yes" if i % 2 else "no") for i in range(8)]
FAST = PBFTConfig(epochs=15, lr=5e-3, batch_size=4, warmup_ratio=0.0)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from fcmatch.models import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


def test_pbft_lora_fits_the_k_examples(tiny_model_dir, tokenizer, tmp_path):
    from fcmatch.models import load

    run = train_pbft(str(tiny_model_dir), tokenizer, YN, TRAIN, [], "pbft-lora", 0, tmp_path / "run", FAST)
    assert exported(run) and (run / "adapter").is_dir()
    model, _ = load(str(run), device="cpu", dtype=torch.float32)
    assert score(model, tokenizer, YN, TRAIN).predictions == [r.label for r in TRAIN]
    assert train_pbft(str(tiny_model_dir), tokenizer, YN, TRAIN, [], "pbft-lora", 0, run, FAST) == run  # reused
    drop_weights(run)
    assert not (run / "adapter").exists() and (run / "manifest.json").is_file()


def test_pbft_bitfit_moves_only_biases(tiny_model_dir, tokenizer, tmp_path):
    from safetensors.torch import load_file

    from conftest import tiny_model_variant

    biased = tiny_model_variant(tiny_model_dir, tmp_path / "biased", attention_bias=True, mlp_bias=True)
    run = train_pbft(str(biased), tokenizer, YN, TRAIN, [], "pbft-bitfit", 0, tmp_path / "run", FAST)
    before, after = load_file(str(biased / "model.safetensors")), load_file(str(run / "model" / "model.safetensors"))
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    assert moved and all(name.endswith(".bias") for name in moved)


def test_pbft_bitfit_without_biases_is_a_clear_error(tiny_model_dir, tokenizer, tmp_path):
    with pytest.raises(ConfigError, match="no bias terms"):
        train_pbft(str(tiny_model_dir), tokenizer, YN, TRAIN, [], "pbft-bitfit", 0, tmp_path / "run", FAST)


def test_pbft_dev_selection_records_the_best_dev_loss(tiny_model_dir, tokenizer, tmp_path):
    import json

    config = PBFTConfig(epochs=4, lr=5e-3, batch_size=4, selection="dev", eval_every=2)
    run = train_pbft(str(tiny_model_dir), tokenizer, YN, TRAIN[:4], TRAIN[4:], "pbft-lora", 0, tmp_path / "run", config)
    assert json.loads((run / "manifest.json").read_text())["best_val_loss"] is not None
    assert (tmp_path / "run-data" / "dev.jsonl").is_file()
    with pytest.raises(ConfigError, match="selection"):
        PBFTConfig(selection="test").validate()
