"""Text metrics with hand-computed values: BLEU on 13a tokens, ROUGE argument order, exact match, token F1,
bootstrap intervals and paired tests."""

from __future__ import annotations

import math

import pytest

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.evaluate.text_metrics import bertscore, bleu, exact_match, raw_output, rouge_l, score_texts, text_metrics


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


# --- free text: score_texts, compare and their parts ----------------------------------------------------


def test_corpus_bleu_pools_counts_and_equals_sacrebleu():
    import sacrebleu

    from fcmatch.evaluate.text_metrics import bleu_statistics, corpus_bleu

    preds, golds = ["a b c d", "a b c d"], ["a b c d", "a b c d e f"]
    # every n-gram precision is 1; pooled lengths 8 vs 10: BP = exp(1 - 10/8), not the mean of the sentences'
    out = score_texts(preds, golds, with_bertscore=False, bootstrap=0)
    assert out["metrics"]["bleu"]["value"] == pytest.approx(math.exp(-0.25), abs=1e-9)
    assert out["metrics"]["bleu_sentence"]["value"] == pytest.approx((1 + math.exp(-0.5)) / 2, abs=1e-9)
    assert out["items"][1]["bleu_stats"] == [4, 6, 4, 3, 2, 1, 4, 3, 2, 1]
    hyps = ["the cat sat on a mat", "hello world", "x y z w v", "completely different", ""]
    refs = ["the cat sat on the mat", "hello there world", "x y z w v", "nothing alike here", "an empty one"]
    stats = bleu_statistics(hyps, refs)
    assert corpus_bleu(stats.sum(axis=0))[0] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score / 100)
    sentences = [i["bleu_sentence"] for i in score_texts(hyps, refs, with_bertscore=False, bootstrap=0)["items"]]
    assert sentences == pytest.approx([min(1.0, sacrebleu.sentence_bleu(h, [r]).score / 100)
                                       for h, r in zip(hyps, refs, strict=True)])


def test_identical_short_strings_score_full_bleu():
    # NLTK 3.10's unsmoothed sentence_bleu([['Paris']], ['Paris']) is 1.8e-231
    out = score_texts(["Paris", "yes", "it is a cat"], ["Paris", "yes", "it is a cat"], with_bertscore=False,
                      bootstrap=50)
    assert [i["bleu_sentence"] for i in out["items"]] == [1.0, 1.0, 1.0]
    assert out["metrics"]["bleu"]["value"] == 1.0
    # corpus BLEU, as sacrebleu defines it, is 0 for a corpus without a single 4-gram
    assert score_texts(["Paris", "yes"], ["Paris", "yes"], with_bertscore=False)["metrics"]["bleu"]["value"] == 0.0


def test_rouge_precision_is_over_the_prediction_and_stems():
    from fcmatch.evaluate.text_metrics import rouge

    # prediction "the cat", reference 6 tokens: ROUGE-1 P = 2/2, R = 2/6; ROUGE-2 P = 1/1, R = 1/5
    (s,) = rouge(["the cat"], ["the cat sat on the mat"])
    assert (s["rouge1"]["precision"], s["rouge1"]["recall"]) == (pytest.approx(1.0), pytest.approx(1 / 3))
    assert s["rouge1"]["f1"] == pytest.approx(0.5)
    assert (s["rouge2"]["precision"], s["rouge2"]["recall"]) == (pytest.approx(1.0), pytest.approx(0.2))
    assert s["rougeL"]["f1"] == pytest.approx(0.5)
    # Porter stemming: running -> run, dogs -> dog
    (s,) = rouge(["Running dogs"], ["run dog"])
    assert s["rouge1"]["f1"] == s["rouge2"]["f1"] == 1.0


def test_bertscore_precision_is_over_the_prediction():
    import bert_score

    from fcmatch.evaluate.text_metrics import BERTSCORE_LAYERS
    from fcmatch.models import encoder_path

    preds, golds = ["the cat", "", "rain"], ["the cat sat on the mat with a hat", "nothing", "rain"]
    scores = bertscore(preds, golds)
    # a prediction that is part of its reference: its tokens all find a close match, the reference's do not
    assert scores[0]["precision"] > scores[0]["recall"] + 0.05
    p, r, _ = bert_score.score(preds[:1], golds[:1], model_type=str(encoder_path()), num_layers=BERTSCORE_LAYERS)
    assert scores[0]["precision"] == pytest.approx(float(p[0]), abs=1e-5)
    assert scores[0]["recall"] == pytest.approx(float(r[0]), abs=1e-5)
    assert scores[1] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}  # empty prediction, as bert-score scores it
    assert scores[2]["f1"] == pytest.approx(1.0, abs=1e-4)


def test_squad_normalisation_exact_match_and_token_f1():
    from fcmatch.evaluate.text_metrics import normalize_answer, normalized_exact_match, token_f1

    assert normalize_answer("  The Cat,  sat on a  MAT! ") == "cat sat on mat"
    assert normalized_exact_match(["The cat.", "cats"], ["cat", "cat"]) == [1.0, 0.0]
    # "the cat sat" -> [cat, sat]; "a cat sat on the mat" -> [cat, sat, on, mat]: P 2/2, R 2/4, F1 2/3
    assert token_f1(["the cat sat"], ["a cat sat on the mat"]) == [pytest.approx(2 / 3)]
    assert token_f1(["cat cat"], ["cat"]) == [pytest.approx(2 / 3)]  # multiplicity: P 1/2, R 1/1
    assert token_f1(["The", "an", "dog"], ["a", "cat", "cat"]) == [1.0, 0.0, 0.0]  # both empty: 1 (SQuAD v2)


def test_score_texts_reports_every_headline_metric_with_an_interval():
    from fcmatch.evaluate.text_metrics import HEADLINE_METRICS

    preds = ["the cat sat", "a dog", "rain falls", "no idea"] * 5
    golds = ["the cat sat", "the dog barked", "rain falls", "an answer"] * 5
    out = score_texts(preds, golds, with_bertscore=False, bootstrap=400, seed=7)
    assert set(out["metrics"]) == set(HEADLINE_METRICS) - {"bertscore_precision", "bertscore_recall", "bertscore_f1"}
    assert out["n"] == 20 and len(out["items"]) == 20 and out["bertscore_model"] is None
    for name, m in out["metrics"].items():
        assert m["ci_low"] <= m["value"] <= m["ci_high"], name
    assert out["metrics"]["exact_match"]["value"] == 0.5 and out["metrics"]["exact_match"]["ci_low"] < 0.5
    assert out == score_texts(preds, golds, with_bertscore=False, bootstrap=400, seed=7)
    assert score_texts(preds, golds, with_bertscore=False, bootstrap=0)["metrics"]["rouge1"]["ci_low"] is None
    with pytest.raises(ValueError, match="no predictions"):
        score_texts([], [])
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        score_texts(["a"], ["a", "b"])


def test_score_texts_with_bertscore_on_identical_texts():
    texts = ["it is a short answer", "the capital is Paris"]
    out = score_texts(texts, texts, bootstrap=20)
    for name, m in out["metrics"].items():
        assert m["value"] == pytest.approx(1.0, abs=1e-4), name
        assert m["ci_low"] == pytest.approx(1.0, abs=1e-4), name
    assert out["bertscore_model"] == "all-MiniLM-L6-v2 (embedded)"


def test_bootstrap_interval_and_paired_test_by_hand():
    from fcmatch.evaluate.bootstrap import bootstrap_interval, paired_test

    half = bootstrap_interval([0.0, 1.0] * 20, resamples=500, seed=1)
    assert half["value"] == 0.5 and half["ci_low"] < 0.5 < half["ci_high"]
    assert bootstrap_interval([1.0] * 9, resamples=50) == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    same = paired_test([0.2, 0.7, 0.4], [0.2, 0.7, 0.4], resamples=99)
    assert same["difference"] == 0.0 and same["p_value"] == 1.0 and same["ci_low"] == same["ci_high"] == 0.0
    # 3 items, each better by 1: a swap pattern keeps |d*| >= 1 only when it swaps all or none, 2 of 8
    small = paired_test([0.0] * 3, [1.0] * 3, resamples=4999, seed=2)
    assert small["difference"] == 1.0 and small["ci_low"] == small["ci_high"] == 1.0
    assert small["p_value"] == pytest.approx(0.25, abs=0.02)
    # 20 such items: 2 of 2^20 patterns, none drawn in 999 resamples, so p = 1 / (999 + 1)
    assert paired_test([0.0] * 20, [1.0] * 20, resamples=999)["p_value"] == pytest.approx(1 / 1000)
    with pytest.raises(ValueError, match="same items"):
        paired_test([0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="no items"):
        bootstrap_interval([])


def test_compare_tests_every_metric_on_paired_items():
    import sacrebleu

    from fcmatch.evaluate.text_metrics import compare

    golds = ["the cat sat on the mat", "rain makes crops grow", "yes", "the answer is four"] * 3
    base_preds = ["a dog", "crops", "no", "five"] * 3
    base = score_texts(base_preds, golds, with_bertscore=False, bootstrap=0)
    tuned = score_texts(golds, golds, with_bertscore=False, bootstrap=0)
    out = compare(base, tuned["items"], resamples=999, seed=3)
    assert out["n"] == 12 and "bertscore_f1" not in out["metrics"]
    bleu_row = out["metrics"]["bleu"]
    assert bleu_row["a"] == pytest.approx(sacrebleu.corpus_bleu(base_preds, [golds]).score / 100)
    assert bleu_row["b"] == 1.0 and bleu_row["difference"] == pytest.approx(1.0 - bleu_row["a"])
    for name, row in out["metrics"].items():
        assert row["difference"] > 0 and row["ci_low"] > 0 and row["p_value"] < 0.01, name
    assert compare(base, base)["metrics"]["token_f1"]["p_value"] == 1.0
    with pytest.raises(ValueError, match="same items"):
        compare(base, tuned["items"][:3])
    with pytest.raises(ValueError, match="ids differ"):
        compare([{"id": "a", "token_f1": 1.0}], [{"id": "b", "token_f1": 1.0}])
