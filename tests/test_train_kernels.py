"""fcmatch's C training kernels equal their PyTorch twins, draw dropout with the right law, and fall back cleanly."""

from __future__ import annotations

import logging
import math

import pytest
import torch
import torch.nn.functional as F

from fcmatch.models import cpu_flags
from fcmatch.train.cpu import kernels

needs_kernels = pytest.mark.skipif(kernels.library() is None, reason="the C kernels could not be built here")


@needs_kernels
def test_swiglu_forward_and_backward_match_autograd():
    torch.manual_seed(0)
    gate = (torch.randn(37, 96) * 4).requires_grad_()  # wide range: the sigmoid saturates at both ends
    up = torch.randn(37, 96, requires_grad=True)
    grad = torch.randn(37, 96)
    reference = F.silu(gate) * up
    reference.backward(grad)
    torch.testing.assert_close(kernels.swiglu(gate.detach(), up.detach()), reference.detach(), rtol=1e-5, atol=1e-6)
    grad_gate = grad.clone()
    grad_up, grad_a = kernels.swiglu_backward(grad_gate, gate.detach(), up.detach())
    assert grad_a is None
    torch.testing.assert_close(grad_up, up.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_gate, gate.grad, rtol=1e-5, atol=1e-6)


@needs_kernels
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_swiglu_backward_makes_the_down_adapters_lora_a_gradient(threads, p):
    """lora_A's gradient of the down layer, grad_low^T D(silu(gate) * up) / (1 - p), made in the SwiGLU backward's
    pass: rows not a multiple of the kernel's 8-row blocks, columns not of its 128-column blocks, an odd rank, and
    a row-strided grad_low."""
    torch.manual_seed(3)
    rows, m, rank = 45, 300, 5
    gate, up, grad = torch.randn(rows, m) * 3, torch.randn(rows, m), torch.randn(rows, m)
    grad_low = torch.randn(rows, rank + 3)[:, 1:rank + 1]
    gate_leaf, up_leaf = gate.clone().requires_grad_(), up.clone().requires_grad_()
    (F.silu(gate_leaf) * up_leaf).backward(grad)  # the reference gradients of gate and up
    hidden = F.silu(gate) * up
    positions = kernels.drop_positions(rows * m, p, seed=11) if p else None
    dropped = hidden.flatten().index_fill(0, positions, 0.0).view(rows, m) if p else hidden
    scale = 1.0 / (1.0 - p)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        grad_gate = grad.clone()
        grad_up, grad_a = kernels.swiglu_backward(grad_gate, gate, up, grad_low, positions, scale)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(grad_a, grad_low.t() @ dropped * scale, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_up, up_leaf.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_gate, gate_leaf.grad, rtol=1e-5, atol=1e-5)


@needs_kernels
def test_rms_norm_matches_llama_rms_norm():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    torch.manual_seed(1)
    norm = LlamaRMSNorm(48, eps=1e-5)
    norm.weight.data.normal_()
    norm.weight.requires_grad_(False)
    x = (torch.randn(2, 13, 48) * 3).requires_grad_()
    grad = torch.randn(2, 13, 48)
    reference = norm(x)
    reference.backward(grad)
    out, rstd = kernels.rms_norm(x.detach(), norm.weight, 1e-5)
    torch.testing.assert_close(out, reference.detach(), rtol=1e-5, atol=1e-6)
    assert rstd.shape == (26,)
    torch.testing.assert_close(rstd, x.detach().pow(2).mean(-1).add(1e-5).rsqrt().reshape(-1))
    torch.testing.assert_close(kernels.rms_norm_backward(grad, x.detach(), norm.weight, rstd), x.grad, rtol=1e-5,
                               atol=1e-6)


@needs_kernels
def test_dropped_and_zero_positions_equal_index_fill():
    torch.manual_seed(2)
    x = torch.randn(300, 70)
    positions = torch.unique(torch.randint(0, x.numel(), (900,)))  # sorted, spread over both threads' halves
    expected = x.reshape(-1).mul(1.25).index_fill_(0, positions, 0.0).view(x.shape)
    assert torch.equal(kernels.dropped(x, positions, 1.25), expected)
    zeroed = x.clone()
    kernels.zero_positions(zeroed, positions)
    assert torch.equal(zeroed, x.reshape(-1).index_fill(0, positions, 0.0).view(x.shape))
    assert torch.equal(kernels.dropped(x, positions[:0], 2.0), x * 2.0)


@needs_kernels
@pytest.mark.parametrize("p", [0.05, 0.5, 0.9])
def test_drop_positions_law(p):
    """Rate, independence of neighbours and the geometric gap law of an i.i.d. Bernoulli(p) mask."""
    torch.manual_seed(3)
    n = 2_000_000
    positions = kernels.drop_positions(n, p)
    assert positions.dtype == torch.int64
    assert bool((positions[1:] > positions[:-1]).all()) and int(positions[0]) >= 0 and int(positions[-1]) < n
    rate = positions.numel() / n
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n)
    gaps = torch.diff(positions)
    for k in (1, 2, 5):  # P(G = k) = (1-p)^(k-1) p
        expected = (1 - p) ** (k - 1) * p
        observed = (gaps == k).double().mean().item()
        assert abs(observed - expected) < 5 * math.sqrt(expected * (1 - expected) / gaps.numel()), k
    mask = torch.zeros(n, dtype=torch.bool)
    mask[positions] = True
    pairs = mask.reshape(-1, 2).double()
    assert abs((pairs[:, 0] * pairs[:, 1]).mean().item() - rate * rate) < 5 * math.sqrt(rate * rate / (n / 2))


@needs_kernels
def test_drop_positions_follow_torch_seed_and_grow_their_buffer():
    torch.manual_seed(4)
    first, second = kernels.drop_positions(5000, 0.3), kernels.drop_positions(5000, 0.3)
    torch.manual_seed(4)
    assert torch.equal(first, kernels.drop_positions(5000, 0.3)) and not torch.equal(first, second)
    # a buffer too small for the draw says so (-1); the wrapper retries the same seed with room
    out = torch.empty(3, dtype=torch.int64)
    draw = kernels.library().fc_drop_positions
    assert draw(out.data_ptr(), 3, 1000, math.log1p(-0.5), 7, kernels.DROP_SEGMENT, 2) == -1
    full = torch.empty(2000, dtype=torch.int64)
    count = draw(full.data_ptr(), 2000, 1000, math.log1p(-0.5), 7, kernels.DROP_SEGMENT, 2)
    assert 400 < count < 600 and torch.equal(out, full[:3])


@needs_kernels
def test_drop_positions_fit_their_first_buffer():
    """A down layer's input of 1,198 tokens (1,840,128 elements: 7 segments and 5,120 more) is cut into 8 equal
    segments, each with 8 standard deviations of room; with 7 whole segments and a short last one, 21 of 300
    first draws overflowed and were drawn again."""
    n, p = 1198 * 1536, 0.05
    cap = kernels.drop_capacity(n, p)
    out = torch.empty(cap, dtype=torch.int64)
    draw = kernels.library().fc_drop_positions
    counts = [draw(out.data_ptr(), cap, n, math.log1p(-p), seed * 7919 + 1, kernels.DROP_SEGMENT, 2)
              for seed in range(200)]
    assert min(counts) > 0


def test_drop_positions_in_segments_keep_the_law_and_ignore_the_thread_count(monkeypatch):
    """Segments drawn in parallel from streams of one seed: the same positions on 1 and 2 threads, sorted and
    unique, the rate right in every segment and across the segment boundaries."""
    monkeypatch.setattr(kernels, "DROP_SEGMENT", 1000)
    n, p = 400_000, 0.05
    draws = []
    threads = torch.get_num_threads()
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            torch.manual_seed(11)
            draws.append(kernels.drop_positions(n, p))
    finally:
        torch.set_num_threads(threads)
    positions = draws[0]
    assert torch.equal(positions, draws[1])
    assert bool((positions[1:] > positions[:-1]).all()) and int(positions[0]) >= 0 and int(positions[-1]) < n
    mask = torch.zeros(n)
    mask[positions] = 1
    se = math.sqrt(p * (1 - p) / n)
    assert abs(float(mask.mean()) - p) < 5 * se
    edges = mask.view(-1, 1000)[:, [0, 999]]  # the first and last element of every segment
    assert abs(float(edges.mean()) - p) < 5 * math.sqrt(p * (1 - p) / edges.numel())
    first, second = mask.view(-1, 1000)[:200].sum(1), mask.view(-1, 1000)[200:].sum(1)
    assert not torch.equal(first, second)  # segments draw from different streams


@needs_kernels
def test_loading_the_kernels_keeps_denormals_and_records_the_build():
    """Built without -ffast-math: with GCC before 13 a shared library built with it turns on flush-to-zero and
    denormals-are-zero for the whole process when it loads (a float32 1e-39 then reads as 0 in torch too)."""
    library = kernels.library()
    assert float(torch.tensor([1e-39]) * 1.0) > 0
    assert library.build is None or ("-ffast-math" not in library.build["flags"] and "-O3" in library.build["flags"])
    assert library.isa in ("avx512f", "avx2", "avx", "sse2", "neon", "generic")


def test_kernels_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("FCMATCH_KERNELS", "0")
    kernels.library.cache_clear()
    try:
        assert kernels.library() is None and not kernels.usable(torch.zeros(2))
    finally:
        kernels.library.cache_clear()


def test_a_failing_compiler_falls_back_with_a_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("FCMATCH_HOME", str(tmp_path))  # no cached library there
    monkeypatch.setenv("CC", "false")
    kernels.library.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="fcmatch.train.cpu.kernels"):
            assert kernels.library() is None
        assert "kernels are unavailable" in caplog.text and "false failed on" in caplog.text
        assert not list((tmp_path / "kernels").glob("*"))  # no half-written library left behind
    finally:
        kernels.library.cache_clear()


@needs_kernels
def test_usable_wants_contiguous_fp32_cpu_tensors():
    assert kernels.usable(torch.zeros(3, 4), torch.zeros(4))
    assert not kernels.usable(torch.zeros(3, 4).t())
    assert not kernels.usable(torch.zeros(3, 4, dtype=torch.float64))


@needs_kernels
def test_lora_models_get_the_fused_norms_and_rotary_embedding(tiny_model_dir):
    """speed_up_lora swaps Llama RMSNorms and attention layers; with a frozen norm weight the model's loss and
    adapter gradients are unchanged, and a trainable weight takes the original forward (its gradient included)."""
    import copy

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from conftest import assert_same_training_step
    from fcmatch.train.cpu.attention import _FusedRotaryAttention
    from fcmatch.train.cpu.llama import FusedRMSNorm
    from fcmatch.train.cpu.patch import speed_up_lora

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    reference = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                 task_type="CAUSAL_LM", init_lora_weights=False))
    fused = copy.deepcopy(reference)
    counts = speed_up_lora(fused)
    layers = model.config.num_hidden_layers
    assert counts["norm"] == 2 * layers + 1 and counts["rotary"] == layers and counts["residual"] == layers
    assert sum(isinstance(m, FusedRMSNorm) for m in fused.modules()) == 2 * layers + 1
    assert sum(isinstance(m, _FusedRotaryAttention) for m in fused.modules()) == layers
    assert_same_training_step(reference, fused, torch.randint(0, 200, (2, 11)), loss_tol=1e-5, grad_rtol=1e-4)
    norm = next(m for m in fused.modules() if isinstance(m, FusedRMSNorm))
    norm.weight.requires_grad_(True)
    norm(torch.randn(3, norm.weight.shape[0])).sum().backward()
    assert norm.weight.grad is not None


class _Packed(torch.nn.Module):
    """A model called with fixed packed position ids; ``sdpa_only`` keeps the attention kernel out of its forward."""

    def __init__(self, inner, positions, sdpa_only=False):
        super().__init__()
        self.inner, self.positions, self.sdpa_only = inner, positions, sdpa_only

    def forward(self, input_ids, labels, use_cache):
        from fcmatch.train.cpu import attention

        kernel = attention._kernel_attention
        if self.sdpa_only:
            attention._kernel_attention = lambda *a: None
        try:
            return self.inner(input_ids=input_ids, labels=labels, position_ids=self.positions, use_cache=use_cache)
        finally:
            attention._kernel_attention = kernel


def _lora_pair(folder):
    """A peft LoRA model on packed attention and a copy of it with fcmatch's fast paths."""
    import copy

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from fcmatch.train import attention
    from fcmatch.train.cpu import attention as cpu_attention
    from fcmatch.train.cpu import patch

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="sdpa")
    reference = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                 task_type="CAUSAL_LM", init_lora_weights=False))
    assert attention.enable(reference)
    fused = copy.deepcopy(reference)
    patch.speed_up_lora(fused)
    assert cpu_attention.enable(fused)
    return reference, fused


@needs_kernels
def test_fused_rotary_attention_matches_on_packed_rows(tiny_model_dir, monkeypatch):
    """Two examples packed in one row (position ids restart, packed attention): the fused rotary layers give the
    same loss and adapter gradients as transformers' attention, and every layer takes the fused path."""
    from conftest import assert_same_training_step
    from fcmatch.train.cpu import llama

    reference, fused = _lora_pair(tiny_model_dir)
    calls = []
    apply = llama.Rotary.apply
    monkeypatch.setattr(llama.Rotary, "apply", lambda *a: calls.append(1) or apply(*a))
    ids = torch.randint(0, 200, (1, 15))
    positions = torch.tensor([list(range(6)) + list(range(9))])
    assert_same_training_step(_Packed(reference, positions), _Packed(fused, positions), ids, loss_tol=1e-5,
                              grad_rtol=1e-4)
    assert len(calls) == 2 * fused.config.num_hidden_layers  # queries and keys, one call each


@needs_kernels
def test_rotary_works_in_place_and_matches_transformers():
    """llama.Rotary overwrites the projection's output (no second tensor) with transformers' values, and its
    backward gives transformers' input gradient."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    from fcmatch.train.cpu.llama import Rotary

    torch.manual_seed(0)
    batch, tokens, heads, dim = 1, 7, 3, 64
    angles = torch.randn(batch, tokens, dim // 2)
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    x = torch.randn(batch, tokens, heads * dim)
    leaf = x.clone().requires_grad_(True)
    fresh = leaf * 1.0  # an intermediate result, as a projection's output is
    address = fresh.data_ptr()
    out = Rotary.apply(fresh, cos, sin)
    assert out.data_ptr() == address
    ref_leaf = x.clone().requires_grad_(True)
    q = ref_leaf.view(batch, tokens, heads, dim).transpose(1, 2)
    want, _ = apply_rotary_pos_emb(q, q, cos, sin)
    want = want.transpose(1, 2).reshape(batch, tokens, heads * dim)
    torch.testing.assert_close(out, want, rtol=1e-6, atol=1e-6)
    weights = torch.randn_like(want)
    (out * weights).sum().backward()
    (want * weights).sum().backward()
    torch.testing.assert_close(leaf.grad, ref_leaf.grad, rtol=1e-6, atol=1e-6)


def _per_example_sdpa(q, k, v, lengths, scale):
    """Reference: causal sdpa per example on (tokens, heads, d) q and (tokens, kv_heads, d) k, v."""
    outs = []
    for q_, k_, v_ in zip(q.split(lengths), k.split(lengths), v.split(lengths), strict=True):
        one = F.scaled_dot_product_attention(q_.transpose(0, 1), k_.transpose(0, 1), v_.transpose(0, 1),
                                             is_causal=True, scale=scale, enable_gqa=q.shape[1] != k.shape[1])
        outs.append(one.transpose(0, 1))
    return torch.cat(outs)


@needs_kernels
@pytest.mark.parametrize("heads,kv_heads", [(9, 3), (4, 4), (2, 1)])
def test_attention_kernel_matches_sdpa_per_example(heads, kv_heads):
    """Examples of 1 to 100 tokens (not multiples of the kernel's 8-row and 16-key blocks): output and the
    gradients of q, k and v equal torch's causal sdpa run on each example alone."""
    _check_attention_kernel(heads, kv_heads)


@needs_kernels
@pytest.mark.parametrize("march,flags", [
    ("x86-64-v2", {"popcnt", "sse4_2", "ssse3"}), ("x86-64-v3", {"avx2", "bmi2", "fma", "movbe"}),
    ("x86-64-v4", {"avx512f", "avx512bw", "avx512dq", "avx512vl"})])
def test_attention_kernel_is_right_for_each_vector_width(march, flags, monkeypatch):
    """The kernels built for SSE (4-float vectors), AVX2 (8) and AVX-512 (16), each with its own register
    blocks, give sdpa's values and gradients. A build whose vectors were wider than the registers was right but
    ran the attention 10-17x slower, so every width is built and run here. The LoRA low-rank gradients' register
    blocks also depend on the width."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64") or not flags <= cpu_flags():
        pytest.skip(f"this CPU cannot run -march={march} code")
    monkeypatch.setattr(kernels, "_FLAGS", tuple(f"-march={march}" if f == "-march=native" else f
                                                 for f in kernels._FLAGS))
    kernels.library.cache_clear()
    try:
        assert kernels.library() is not None
        _check_attention_kernel(9, 3)
        _check_low_grads()
    finally:
        monkeypatch.undo()
        kernels.library.cache_clear()


@needs_kernels
@pytest.mark.parametrize("threads", [1, 2])
def test_lora_low_grads_equal_the_two_products(threads, monkeypatch):
    """One pass over g gives scaling * g B and scaling * g^T low for ranks of 1, 2 and 4 vectors, rows that are not
    a multiple of the kernel's row block, and low / grad_low as column slices of a grouped buffer."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    _check_low_grads()


def _check_low_grads() -> None:
    torch.manual_seed(0)
    width = kernels.library().vector_width
    for rank in (width, 2 * width, 4 * width):
        for rows, out in ((37, 24), (3, 5), (130, 96)):
            g, lora_b = torch.randn(rows, out), torch.randn(out, rank)
            grouped = torch.randn(rows, 3 * rank)
            low = grouped[:, rank:2 * rank]
            assert kernels.low_grads_fit(g, lora_b, low)
            target = torch.full((rows, 3 * rank), 7.0)
            grad_low, grad_b = kernels.lora_low_grads(g, lora_b, low, 0.5, target[:, rank:2 * rank])
            assert grad_low.data_ptr() == target[:, rank:2 * rank].data_ptr()
            torch.testing.assert_close(grad_low, 0.5 * g @ lora_b, rtol=1e-5, atol=1e-4)
            torch.testing.assert_close(grad_b, 0.5 * g.t() @ low, rtol=1e-5, atol=1e-4)
            assert bool((target[:, :rank] == 7).all()) and bool((target[:, 2 * rank:] == 7).all())
            fresh, _ = kernels.lora_low_grads(g, lora_b, low.contiguous(), 0.5)
            torch.testing.assert_close(fresh, grad_low)
    assert not kernels.low_grads_fit(g, lora_b[:, :3], low[:, :3])  # rank 3: the two products instead


@needs_kernels
def test_attention_kernel_matches_sdpa_with_far_apart_scores():
    """Queries 40x larger: scores hundreds apart, so many probabilities underflow to exactly 0 in the kernel's own
    exp as in torch's. Scores of a few hundred carry fp32 rounding of about 3e-5 (the summation order differs from
    sdpa's), so the tolerance is 40x wider."""
    _check_attention_kernel(9, 3, query_scale=40.0)


def _check_attention_kernel(heads: int, kv_heads: int, query_scale: float = 1.0) -> None:
    torch.manual_seed(0)
    lengths = [1, 7, 8, 9, 17, 100, 33, 2]
    tokens = sum(lengths)
    q, k, v = (torch.randn(tokens, h, 64) for h in (heads, kv_heads, kv_heads))
    q, k, v = (t.requires_grad_() for t in (q * query_scale, k, v))
    bounds = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int64)
    grad = torch.randn(tokens, heads, 64)
    out, lse = kernels.attention(q.detach(), k.detach(), v.detach(), bounds, 0.125)
    want = _per_example_sdpa(q, k, v, lengths, 0.125)
    want.backward(grad)
    tol = 1e-5 * query_scale
    torch.testing.assert_close(out, want.detach(), rtol=tol, atol=tol)
    # the log-sum-exp of the first query of each example is its own (scaled) score with itself
    for start in bounds[:-1].tolist():
        torch.testing.assert_close(lse[:, start], (q[start] * k[start].repeat_interleave(heads // kv_heads, 0)).sum(-1)
                                   .detach() * 0.125, rtol=tol, atol=tol)
    dq, dk, dv = kernels.attention_backward(grad, q.detach(), k.detach(), v.detach(), out, lse, bounds, 0.125)
    for mine, theirs in ((dq, q.grad), (dk, k.grad), (dv, v.grad)):
        torch.testing.assert_close(mine, theirs, rtol=10 * tol, atol=tol)


@needs_kernels
def test_packed_attention_uses_the_kernel_for_head_size_64(monkeypatch):
    """Two rows cut at different places, in the model's memory layout: the kernel path gives sdpa's values and
    gradients and returns the (rows, T, heads, d) layout; dropout in training and other head sizes take sdpa."""
    from fcmatch.train.cpu import attention

    calls = []
    apply = attention._PackedCausalAttention.apply
    monkeypatch.setattr(attention._PackedCausalAttention, "apply", lambda *a: calls.append(1) or apply(*a))
    torch.manual_seed(2)
    q = torch.randn(2, 13, 9, 64).transpose(1, 2).requires_grad_()
    k = torch.randn(2, 13, 3, 64).transpose(1, 2).requires_grad_()
    v = torch.randn(2, 13, 3, 64).transpose(1, 2).requires_grad_()
    positions = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7], [*range(10), 0, 1, 2]])
    module = torch.nn.Module()
    got, _ = attention.packed_attention(module, q, k, v, None, scaling=0.125, position_ids=positions)
    assert calls == [1] and got.shape == (2, 13, 9, 64) and got.is_contiguous()
    weights = torch.randn(got.shape)
    grads = torch.autograd.grad((got * weights).sum(), (q, k, v))
    q2, k2, v2 = (t.detach().transpose(1, 2).contiguous().requires_grad_() for t in (q, k, v))
    want = torch.stack([
        _per_example_sdpa(q2[0], k2[0], v2[0], [5, 8], 0.125), _per_example_sdpa(q2[1], k2[1], v2[1], [10, 3], 0.125)])
    torch.testing.assert_close(got.detach(), want.detach(), rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(grads, torch.autograd.grad((want * weights).sum(), (q2, k2, v2)), strict=True):
        torch.testing.assert_close(mine.transpose(1, 2), theirs, rtol=1e-4, atol=1e-5)
    module.train()
    attention.packed_attention(module, q, k, v, None, dropout=0.1, scaling=0.125, position_ids=positions)
    small = torch.randn(1, 2, 5, 16)
    attention.packed_attention(module, small, small, small, None, position_ids=torch.arange(5)[None])
    assert calls == [1]


@needs_kernels
def test_model_with_head_size_64_trains_the_same_through_the_attention_kernel(tmp_path, monkeypatch):
    """A tiny Llama with SmolLM2's head size, two examples packed in one row: the same loss and adapter gradients
    with the attention kernel as with sdpa per example, and every layer takes the kernel."""
    from conftest import assert_same_training_step, build_tiny_model
    from fcmatch.train.cpu import attention

    reference, fused = _lora_pair(build_tiny_model(tmp_path / "tiny64", hidden=128, heads=2, kv_heads=1))
    calls = []
    apply = attention._PackedCausalAttention.apply
    monkeypatch.setattr(attention._PackedCausalAttention, "apply", lambda *a: calls.append(1) or apply(*a))
    positions = torch.tensor([list(range(6)) + list(range(11))])
    ids = torch.randint(0, 200, (1, 17))
    assert_same_training_step(_Packed(reference, positions, sdpa_only=True), _Packed(fused, positions), ids,
                              loss_tol=1e-5, grad_rtol=1e-4)
    assert len(calls) == fused.config.num_hidden_layers
