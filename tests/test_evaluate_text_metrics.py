"""Text metrics with hand-computed values: BLEU on 13a tokens, ROUGE-L argument order, exact match."""

from __future__ import annotations

import math

import pytest

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.evaluate.text_metrics import bertscore, bleu, exact_match, raw_output, rouge_l, text_metrics


def test_bleu_brevity_penalty_by_hand():
    # every n-gram precision is 1; hyp 4 tokens vs ref 5: BP = exp(1 - 5/4)
    out = bleu(["a b c d"], ["a b c d e"])
    assert out["corpus"] == pytest.approx(math.exp(-0.25), abs=1e-6)
    assert out["sentences"] == [pytest.approx(math.exp(-0.25), abs=1e-6)]


def test_bleu_sees_the_sign_as_its_own_token():
    # 13a tokens: "a - > b ( + )" vs "a - > b ( - )": precisions 6/7, 4/6, 3/5, 2/4, BP 1.
    # A whitespace-token BLEU would see "(+)" vs "(-)" and score 0 (no matching 4-gram).
    out = bleu(["a -> b (+)"], ["a -> b (-)"])
    assert out["corpus"] == pytest.approx((6 / 7 * 4 / 6 * 3 / 5 * 2 / 4) ** 0.25, abs=1e-6)


def test_bleu_identical_is_one_and_lengths_must_agree():
    assert bleu(["x -> y (+)"], ["x -> y (+)"])["corpus"] == 1.0
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        bleu(["a"], ["a", "b"])


def test_rouge_l_argument_order():
    # prediction "a b" against gold "a b c d": LCS 2, precision 2/2 (over prediction), recall 2/4 (over gold)
    (s,) = rouge_l(["a b"], ["a b c d"])
    assert s["precision"] == pytest.approx(1.0)
    assert s["recall"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(2 / 3)


def test_rouge_l_keeps_the_sign():
    # 7 tokens each ("x - > y ( + )"), LCS 6: the default rouge tokenizer would drop "(+)" and give 1.0
    (s,) = rouge_l(["X -> y (+)"], ["x -> y (-)"])
    assert s["f1"] == pytest.approx(6 / 7)


def test_exact_match_strips_only_surrounding_whitespace():
    assert exact_match(["a -> b (+)\n", "A -> b (+)"], ["a -> b (+)", "a -> b (+)"]) == [1.0, 0.0]


def test_raw_output_prefers_meta_raw():
    edges = [Edge("a", "b", 1)]
    assert raw_output(CausalMap("s", edges)) == "a -> b (+)"
    assert raw_output(CausalMap("s", edges, meta={"raw": "garbage"})) == "garbage"
    assert raw_output(CausalMap("s", [])) == "none"


def test_bertscore_with_the_embedded_minilm_and_text_metrics_summary():
    scores = bertscore(["rain -> crop yield (+)", "drought -> income (-)"], ["rain -> crop yield (+)", "none"])
    assert scores[0]["f1"] == pytest.approx(1.0, abs=1e-4)
    assert scores[1]["f1"] < 0.9
    gold = CausalMap("s", [Edge("rain", "crop yield", 1)])
    pred = CausalMap("s", [Edge("rain", "crop yield", 1)], meta={"raw": "rain -> crop yield (+)"})
    out = text_metrics([(gold, pred)])
    assert out["bleu"] == out["rougeL"] == out["exact_match"] == 1.0
    assert out["bertscore_f1"] == pytest.approx(1.0, abs=1e-4)
    assert set(out["per_sentence"][0]) == {"bleu", "rougeL", "exact_match", "bertscore_f1"}


def test_bertscore_model_must_be_a_local_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local model folder"):
        bertscore(["a"], ["a"], model=tmp_path)
