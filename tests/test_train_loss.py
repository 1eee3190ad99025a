"""Completion-only targets, packing without cross-attention and the chunked LM-head loss, on the tiny model."""

from __future__ import annotations

import pytest
import torch

from fcmatch.models import load
from fcmatch.train import attention
from fcmatch.train.data import IGNORE, Example, collate, record_messages, tokenize
from fcmatch.train.loss import batch_loss_sum, head_loss_sum, reference_loss

CONVERSATIONS = [
    [{"role": "user", "content": "Rain?"}, {"role": "assistant", "content": "rain -> floods (+)"}],
    [{"role": "user", "content": "A much longer question about money and debt"}, {"role": "assistant", "content": "none"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sun"}, {"role": "assistant", "content": "sun -> cold (-)\nsun -> heat (+)"}],
]


@pytest.fixture(scope="module", params=["sdpa", "packed"])
def tiny(tiny_model_dir, request):
    """The tiny model with transformers' sdpa (block-diagonal mask) or fcmatch's per-example packed attention."""
    model, tokenizer = load(str(tiny_model_dir), dtype=torch.float32, device="cpu")
    if request.param == "packed":
        assert attention.enable(model)
    return model, tokenizer


def test_packed_attention_matches_sdpa_on_one_sequence():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 9, 8), torch.randn(1, 2, 9, 8), torch.randn(1, 2, 9, 8)
    module = torch.nn.Module()
    positions = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 0, 1]])
    got, _ = attention.packed_attention(module, q, k, v, None, scaling=0.5, position_ids=positions)
    for s, e in [(0, 4), (4, 7), (7, 9)]:
        want = torch.nn.functional.scaled_dot_product_attention(
            q[:, :, s:e], k[:, :, s:e].repeat_interleave(2, 1), v[:, :, s:e].repeat_interleave(2, 1), is_causal=True, scale=0.5)
        torch.testing.assert_close(got[:, s:e], want.transpose(1, 2))


def test_packed_attention_two_rows_values_and_gradients():
    """Inputs laid out as the model makes them ((B, T, heads, d) memory); rows cut at different places."""
    torch.manual_seed(1)
    q = torch.randn(2, 7, 4, 8).transpose(1, 2).requires_grad_()
    k = torch.randn(2, 7, 2, 8).transpose(1, 2).requires_grad_()
    v = torch.randn(2, 7, 2, 8).transpose(1, 2).requires_grad_()
    positions = torch.tensor([[0, 1, 2, 0, 1, 2, 3], [0, 1, 2, 3, 4, 0, 1]])
    got, _ = attention.packed_attention(torch.nn.Module(), q, k, v, None, scaling=0.3, position_ids=positions)
    assert got.shape == (2, 7, 4, 8) and got.is_contiguous()
    weights = torch.randn(got.shape)
    grads = torch.autograd.grad((got * weights).sum(), (q, k, v))
    want = torch.empty(2, 7, 4, 8)
    q2, k2, v2 = (t.detach().clone().requires_grad_() for t in (q, k, v))
    parts = []
    for row, cuts in enumerate([[(0, 3), (3, 7)], [(0, 5), (5, 7)]]):
        for s, e in cuts:
            one = torch.nn.functional.scaled_dot_product_attention(
                q2[row:row + 1, :, s:e], k2[row:row + 1, :, s:e].repeat_interleave(2, 1),
                v2[row:row + 1, :, s:e].repeat_interleave(2, 1), is_causal=True, scale=0.3)
            want[row, s:e] = one[0].transpose(0, 1).detach()
            parts.append((one[0].transpose(0, 1) * weights[row, s:e]).sum())
    torch.testing.assert_close(got.detach(), want)
    for mine, theirs in zip(grads, torch.autograd.grad(sum(parts), (q2, k2, v2)), strict=True):
        torch.testing.assert_close(mine, theirs)


def test_targets_cover_the_completion_and_end_of_turn_only(tiny):
    _, tokenizer = tiny
    example = tokenize(tokenizer, CONVERSATIONS[0])
    # byte-level tokenizer: one token per byte, specials are single ids (<|im_end|> = 2)
    prompt = "<|im_start|>user\nRain?<|im_end|>\n<|im_start|>assistant\n"
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    completion = tokenizer("rain -> floods (+)", add_special_tokens=False)["input_ids"] + [2]
    assert example.input_ids[n_prompt:] == completion  # the template's trailing "\n" is dropped
    assert example.targets[: n_prompt - 1] == [IGNORE] * (n_prompt - 1)
    assert example.targets[n_prompt - 1: -1] == completion
    assert example.targets[-1] == IGNORE
    assert example.loss_tokens == len("rain -> floods (+)") + 1


def test_prompt_labels_never_change_the_loss(tiny):
    """The gradient of the loss w.r.t. every prompt position's logits is exactly zero."""
    model, tokenizer = tiny
    example = tokenize(tokenizer, CONVERSATIONS[1])
    batch = collate([example])
    logits = model(input_ids=batch.input_ids, position_ids=batch.position_ids).logits
    logits.retain_grad()
    loss = torch.nn.functional.cross_entropy(logits[0], batch.targets[0], ignore_index=IGNORE)
    loss.backward()
    prompt_rows = batch.targets[0] == IGNORE
    assert prompt_rows.sum() > 20
    assert torch.count_nonzero(logits.grad[0][prompt_rows]) == 0
    assert torch.count_nonzero(logits.grad[0][~prompt_rows]) > 0
    # relabelling a prompt position (still masked) leaves the loss bit-identical
    relabelled = Example(example.input_ids, [IGNORE if t == IGNORE else t for t in example.targets])
    assert batch_loss_sum(model, collate([relabelled])).item() == batch_loss_sum(model, batch).item()


def test_chunked_loss_equals_full_logits_loss(tiny):
    model, tokenizer = tiny
    batch = collate([tokenize(tokenizer, c) for c in CONVERSATIONS])
    ours = batch_loss_sum(model, batch, chunk=5) / batch.loss_tokens
    torch.testing.assert_close(ours, reference_loss(model, batch), rtol=1e-6, atol=1e-6)


def test_chunked_head_gradients_match_unchunked():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=False)
    hidden = torch.randn(23, 8, requires_grad=True)
    targets = torch.randint(0, 50, (23,))
    whole = head_loss_sum(head, hidden, targets, chunk=100)
    (g_whole,) = torch.autograd.grad(whole, hidden)
    chunked = head_loss_sum(head, hidden, targets, chunk=4)
    (g_chunked,) = torch.autograd.grad(chunked, hidden)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(g_chunked, g_whole, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bias", [False, True])
def test_fused_head_loss_matches_autograd_for_every_input(bias):
    """Loss and gradients of the fused head (hidden, weight, bias) equal full-logits cross-entropy."""
    torch.manual_seed(1)
    head = torch.nn.Linear(8, 50, bias=bias)
    hidden = torch.randn(23, 8, requires_grad=True)
    targets = torch.randint(0, 50, (23,))
    fused = head_loss_sum(head, hidden, targets, chunk=4)  # 6 chunks, the last one short
    fused.backward(torch.tensor(0.5))
    got = [t.grad.clone() for t in (hidden, *head.parameters())]
    for t in (hidden, *head.parameters()):
        t.grad = None
    reference = torch.nn.functional.cross_entropy(head(hidden), targets, reduction="sum")
    reference.backward(torch.tensor(0.5))
    torch.testing.assert_close(fused, reference, rtol=1e-6, atol=1e-5)
    for g, t in zip(got, (hidden, *head.parameters()), strict=True):
        torch.testing.assert_close(g, t.grad, rtol=1e-5, atol=1e-6)


def test_fused_head_loss_without_gradients_and_for_large_logits(monkeypatch):
    head = torch.nn.Linear(4, 7, bias=False)  # a trainable head, as in full fine-tuning
    hidden = (torch.randn(5, 4) * 1e3).requires_grad_()  # logits ~1e3: the max shift keeps exp finite
    targets = torch.tensor([0, 1, 2, 3, 6])
    products = []
    mm = torch.mm
    monkeypatch.setattr(torch, "mm", lambda *a, **k: products.append(1) or mm(*a, **k))
    with torch.no_grad():  # validation: the logits matmul only, no gradient products
        fused = head_loss_sum(head, hidden, targets, chunk=2)
    assert len(products) == 3  # 3 chunks
    monkeypatch.undo()
    reference = torch.nn.functional.cross_entropy(head(hidden), targets, reduction="sum")
    assert torch.isfinite(fused)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("packing", [True, False])
def test_packed_batch_loss_is_token_weighted_mean_of_single_examples(tiny, packing):
    model, tokenizer = tiny
    examples = [tokenize(tokenizer, c) for c in CONVERSATIONS]
    batch = collate(examples, packing=packing, pad_id=2)
    assert batch.input_ids.shape[0] == (1 if packing else 3)
    assert batch.tokens == sum(len(e.input_ids) for e in examples)
    singles = [batch_loss_sum(model, collate([e])).item() for e in examples]
    expected = sum(singles) / sum(e.loss_tokens for e in examples)
    got = batch_loss_sum(model, batch).item() / batch.loss_tokens
    assert got == pytest.approx(expected, rel=1e-6)


def test_packed_examples_do_not_attend_to_each_other(tiny):
    """The second example's hidden states do not depend on the first example's tokens."""
    model, tokenizer = tiny
    first, second = (tokenize(tokenizer, c) for c in CONVERSATIONS[:2])
    other_first = tokenize(tokenizer, CONVERSATIONS[2])
    body = model.get_decoder()
    with torch.no_grad():
        a = body(**_inputs(collate([first, second]))).last_hidden_state[0, len(first.input_ids):]
        b = body(**_inputs(collate([other_first, second]))).last_hidden_state[0, len(other_first.input_ids):]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def _inputs(batch):
    # use_cache=False matters: with a KV cache transformers does not detect packed position ids
    return {"input_ids": batch.input_ids, "position_ids": batch.position_ids, "use_cache": False}


def test_record_messages_accepts_prompt_completion_and_names_the_record():
    assert record_messages({"prompt": "p", "completion": "c"}, "f:1")[-1] == {"role": "assistant", "content": "c"}
    with pytest.raises(ValueError, match="f:3: needs 'messages'"):
        record_messages({"text": "x"}, "f:3")
    with pytest.raises(ValueError, match="f:4: the last message must be the assistant"):
        record_messages({"messages": [{"role": "user", "content": "x"}]}, "f:4")
