"""The CPU fast paths for peft LoRA layers keep dropout's statistics and LoRA's values and gradients."""

from __future__ import annotations

import copy

import pytest
import torch

from fcmatch.train.fastlora import FastDropout, drop_mask, speed_up_lora


def test_drop_mask_rate_and_independence():
    torch.manual_seed(0)
    mask = drop_mask(torch.Size([400, 500]), 0.05)
    assert mask.dtype == torch.bool and mask.shape == (400, 500)
    rate = mask.float().mean().item()
    assert abs(rate - 0.05) < 0.002  # 200k draws: standard error 0.0005
    # neighbouring elements come from the same 64-bit draw: they must still be uncorrelated
    pairs = mask.reshape(-1, 4).float()
    assert abs((pairs[:, 0] * pairs[:, 1]).mean().item() - rate * rate) < 0.001
    assert drop_mask(torch.Size([0]), 0.5).numel() == 0


def test_drop_mask_follows_the_seed():
    torch.manual_seed(3)
    first = drop_mask(torch.Size([7, 9]), 0.3)
    torch.manual_seed(3)
    assert torch.equal(first, drop_mask(torch.Size([7, 9]), 0.3))


def test_fast_dropout_forward_and_backward():
    layer = FastDropout(0.25)
    x = torch.randn(64, 33, requires_grad=True)
    out = layer(x)
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / 0.75)
    out.sum().backward()
    expected = kept.float() / 0.75
    assert torch.allclose(x.grad, expected)
    layer.eval()
    assert layer(x) is x


def _peft_model(tiny_model_dir, dropout: float):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules="all-linear", task_type="CAUSAL_LM",
                        init_lora_weights=False)  # non-zero B, so the adapter changes the output
    return get_peft_model(model, config)


def test_fused_lora_matches_peft(tiny_model_dir, monkeypatch):
    reference = _peft_model(tiny_model_dir, 0.0)
    fused = copy.deepcopy(reference)
    counts = speed_up_lora(fused)
    assert counts["fused"] > 0 and counts["dropout"] == 0  # p = 0 stays peft's Identity
    ids = torch.randint(0, 200, (2, 11))
    losses = []
    for model in (reference, fused):
        model.train()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        losses.append(loss)
    calls = []
    addmm = torch.addmm
    monkeypatch.setattr(torch, "addmm", lambda *a, **k: calls.append(1) or addmm(*a, **k))
    fused(input_ids=ids)
    assert len(calls) == counts["fused"]  # every adapted layer took the fused path
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    grads = {n: p.grad for n, p in reference.named_parameters() if p.requires_grad}
    for name, param in fused.named_parameters():
        if param.requires_grad:
            assert torch.allclose(param.grad, grads[name], atol=1e-6), name


def test_fused_lora_falls_back_when_adapters_are_disabled(tiny_model_dir):
    model = _peft_model(tiny_model_dir, 0.1)
    counts = speed_up_lora(model)
    assert counts["dropout"] == counts["fused"] > 0
    model.eval()
    ids = torch.randint(0, 200, (1, 9))
    with torch.no_grad():
        with model.disable_adapter():
            plain = model(input_ids=ids).logits
        adapted = model(input_ids=ids).logits
    assert not torch.allclose(plain, adapted)
    with torch.no_grad():
        model.merge_adapter()
        merged = model(input_ids=ids).logits
    assert torch.allclose(merged, adapted, atol=1e-5)


@pytest.mark.parametrize("method", ["lora", "dora"])
def test_training_methods_use_the_fast_paths(tiny_model_dir, method):
    from transformers import AutoModelForCausalLM

    from fcmatch.train.config import TrainConfig
    from fcmatch.train.fastlora import FastDropout
    from fcmatch.train.methods import METHODS

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = TrainConfig(model=str(tiny_model_dir), method=method, train_file="x.jsonl", lora_dropout=0.05)
    prepared = METHODS[method].prepare(model, config)
    assert any(isinstance(m, FastDropout) for m in prepared.modules())
    fused = sum(type(m).__name__ == "FusedLoraLinear" for m in prepared.modules())
    assert fused > 0  # DoRA layers keep the class too; their forward falls back to peft's variant path


def test_fused_lora_leaves_mixed_precision_to_peft(tiny_model_dir):
    model = _peft_model(tiny_model_dir, 0.0)
    reference = copy.deepcopy(model)
    speed_up_lora(model)
    layer = next(m for m in model.modules() if type(m).__name__ == "FusedLoraLinear")
    ref_layer = dict(reference.named_modules())[next(n for n, m in model.named_modules() if m is layer)]
    layer.base_layer.to(torch.bfloat16)
    ref_layer.base_layer.to(torch.bfloat16)
    x = torch.randn(3, layer.in_features, dtype=torch.bfloat16)
    assert torch.equal(layer(x), ref_layer(x))
