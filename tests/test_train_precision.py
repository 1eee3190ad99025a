"""Mixed precision: a bf16 or fp16 base runs its fp32 adapters under autocast, full training keeps fp32 master
weights, fp16 scales the loss, and the loss scale is checkpointed and restored. On the CPU, where torch.autocast
runs the same way as on CUDA."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from fcmatch.models import load
from fcmatch.train import ConfigError, TrainConfig, loop, sft
from fcmatch.train.data import collate, tokenize
from fcmatch.train.loss import autocast_dtype, batch_loss_sum, use_fp32_master_weights
from fcmatch.train.methods import METHODS, trainable_parameters

RECORDS = [{"text": f"More {a} means less {b}.", "edges": [{"cause": a, "effect": b, "sign": "-"}]}
           for a, b in [("rain", "drought"), ("money", "debt"), ("sun", "cold"), ("food", "hunger")]]


def _lora_model(tiny_model_dir, dtype):
    model, tokenizer = load(str(tiny_model_dir), dtype=dtype, device="cpu")
    model = METHODS["lora"].prepare(model, TrainConfig(model=str(tiny_model_dir), lora_r=4))
    model.train()
    return model, tokenizer


def _batch(tokenizer):
    examples = [tokenize(tokenizer, [{"role": "user", "content": r["text"]},
                                     {"role": "assistant", "content": f"{r['edges'][0]['cause']} -> drought (-)"}])
                for r in RECORDS[:2]]
    return collate(examples, True, tokenizer.pad_token_id or 0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_base_runs_its_fp32_adapters_under_autocast_and_the_loss_in_fp32(tiny_model_dir, dtype):
    model, tokenizer = _lora_model(tiny_model_dir, dtype)
    params = trainable_parameters(model)
    assert params and all(p.dtype == torch.float32 for p in params.values())  # peft keeps adapters in fp32
    assert autocast_dtype(model) == dtype
    seen = []
    lora_a = next(m for name, m in model.named_modules() if name.endswith("q_proj.lora_A.default"))
    lora_a.register_forward_hook(lambda m, i, out: seen.append((out.dtype, torch.is_autocast_enabled("cpu"))))
    loss = batch_loss_sum(model, _batch(tokenizer))
    # without autocast peft would run the adapter in fp32 (it casts the half input up to the adapter's dtype)
    assert seen and all(s == (dtype, True) for s in seen)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert not torch.is_autocast_enabled("cpu")  # left on exit
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
               for p in params.values())


def test_an_fp32_model_runs_without_autocast(tiny_model_dir):
    model, tokenizer = _lora_model(tiny_model_dir, torch.float32)
    assert autocast_dtype(model) is None
    seen = []
    layer = model.get_base_model().model.layers[0]
    layer.register_forward_hook(lambda m, i, out: seen.append(torch.is_autocast_enabled("cpu")))
    batch_loss_sum(model, _batch(tokenizer))
    assert seen == [False]
    scaler = loop._grad_scaler(model, trainable_parameters(model), sharded=False)
    assert not scaler.is_enabled()


def test_fp16_full_training_keeps_fp32_master_weights_and_scales_the_loss(tiny_model_dir):
    model, tokenizer = load(str(tiny_model_dir), dtype=torch.float16, device="cpu")
    model = METHODS["full"].prepare(model, TrainConfig(model=str(tiny_model_dir), method="full"))
    model.train()
    params = trainable_parameters(model)
    assert all(p.dtype == torch.float16 for p in params.values())
    assert use_fp32_master_weights(model, params) == len(params)
    assert all(p.dtype == torch.float32 for p in params.values())  # the same Parameter objects, now fp32
    assert autocast_dtype(model) == torch.float16  # the body still runs in fp16
    seen = []
    q_proj = model.model.layers[0].self_attn.q_proj
    q_proj.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    loss = batch_loss_sum(model, _batch(tokenizer))
    assert seen == [torch.float16] and loss.dtype == torch.float32
    loss.backward()
    assert all(p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all() for p in params.values())
    assert loop._grad_scaler(model, params, sharded=False).is_enabled()


def test_fp32_master_weights_only_for_half_parameters(tiny_model_dir):
    lora, _ = _lora_model(tiny_model_dir, torch.float16)  # adapters are fp32 already
    assert use_fp32_master_weights(lora, trainable_parameters(lora)) == 0
    full, _ = load(str(tiny_model_dir), dtype=torch.float32, device="cpu")
    full = METHODS["full"].prepare(full, TrainConfig(model=str(tiny_model_dir), method="full"))
    assert use_fp32_master_weights(full, trainable_parameters(full)) == 0 and autocast_dtype(full) is None
    full, _ = load(str(tiny_model_dir), dtype=torch.bfloat16, device="cpu")
    full = METHODS["full"].prepare(full, TrainConfig(model=str(tiny_model_dir), method="full"))
    params = trainable_parameters(full)
    assert use_fp32_master_weights(full, params) == len(params)
    assert autocast_dtype(full) == torch.bfloat16 and all(p.dtype == torch.float32 for p in params.values())
    assert not loop._grad_scaler(full, params, sharded=False).is_enabled()  # bf16 needs no loss scaling


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_half_full_run_keeps_updates_smaller_than_a_half_weight_can_hold(tiny_model_dir, tmp_path, dtype):
    from safetensors.torch import load_file

    from conftest import write_jsonl

    data = write_jsonl(tmp_path / "train.jsonl", RECORDS)
    run = sft(TrainConfig(model=str(tiny_model_dir), method="full", train_file=str(data), dtype=dtype,
                          output_dir=str(tmp_path / "run"), batch_size=2, max_steps=1, lr=1e-6, warmup_steps=0,
                          save_every=0, progress=False, num_threads=1))
    metrics = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    # fp16 scaled the loss and the step did not overflow; bf16 needs no scaling
    assert metrics.get("loss_scale") == (2.0**16 if dtype == "float16" else None)
    half = getattr(torch, dtype)
    before, _ = load(str(tiny_model_dir), dtype=half, device="cpu")
    name = "model.layers.0.mlp.up_proj.weight"
    start = before.state_dict()[name]
    trained = load_file(str(run / "model" / "model.safetensors"))[name]
    assert trained.dtype == torch.float32  # the master weights are what the run exports
    moved = trained - start.float()
    assert (moved != 0).float().mean() > 0.9 and moved.abs().max() < 1e-5  # Adam moves each weight by about lr
    # at |w| >= 2^-8 an fp16 step is >= 2^-18 (3.8e-6) and a bf16 one 2^-15: a 1e-6 update to the half weight
    # itself would round away
    large = start.abs() >= 2.0**-8
    assert large.float().mean() > 0.5 and (moved[large] != 0).all()
    assert torch.equal((start.float() + moved).to(half)[large], start[large])


def test_fp16_under_fsdp_is_refused(tiny_model_dir):
    model, _ = _lora_model(tiny_model_dir, torch.float16)
    params = trainable_parameters(model)
    assert loop._grad_scaler(model, params, sharded=False).is_enabled()
    with pytest.raises(ConfigError, match="dtype=float16 with distributed=fsdp"):
        loop._grad_scaler(model, params, sharded=True)


def test_fp16_training_scales_the_loss_and_a_resumed_run_restores_the_scale(tiny_model_dir, tmp_path):
    from conftest import write_jsonl

    data = write_jsonl(tmp_path / "train.jsonl", RECORDS)
    base = dict(model=str(tiny_model_dir), train_file=str(data), output_dir=str(tmp_path / "run"), dtype="float16",
                batch_size=2, max_steps=4, lr=1e-3, lora_r=4, save_every=2, progress=False, num_threads=1)
    run = sft(TrainConfig(**base))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(m["loss"])) for m in lines)
    scales = [m["loss_scale"] for m in lines]
    assert all(s <= 2.0**16 and s == 2.0 ** round(torch.log2(torch.tensor(s)).item()) for s in scales)
    for step in (2, 4):
        saved = torch.load(run / "checkpoints" / f"step-{step:06d}" / "optimizer.pt", weights_only=False)
        assert saved["scaler"]["scale"] == scales[step - 1]
    # resumed from step 2 with the scale changed there: step 3 starts from that scale, not a fresh 65,536
    shutil.rmtree(run / "checkpoints" / "step-000004")
    saved = torch.load(run / "checkpoints" / "step-000002" / "optimizer.pt", weights_only=False)
    saved["scaler"]["scale"] = 1024.0
    torch.save(saved, run / "checkpoints" / "step-000002" / "optimizer.pt")
    sft(TrainConfig(**base, resume=True))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3, 4]
    assert lines[2]["loss_scale"] in (1024.0, 512.0)  # 512: step 3 overflowed and was skipped
