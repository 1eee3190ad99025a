"""Validator decisions from label-token probabilities, threshold choice, metrics by hand, the reliability PNG."""

from __future__ import annotations

import math

import pytest
import torch

from fcmatch.metacog.validator import (
    auroc,
    binary_metrics,
    calibration,
    choose_threshold,
    correct_probabilities,
    evaluate,
    label_token_ids,
    reliability_plot,
)
from fcmatch.models import load


def test_label_token_probabilities_equal_a_manual_forward_pass(tiny_model_dir):
    model, tok = load(str(tiny_model_dir))
    prompts = ["### Context:\nQ?\n### Input:\nParis\n\n### Response:\n", "short\n", "a much longer prompt, padded less\n"]
    got = correct_probabilities(model, tok, prompts, batch_size=2)  # right-padded batches
    c, w = label_token_ids(tok)
    assert tok.convert_ids_to_tokens([c, w]) == ["C", "W"]  # byte tokenizer: first letters
    for prompt, p in zip(prompts, got, strict=True):
        ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1]
        expected = math.exp(logits[c]) / (math.exp(logits[c]) + math.exp(logits[w]))
        assert p == pytest.approx(expected, abs=1e-5)


def test_labels_must_start_with_different_tokens():
    class Same:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [7, len(text)]}

    with pytest.raises(ValueError, match="same token"):
        label_token_ids(Same())


def test_binary_metrics_by_hand():
    truth = [True, True, True, False, False]
    pred = [True, True, False, True, False]  # tp 2, fn 1, fp 1, tn 1
    m = binary_metrics(truth, pred)
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (2, 1, 1, 1)
    assert m["accuracy"] == pytest.approx(0.6) and m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3) and m["f1"] == pytest.approx(2 / 3)
    assert m["mcc"] == pytest.approx((2 * 1 - 1 * 1) / math.sqrt(3 * 3 * 2 * 2))
    assert binary_metrics(truth, [True] * 5)["mcc"] == 0.0  # a constant judge: MCC undefined -> 0


def test_auroc_and_calibration_by_hand():
    assert auroc([True, False, True, False], [0.9, 0.1, 0.8, 0.3]) == 1.0
    assert auroc([True, False], [0.5, 0.5]) == 0.5
    assert auroc([True, False, False], [0.2, 0.6, 0.1]) == 0.5  # beats one of two negatives
    assert auroc([True, True], [0.1, 0.2]) is None
    cal = calibration([True, False, True, True], [0.95, 0.95, 0.15, 0.15], bins=10)
    # bin 0.9-1.0: confidence 0.95, accuracy 0.5; bin 0.1-0.2: confidence 0.15, accuracy 1.0
    assert cal["ece"] == pytest.approx(0.5 * 0.45 + 0.5 * 0.85)
    assert [b["n"] for b in cal["bins"]] == [2, 2]


def test_threshold_chosen_on_validation_rows():
    truth = [False, False, True, True]
    probs = [0.1, 0.3, 0.35, 0.9]
    th = choose_threshold(truth, probs, "mcc")
    assert 0.3 < th <= 0.35
    assert evaluate(truth, probs, th)["accuracy"] == 1.0
    with pytest.raises(ValueError, match="threshold metric"):
        choose_threshold(truth, probs, "auroc")


def test_reliability_plot_writes_a_png(tmp_path):
    path = reliability_plot(calibration([True, False], [0.7, 0.2]), tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
