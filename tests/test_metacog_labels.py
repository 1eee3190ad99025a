"""The labelling rule on hand-made cases, deduplication, label balance, and the split by question."""

from __future__ import annotations

import json

import pytest

from fcmatch.config import ConfigError
from fcmatch.metacog.data import bundled_path, read_questions, split_by_question
from fcmatch.metacog.labels import CORRECT, WRONG, LabelRule, answer_metrics, deduplicate, label_of, summary
from fcmatch.metacog.prompts import (
    answer_prompt,
    answer_rows,
    clean_answer,
    exar_rows,
    validator_prompt,
    validator_rows,
)


def m(em=0.0, p=0.0, r=0.0, f=0.0, bs=0.0):
    return {"exact_match": em, "rougeL_precision": p, "rougeL_recall": r, "rougeL_f1": f, "bertscore_f1": bs}


@pytest.mark.parametrize(("metrics", "label"), [
    (m(em=1.0), CORRECT),
    (m(f=0.51, bs=0.5), CORRECT),       # ROUGE-L F > 0.5 and BERTScore >= 0.5
    (m(f=0.5, bs=0.99 - 0.2), WRONG),   # F must be strictly above 0.5 (and P, R below 0.6)
    (m(f=0.55, bs=0.49), WRONG),
    (m(p=0.6), CORRECT),                # precision >= 0.6
    (m(r=0.6), CORRECT),                # recall >= 0.6
    (m(bs=0.9), WRONG),                 # BERTScore alone must be strictly above 0.9
    (m(bs=0.91), CORRECT),
])
def test_reference_rule_by_hand(metrics, label):
    assert label_of(metrics, LabelRule(), "some answer") == label


def test_empty_answer_is_never_correct():
    assert label_of(m(em=1.0, p=1, r=1, f=1, bs=1), LabelRule(), "  ") == WRONG
    assert label_of(m(em=1.0), LabelRule(), "the") == WRONG  # empty after SQuAD normalisation


def test_exact_preset_and_custom_thresholds():
    assert label_of(m(p=1.0, bs=0.99), LabelRule(preset="exact"), "x") == WRONG
    assert label_of(m(em=1.0), LabelRule(preset="exact"), "x") == CORRECT
    rule = LabelRule(preset="custom", bertscore_above=None, rouge_pr_at_least=0.9)
    assert label_of(m(p=0.8, bs=0.99), rule, "x") == WRONG
    with pytest.raises(ConfigError, match="rule.rouge_pr_at_least"):
        LabelRule(preset="custom", rouge_pr_at_least=1.5)
    with pytest.raises(ConfigError):
        LabelRule(preset="loose")


def test_incorrect_is_not_correct_by_the_metrics():
    # "incorrect" contains "correct" as a substring; the metrics (and so the rule) tell them apart
    row = answer_metrics(["incorrect"], ["correct"], with_bertscore=False)[0]
    assert row["exact_match"] == 0.0 and row["rougeL_f1"] == 0.0
    assert label_of({**row, "bertscore_f1": 0.0}, LabelRule(), "incorrect") == WRONG
    same = answer_metrics(["The Paris."], ["paris"], with_bertscore=False)[0]
    assert same["exact_match"] == 1.0


def test_deduplicate_and_summary():
    rows = [{"question_id": "q1", "prediction": "Paris", "label": CORRECT, "human": "correct"},
            {"question_id": "q1", "prediction": "paris.", "label": CORRECT},
            {"question_id": "q1", "prediction": "Lyon", "label": WRONG, "human": "CORRECT"},
            {"question_id": "q2", "prediction": "Paris", "label": WRONG}]
    kept = deduplicate(rows)
    assert [r["prediction"] for r in kept] == ["Paris", "Lyon", "Paris"]
    s = summary(kept)
    assert (s["rows"], s["correct"], s["wrong"], s["questions"]) == (3, 1, 2, 2)
    assert s["human_agreement"] == {"rows": 2, "agreement": 0.5}


def test_bundled_questions_are_many_short_and_split_by_question():
    train, test = read_questions(None, "train"), read_questions(None, "test")
    assert len(train) >= 300 and len(test) >= 100
    assert not {q.question for q in train} & {q.question for q in test}
    assert all(1 <= len(q.gold.split()) <= 5 for q in train + test)
    first = json.loads(bundled_path("test").read_text(encoding="utf-8").splitlines()[0])
    assert first["category"] == "open_qa" and set(first) >= {"instruction", "context", "response"}


def test_split_by_question_keeps_questions_whole():
    ids = [f"q{i // 3}" for i in range(60)]  # 20 questions, 3 rows each
    rest, held = split_by_question(ids, 0.25, seed=1)
    assert not rest & held and rest | held == set(ids) and len(held) == 5
    assert split_by_question(ids, 0.25, seed=1) == (rest, held)
    with pytest.raises(ValueError, match="share"):
        split_by_question(ids, 1.0)


def test_repeated_question_is_an_error(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps({"instruction": "Q?", "response": a}) + "\n" for a in ("a", "b")))
    with pytest.raises(ValueError, match="record 2 repeats"):
        read_questions(path)


class _Tok:
    eos_token = "<|im_end|>"


def test_prompts_and_rows():
    assert answer_prompt("What is 2 plus 2?") == (
        "### Context:\n### Instruction:\nGenerate a response to the question given in Input. The response must be "
        "different from Context.\n### Input:\nWhat is 2 plus 2?\n\n### Response:\n")
    assert validator_prompt("Q?", "A").startswith("### Context:\nQ?\n### Instruction:\nValidate the response")
    rows = [{"question_id": "q", "question": "Capital of France?", "gold": "Paris", "prediction": "Lyon", "label": WRONG},
            {"question_id": "q", "question": "Capital of France?", "gold": "Paris", "prediction": "Paris", "label": CORRECT}]
    exar = exar_rows(rows, "plain", _Tok())
    assert len(exar) == 1
    # EXAR's target is the gold answer, never the Context (the earlier wrong answer)
    assert exar[0]["completion"] == "Paris<|im_end|>" and "### Context:\nLyon\n" in exar[0]["prompt"]
    assert "Lyon" not in exar[0]["completion"]
    assert [r["completion"] for r in validator_rows(rows, "plain", _Tok())] == [WRONG, CORRECT]
    q = read_questions(None, "test", limit=1)[0]
    assert answer_rows([q], "plain", _Tok())[0]["completion"] == q.gold + "<|im_end|>"
    assert clean_answer(" Paris\n### Input") == "Paris" and clean_answer("") == ""
