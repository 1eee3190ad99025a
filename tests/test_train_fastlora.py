"""The CPU fast paths for peft LoRA layers keep dropout's statistics and LoRA's values and gradients."""

from __future__ import annotations

import copy

import pytest
import torch

from fcmatch.train.cpu import attention, fastlora, kernels, llama, swiglu
from fcmatch.train.cpu.dropout import FastDropout, drop_positions
from fcmatch.train.cpu.fastlora import _GroupedLora, _LoraLinear
from fcmatch.train.cpu.patch import speed_up_lora
from fcmatch.train.cpu.swiglu import _SwiGLULora


@pytest.fixture(autouse=True, params=["c-kernels", "torch-ops"])
def kernel_path(request, monkeypatch):
    """Every test runs twice: with fcmatch's C kernels, and with the PyTorch operations used without a compiler."""
    if request.param == "torch-ops":
        monkeypatch.setattr(kernels, "library", lambda: None)
    elif kernels.library() is None:
        pytest.skip("the C kernels could not be built here (no C compiler)")
    return request.param


def test_drop_positions_rate_independence_and_range():
    torch.manual_seed(0)
    n = 400 * 500
    positions = drop_positions(n, 0.05)
    assert positions.dtype == torch.int64
    assert bool((positions[1:] > positions[:-1]).all()) and int(positions[0]) >= 0 and int(positions[-1]) < n
    mask = torch.zeros(n, dtype=torch.bool)
    mask[positions] = True
    rate = mask.float().mean().item()
    assert abs(rate - 0.05) < 0.002  # 200k elements: standard error 0.0005
    # i.i.d.: a dropped element makes its neighbour no more or less likely to drop
    pairs = mask.reshape(-1, 2).float()
    assert abs((pairs[:, 0] * pairs[:, 1]).mean().item() - rate * rate) < 0.001
    assert drop_positions(0, 0.5).numel() == 0
    assert drop_positions(10, 0.0).numel() == 0
    assert torch.equal(drop_positions(6, 1.0), torch.arange(6))


def test_drop_positions_first_gap_is_geometric():
    torch.manual_seed(1)
    p, k, trials = 0.1, 10, 4000
    beyond = sum(int(len(d) == 0 or int(d[0]) >= k) for d in (drop_positions(40, p) for _ in range(trials)))
    expected = (1 - p) ** k  # 0.349; standard error of the estimate ~0.0075
    assert abs(beyond / trials - expected) < 0.03


def test_drop_positions_draws_more_when_short():
    torch.manual_seed(2)
    # p tiny relative to n: the first batch of uniforms may not reach n; the loop must still cover [0, n)
    counts = [len(drop_positions(1000, 0.002)) for _ in range(300)]
    assert abs(sum(counts) / 300 - 2.0) < 0.4


def test_drop_positions_follows_the_seed():
    torch.manual_seed(3)
    first = drop_positions(63, 0.3)
    torch.manual_seed(3)
    assert torch.equal(first, drop_positions(63, 0.3))


def test_fast_dropout_forward_and_backward():
    layer = FastDropout(0.25)
    x = torch.randn(64, 33, requires_grad=True)
    out = layer(x)
    kept = out != 0
    assert 0.6 < kept.float().mean().item() < 0.9
    assert torch.allclose(out[kept], x[kept] / 0.75)
    out.sum().backward()
    expected = kept.float() / 0.75
    assert torch.allclose(x.grad, expected)
    layer.eval()
    assert layer(x) is x


def _frozen_linear(n_in: int, n_out: int, bias: bool) -> torch.nn.Linear:
    base = torch.nn.Linear(n_in, n_out, bias=bias)
    base.requires_grad_(False)
    return base


@pytest.mark.parametrize("bias,rank", [(False, 4), (True, 4), (False, 16)])
def test_fused_function_matches_autograd_with_dropout(bias, rank):
    torch.manual_seed(0)
    x = torch.randn(2, 7, 12, requires_grad=True)
    base = _frozen_linear(12, 9, bias)
    lora_a = torch.randn(rank, 12, requires_grad=True)
    lora_b = torch.randn(9, rank, requires_grad=True)
    grad = torch.randn(2, 7, 9)
    torch.manual_seed(5)
    out = _LoraLinear.apply(x, lora_a, lora_b, base, 0.5, 0.3)
    out.backward(grad)
    fused = [t.grad.clone() for t in (x, lora_a, lora_b)]
    for t in (x, lora_a, lora_b):
        t.grad = None
    torch.manual_seed(5)  # the same positions, drawn the same way
    keep = torch.ones(x.numel())
    keep[drop_positions(x.numel(), 0.3)] = 0
    dropped = x * keep.view(x.shape) / 0.7
    reference = base(x) + 0.5 * (dropped @ lora_a.t()) @ lora_b.t()
    assert torch.allclose(out, reference, atol=1e-5)
    reference.backward(grad)
    for got, t in zip(fused, (x, lora_a, lora_b), strict=True):
        assert torch.allclose(got, t.grad, atol=1e-5)


@pytest.mark.parametrize("rank", [4, 16])
def test_grouped_function_matches_autograd_with_dropout(kernel_path, rank):
    """q, k and v (or gate and up) as one function: one product with the stacked A matrices, dropout as a sparse
    correction, the J masks one draw over J inputs; values and gradients are those of J separate LoRA layers
    with those masks (different output widths, a bias, different scalings). Rank 16 takes the one-pass low-rank
    gradients (``kernels.lora_low_grads``), rank 4 the two products."""
    if kernel_path != "c-kernels":
        pytest.skip("grouped adapters run on the C kernels; without them each layer takes _LoraLinear")
    torch.manual_seed(0)
    x = torch.randn(3, 13, 24, requires_grad=True)
    widths = (24, 8, 8)
    bases = tuple(_frozen_linear(24, width, bias=j == 1) for j, width in enumerate(widths))
    weights = [w.requires_grad_() for width in widths for w in (torch.randn(rank, 24), torch.randn(width, rank))]
    scalings, p = (0.5, 0.7, 2.0), 0.3
    grads = [torch.randn(3, 13, width) for width in widths]
    torch.manual_seed(5)
    outs = _GroupedLora.apply(x, bases, scalings, p, None, *weights)
    torch.autograd.backward(outs, grads)
    fused = [t.grad.clone() for t in (x, *weights)]
    for t in (x, *weights):
        t.grad = None
    torch.manual_seed(5)  # the same positions: one draw over the three inputs
    keep = torch.ones(3 * x.numel())
    keep[drop_positions(3 * x.numel(), p)] = 0
    keep = keep.view(3, *x.shape)
    reference = [base(x) + scaling * ((x * keep[j] / (1 - p)) @ weights[2 * j].t()) @ weights[2 * j + 1].t()
                 for j, (base, scaling) in enumerate(zip(bases, scalings, strict=True))]
    for got, want in zip(outs, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    torch.autograd.backward(reference, grads)
    for got, t in zip(fused, (x, *weights), strict=True):
        torch.testing.assert_close(got, t.grad, rtol=1e-5, atol=1e-4)


def test_grouped_function_rebuilds_a_normed_input_instead_of_keeping_it(kernel_path):
    """Given the RMSNorm that produced x, backward keeps the norm's input (which the norm keeps anyway), recomputes x
    from it, and gives the same values and gradients, down to the norm's input, as when it keeps x."""
    if kernel_path != "c-kernels":
        pytest.skip("grouped adapters and the fused RMSNorm run on the C kernels")
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    torch.manual_seed(0)
    norm = LlamaRMSNorm(24, eps=1e-5)
    norm.weight.data.uniform_(0.5, 1.5)
    norm.weight.requires_grad_(False)
    speed_up_lora(torch.nn.Sequential(norm))
    bases = tuple(_frozen_linear(24, width, bias=False) for width in (24, 8))
    weights = [w.requires_grad_() for width in (24, 8) for w in (torch.randn(4, 24), torch.randn(width, 4))]
    source = torch.randn(2, 9, 24, requires_grad=True)
    grads = [torch.randn(2, 9, width) for width in (24, 8)]
    results = []
    for rebuild in (False, True):
        x = norm(source)
        tag = llama.normed_source(x)
        assert tag is not None and tag[0] is source
        torch.manual_seed(5)
        outs = _GroupedLora.apply(x, bases, (0.5, 2.0), 0.2, tag if rebuild else None, *weights)
        kept = outs[0].grad_fn.saved_tensors[0]  # what backward keeps of x: the norm's input, or x itself
        assert kept.data_ptr() == (source if rebuild else x).data_ptr() and kept.shape == (source.shape if rebuild
                                                                                          else (18, 24))
        torch.autograd.backward(outs, grads)
        results.append([t.detach().clone() for t in outs] + [t.grad.clone() for t in (source, *weights)])
        for t in (source, *weights):
            t.grad = None
    for got, want in zip(results[1], results[0], strict=True):  # MKL may round differently for another buffer
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    x = norm(source)
    with torch.no_grad():
        x.add_(1.0)  # an in-place change: x is no longer the norm of its input
    assert llama.normed_source(x) is None
    with torch.inference_mode():  # generation with the trained model: no version counters, nothing to tag
        y = norm(source.detach())
    assert llama.normed_source(y) is None
    torch.testing.assert_close(y, x.detach() - 1.0)


def test_fused_function_skips_gradients_nobody_needs():
    x = torch.randn(5, 6)  # e.g. the first layer's input: embeddings frozen
    lora_a = torch.randn(2, 6, requires_grad=True)
    lora_b = torch.zeros(3, 2, requires_grad=True)
    out = _LoraLinear.apply(x, lora_a, lora_b, _frozen_linear(6, 3, False), 2.0, 0.0)
    out.sum().backward()
    assert x.grad is None and lora_b.grad is not None and lora_a.grad is not None


def test_fused_qlora_matches_peft(tiny_model_dir, monkeypatch):
    """A 4-bit NF4 base (bitsandbytes' CPU kernels): the fused layers give peft's loss and adapter gradients."""
    pytest.importorskip("bitsandbytes")
    from peft import LoraConfig, get_peft_model

    from fcmatch.models import load

    models = []
    for _ in range(2):
        base, _tokenizer = load(str(tiny_model_dir), quantize="nf4", dtype=torch.float32, device="cpu")
        torch.manual_seed(0)
        config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM",
                            init_lora_weights=False)
        models.append(get_peft_model(base, config))
    counts = speed_up_lora(models[1])
    assert counts["fused"] > 0 and counts["mlp"] > 0
    assert {type(m).__name__ for m in models[1].modules()} >= {"FusedLoraLinear4bit", "FusedSwiGLULlamaMLP"}
    ids = torch.randint(0, 200, (2, 11))
    calls = _count_calls(monkeypatch)
    losses = []
    for model in models:
        model.train()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        losses.append(loss)
    assert len(calls) == counts["fused"]  # every 4-bit layer of the second model took the fused path
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-5)
    grads = {n: p.grad for n, p in models[0].named_parameters() if p.requires_grad}
    assert grads
    for name, param in models[1].named_parameters():
        if param.requires_grad:
            torch.testing.assert_close(param.grad, grads[name], rtol=1e-4, atol=1e-5)


def _count_calls(monkeypatch) -> list[int]:
    """A list that gets one item per layer run by a fused autograd function (a down layer inside an MLP: one; a
    grouped call of q, k and v: three)."""
    calls: list[int] = []
    for function in (_LoraLinear, _SwiGLULora):
        apply = function.apply
        monkeypatch.setattr(function, "apply", lambda *a, apply=apply: calls.append(1) or apply(*a))
    grouped = _GroupedLora.apply
    monkeypatch.setattr(_GroupedLora, "apply", lambda *a: calls.extend([1] * len(a[1])) or grouped(*a))
    return calls


def _peft_model(tiny_model_dir, dropout: float, rank: int = 4):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=dropout, target_modules="all-linear", task_type="CAUSAL_LM",
                        init_lora_weights=False)  # non-zero B, so the adapter changes the output
    return get_peft_model(model, config)


def test_fused_lora_matches_peft(tiny_model_dir, monkeypatch):

    reference = _peft_model(tiny_model_dir, 0.0)
    fused = copy.deepcopy(reference)
    counts = speed_up_lora(fused)
    assert counts["fused"] > 0 and counts["dropout"] == 0  # p = 0 stays peft's Identity
    ids = torch.randint(0, 200, (1, 11))  # one row, as training packs them: the rotary attention and grouped q/k/v
    losses = []
    for model in (reference, fused):
        model.train()
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        losses.append(loss)
    calls = _count_calls(monkeypatch)
    grouped = []
    monkeypatch.setattr(fastlora, "_GroupedLora", type("Counted", (), {"apply": lambda *a: grouped.append(len(a[1]))
                                                                        or _GroupedLora.apply(*a)}))
    fused(input_ids=ids, use_cache=False)  # as in training (no KV cache): the fused attention
    assert len(calls) == counts["fused"]  # every adapted layer took the fused path
    if kernels.library() is not None:  # q, k and v together, gate and up together, in each of the 2 layers
        assert sorted(grouped) == [2, 2, 3, 3]
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

    from fcmatch.train import cpu
    from fcmatch.train.config import TrainConfig
    from fcmatch.train.methods import METHODS

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = TrainConfig(model=str(tiny_model_dir), method=method, train_file="x.jsonl", lora_dropout=0.05)
    prepared = METHODS[method].prepare(model, config)
    assert not any(isinstance(m, FastDropout) for m in prepared.modules())  # the methods are plain peft
    cpu.prepare(prepared, config)
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


@pytest.mark.parametrize("dropout,rank", [(0.0, 4), (0.2, 4), (0.2, 16)])
def test_fused_mlp_matches_the_unfused_layers(tiny_model_dir, dropout, rank, monkeypatch):
    """The down layer's SwiGLU function gives the per-layer fused path's loss and gradients, dropout included
    (the same seed draws the same positions: gate, up, then down). At rank 16 both take the one-pass low-rank
    gradients and the register-summed dropout correction."""
    from conftest import assert_same_training_step

    for module in (swiglu, attention):  # no grouping
        monkeypatch.setattr(module, "_project", lambda x, layers: tuple(layer(x) for layer in layers))
    reference = _peft_model(tiny_model_dir, dropout, rank)
    speed_up_lora(reference)
    for module in reference.modules():  # the reference keeps the per-layer functions only
        if isinstance(module, swiglu._FusedSwiGLU):
            module.__class__ = type(module).__mro__[2]
    fused = copy.deepcopy(reference)
    counts = speed_up_lora(fused)
    assert counts["mlp"] == 2 and not any(isinstance(m, swiglu._FusedSwiGLU) for m in reference.modules())
    assert_same_training_step(reference, fused, torch.randint(0, 200, (2, 13)), seed=5)


def test_fused_mlp_keeps_two_intermediate_tensors(tiny_model_dir):
    """Backward keeps gate(x) and up(x) per MLP, not the four intermediate-sized tensors of plain autograd."""

    model = _peft_model(tiny_model_dir, 0.1)
    speed_up_lora(model)
    mlp = next(m for m in model.modules() if isinstance(m, swiglu._FusedSwiGLU))
    width = mlp.down_proj.in_features
    ids = torch.randint(0, 200, (1, 17))
    model.train()

    def kept_of_width(fuse: bool) -> int:
        for module in model.modules():
            if isinstance(module, swiglu._FusedSwiGLU) and not fuse:
                module.__class__ = type(module).__mro__[2]
        if fuse:
            speed_up_lora(model)
        seen: dict[int, torch.Tensor] = {}

        def pack(tensor):
            if tensor.shape[-1:] == (width,) and tensor.numel() == 17 * width:
                seen[tensor.untyped_storage().data_ptr()] = tensor
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(input_ids=ids, labels=ids)
        return len(seen)

    layers = sum(isinstance(m, swiglu._FusedSwiGLU) for m in model.modules())
    assert kept_of_width(fuse=False) == 4 * layers
    assert kept_of_width(fuse=True) == 2 * layers


def test_sped_up_model_generates_like_peft_under_inference_mode(tiny_model_dir):
    """After training, the same in-memory model decodes under inference_mode (no version counters, KV cache): the
    fast paths step aside or apply and the tokens are peft's."""
    reference = _peft_model(tiny_model_dir, 0.1)
    fused = copy.deepcopy(reference)
    speed_up_lora(fused)
    ids = torch.randint(0, 200, (1, 7))
    outs = []
    for model in (reference, fused):
        model.eval()
        with torch.inference_mode():
            outs.append(model.generate(input_ids=ids, max_new_tokens=5, do_sample=False))
    assert torch.equal(outs[0], outs[1])


def test_decoder_layers_add_the_residual_into_the_fused_output(tiny_model_dir):
    """After speed_up_lora the MLP's output tensor becomes the layer's output (the residual added in place), and
    the loss and adapter gradients stay peft's; an output that no fused function made is not touched."""
    from conftest import assert_same_training_step

    reference = _peft_model(tiny_model_dir, 0.0)
    fused = copy.deepcopy(reference)
    counts = speed_up_lora(fused)
    layers = fused.config.num_hidden_layers
    assert counts["residual"] == layers
    seen = {}
    layer = fused.base_model.model.model.layers[0]
    layer.mlp.register_forward_hook(lambda m, i, out: seen.__setitem__("mlp", out.data_ptr()))
    layer.register_forward_hook(lambda m, i, out: seen.__setitem__("layer", out.data_ptr()))
    assert_same_training_step(reference, fused, torch.randint(0, 200, (1, 11)), loss_tol=1e-5, grad_rtol=1e-4)
    assert seen["mlp"] == seen["layer"]

    out, residual = torch.randn(2, 3), torch.randn(2, 3)
    kept = out.clone()
    total = llama.add_residual(out, residual)
    assert torch.equal(out, kept) and torch.equal(total, kept + residual)
