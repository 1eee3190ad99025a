"""distributed=fsdp: two gloo processes with FSDP2 end with the weights of one process on the same global
batch (LoRA, full fine-tuning, QLoRA), and a sharded run's checkpoints resume, under fsdp or ddp.

Processes are forked and joined as in test_train_resume (a second each instead of a fresh interpreter).
"""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file

from fcmatch.models import load
from fcmatch.train import ConfigError, TrainConfig, checkpoint, sft
from test_train_resume import PAIRS, _free_port, _in_child, _rank


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from conftest import write_jsonl

    records = [{"text": f"More {a} means less {b}.", "edges": [{"cause": a, "effect": b, "sign": "-"}]} for a, b in PAIRS]
    return write_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl", records)


@pytest.fixture(scope="module")
def tied_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with its LM head tied to the input embeddings, as in SmolLM2."""
    from conftest import tiny_model_variant

    return tiny_model_variant(tiny_model_dir, tmp_path_factory.mktemp("tied"), tie_word_embeddings=True)


def config(tiny_model_dir, data, out, **kw) -> TrainConfig:
    # dropout off: each process has its own RNG stream
    base = dict(model=str(tiny_model_dir), train_file=str(data), output_dir=str(out), batch_size=2, max_steps=4,
                lr=1e-2, lora_r=4, lora_dropout=0.0, warmup_steps=1, max_grad_norm=0.1, save_every=2,
                distributed="fsdp", progress=False, num_threads=1)
    return TrainConfig(**{**base, **kw})


def _two_processes(cfg: TrainConfig) -> None:
    port = _free_port()
    children = [_in_child(_rank, cfg, rank, port) for rank in (0, 1)]
    for child in children:
        child.join(120)
    assert [c.exitcode for c in children] == [0, 0]


def _weights(run, method):
    return load_file(run / "adapter" / "adapter_model.safetensors") if method != "full" else \
        load_file(run / "model" / "model.safetensors")


def _assert_same(got, expected):
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-5)


def _sgd(params, lr, betas, weight_decay, fused=None):
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, fused=fused)


@pytest.mark.parametrize(
    ("method", "optimizer", "clip", "tied"),
    # AdamW's update hardly changes when every gradient is scaled by one factor, so SGD without clipping
    # checks that gradients are summed over processes (not FSDP's default mean), and AdamW with a clip
    # that acts on every step checks the clip factor comes from the global norm, not a shard's
    [("lora", "adamw", 0.1, False), ("lora", "sgd", 0.0, False), ("full", "sgd", 0.0, False),
     ("full", "sgd", 0.0, True),  # the export keeps the tie (no separate lm_head.weight)
     ("qlora", "sgd", 0.0, False)],  # the NF4 base is stored in the compute dtype, so FSDP shards it too
)
def test_two_sharded_processes_match_one_process_on_the_same_global_batch(
        tiny_model_dir, tied_model_dir, data, tmp_path, monkeypatch, method, optimizer, clip, tied):
    if optimizer == "sgd":
        monkeypatch.setattr(torch.optim, "AdamW", _sgd)  # the forked processes inherit it
    model_dir = tied_model_dir if tied else tiny_model_dir
    kw = dict(method=method, max_grad_norm=clip, lr=1e-2 if optimizer == "adamw" else 0.5)
    # global batch 4 examples: one process x 4 (fsdp alone trains unsharded), or two sharded processes x 2
    single = sft(config(model_dir, data, tmp_path / "one", batch_size=4, **kw))
    _two_processes(config(model_dir, data, tmp_path / "two", **kw))
    expected, got = _weights(single, method), _weights(tmp_path / "two", method)
    _assert_same(got, expected)
    base = load_file(model_dir / "model.safetensors")
    trained = [k for k, v in got.items() if "lora_B" in k or (k in base and not torch.equal(v, base[k]))]
    assert trained  # the weights moved, so the comparison above is not between two untouched copies


def test_a_sharded_run_resumes_under_fsdp_and_ddp(tiny_model_dir, data, tmp_path):
    run = tmp_path / "run"
    cfg = config(tiny_model_dir, data, run, val_file=str(data), eval_every=2)
    _two_processes(cfg)
    whole = _weights(run, "lora")
    for mode in ("fsdp", "ddp"):  # checkpoints hold whole tensors either way
        shutil.rmtree(checkpoint.list_checkpoints(run)[-1])  # as if killed between steps 2 and 4
        shutil.rmtree(run / "adapter")
        _two_processes(config(tiny_model_dir, data, run, val_file=str(data), eval_every=2, resume=True,
                              distributed=mode))
        _assert_same(_weights(run, "lora"), whole)
    model, tokenizer = load(run, dtype=torch.float32, device="cpu")
    ids = torch.tensor([tokenizer("More rain means less drought.")["input_ids"]])
    with torch.no_grad():
        assert torch.isfinite(model(ids).logits).all()


def test_an_unknown_distributed_mode_names_the_key():
    with pytest.raises(ConfigError, match="distributed='deepspeed': choose one of ddp, fsdp"):
        TrainConfig(train_file="t.jsonl", distributed="deepspeed").validate()


def test_bf16_full_training_shards_fp32_master_weights(tiny_model_dir, data, tmp_path, monkeypatch):
    """bf16 ``full`` under FSDP shards the fp32 master weights (made before sharding): the two processes end where
    one process does, and both export fp32."""
    monkeypatch.setattr(torch.optim, "AdamW", _sgd)
    kw = dict(method="full", max_grad_norm=0.0, lr=0.5, dtype="bfloat16")
    single = sft(config(tiny_model_dir, data, tmp_path / "one", batch_size=4, **kw))
    _two_processes(config(tiny_model_dir, data, tmp_path / "two", **kw))
    expected, got = _weights(single, "full"), _weights(tmp_path / "two", "full")
    assert all(v.dtype == torch.float32 for v in (*expected.values(), *got.values()))
    assert got.keys() == expected.keys()
    for name in expected:  # bf16 products: the two runs' rows are packed differently
        torch.testing.assert_close(got[name], expected[name], rtol=1e-2, atol=1e-3)
    base = load_file(tiny_model_dir / "model.safetensors")
    assert max((got[k] - base[k].float()).abs().max() for k in base) > 0.1  # moved far more than the tolerance
