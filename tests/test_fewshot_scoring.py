"""Scoring by logits on a tiny model: the argmax of a manual forward pass, the KV-cached context equal to
the uncached prompt, skipped over-long runs; metrics against hand-computed values."""

import pytest
import torch

from fcmatch.fewshot.data import ClassRecord
from fcmatch.fewshot.metrics import classification_metrics, grouped_accuracy
from fcmatch.fewshot.patterns import pattern_from_dict, prompt
from fcmatch.fewshot.scoring import score

YN = pattern_from_dict({"name": "yn", "template": "{text1} / {text2}", "prefix": " =", "verbalizer": {"yes": "Y", "no": "N"}})
RECORDS = [ClassRecord(f"sentence {i} {'up' * (i % 3)}", f"claim {i}", "yes" if i % 2 else "no") for i in range(7)]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from fcmatch.models import load

    return load(str(tiny_model_dir), device="cpu", dtype=torch.float32)


def test_prediction_is_the_argmax_of_a_manual_forward_pass(tiny):
    model, tokenizer = tiny
    scores = score(model, tokenizer, YN, RECORDS, demos=RECORDS[:2], batch_size=3)
    y, n = (tokenizer(t, add_special_tokens=False)["input_ids"][0] for t in ("Y", "N"))
    for record, predicted, row in zip(RECORDS, scores.predictions, scores.logits, strict=True):
        context = prompt(YN, RECORDS[:2], record)[: -len(prompt(YN, [], record))]
        ids = tokenizer(context, add_special_tokens=False)["input_ids"] + tokenizer(prompt(YN, [], record), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            last = model(torch.tensor([ids])).logits[0, -1]
        assert predicted == ("yes" if last[y] > last[n] else "no")
        assert torch.allclose(torch.tensor(row), last[[y, n]], atol=1e-4)
    assert scores.context_tokens > 0 and scores.prompt_tokens > scores.context_tokens and scores.latency_s > 0


def test_cached_context_equals_uncached(tiny):
    model, tokenizer = tiny
    cached = score(model, tokenizer, YN, RECORDS, demos=RECORDS[2:6], batch_size=4, use_cache=True)
    full = score(model, tokenizer, YN, RECORDS, demos=RECORDS[2:6], batch_size=4, use_cache=False)
    assert cached.predictions == full.predictions
    assert torch.allclose(torch.tensor(cached.logits), torch.tensor(full.logits), atol=1e-4)


def test_context_over_the_limit_is_skipped_not_truncated(tiny):
    model, tokenizer = tiny
    many = RECORDS * 20  # ~2,000 byte tokens > the tiny model's 1,024 positions
    scores = score(model, tokenizer, YN, RECORDS[:2], demos=many)
    assert scores.skipped.startswith("context of") and "1024" in scores.skipped and not scores.predictions


def test_metrics_by_hand():
    golds = ["yes", "yes", "no", "no", "yes", "no", "yes"]
    preds = ["yes", "no", "no", "yes", "yes", "no", "yes"]
    m = classification_metrics(golds, preds, ["yes", "no"], resamples=100)
    # tp=3 fn=1 fp=1 tn=2: acc 5/7; F1 yes 6/8, no 4/6; MCC (3*2-1*1)/sqrt(4*3*4*3) = 5/12
    assert m["accuracy"]["value"] == pytest.approx(5 / 7)
    assert m["macro_f1"]["value"] == pytest.approx((0.75 + 4 / 6) / 2)
    assert m["mcc"]["value"] == pytest.approx(5 / 12)
    assert m["per_label"]["no"]["recall"]["value"] == pytest.approx(2 / 3) and m["per_label"]["yes"]["support"] == 4
    assert m["accuracy"]["ci_low"] <= 5 / 7 <= m["accuracy"]["ci_high"]
    assert grouped_accuracy(golds, preds, list("aabbabb")) == {"a": 2 / 3, "b": 3 / 4}


def test_long_context_scored_one_query_at_a_time_equals_uncached(tiny, monkeypatch):
    import fcmatch.fewshot.scoring as scoring

    model, tokenizer = tiny
    monkeypatch.setattr(scoring, "LONG_CONTEXT", 1)  # the tiny contexts count as long: the crop path
    cropped = score(model, tokenizer, YN, RECORDS, demos=RECORDS[2:6], batch_size=4)
    full = score(model, tokenizer, YN, RECORDS, demos=RECORDS[2:6], batch_size=4, use_cache=False)
    assert torch.allclose(torch.tensor(cropped.logits), torch.tensor(full.logits), atol=1e-4)
