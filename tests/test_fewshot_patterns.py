"""Patterns and verbalizers: the issue's strings, demonstrations and query identical, one-token check; the
classify task's PBFT examples put the loss on the verbalizer token only."""

import json

import pytest

from fcmatch.fewshot.data import ClassRecord
from fcmatch.fewshot.patterns import (
    PATTERNS,
    PatternError,
    context,
    label_tokens,
    pattern_from_dict,
    prompt,
    query,
    render,
)

A = ClassRecord("Rain raises yields.", "rain increases yields.", "yes")
B = ClassRecord("Drought cuts yields.", "drought increases yields.", "no")


def test_builtin_patterns_render_as_the_issue_gives_them():
    assert render(PATTERNS["minimal"], A, True) == "Rain raises yields. rain increases yields. ? Yes"
    assert render(PATTERNS["gpt-3"], B, True) == "Drought cuts yields. question: drought increases yields. Yes or No? answer: No"
    assert render(PATTERNS["eval-harness"], A, False) == "Rain raises yields. \nQuestion: rain increases yields. True or False?\nAnswer:"


@pytest.mark.parametrize("name", [n for n, p in PATTERNS.items() if not p.chat])
def test_query_is_a_demonstration_without_its_answer(name):
    pattern = PATTERNS[name]
    for record in (A, B):
        assert render(pattern, record, True) == query(pattern, record) + pattern.verbalizer[record.label]
    whole = prompt(pattern, [A, B], A)
    assert whole == render(pattern, A, True) + "\n\n" + render(pattern, B, True) + "\n\n" + query(pattern, A)
    assert whole == context(pattern, [A, B]) + query(pattern, A)


def test_chat_pattern_demonstrations_are_turns(tiny_model_dir):
    from fcmatch.models import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    pattern = PATTERNS["chat"]
    whole = prompt(pattern, [A], B, tokenizer)
    assert whole.startswith(context(pattern, [A], tokenizer))
    assert whole.endswith("<|im_start|>assistant\n") and "<|im_start|>assistant\nYes<|im_end|>" in whole
    with pytest.raises(PatternError, match="tokenizer"):
        query(pattern, A)


def test_verbalizer_must_be_one_token(tiny_model_dir):
    from fcmatch.models import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))  # byte-level, no merges: ' Yes' is 4 tokens
    with pytest.raises(PatternError, match=r"verbalizer ' Yes' of label 'yes' is 4 tokens"):
        label_tokens(PATTERNS["gpt-3"], tokenizer)
    mine = pattern_from_dict({"name": "yn", "template": "{text1} {text2}", "prefix": " =", "verbalizer": {"yes": "Y", "no": "N"}})
    assert set(label_tokens(mine, tokenizer)) == {"yes", "no"}
    with pytest.raises(PatternError, match="unknown field"):
        pattern_from_dict({"name": "x", "template": "{text1}", "colour": "red"})
    assert pattern_from_dict(PATTERNS["gpt-3"].to_dict()) == PATTERNS["gpt-3"]


def test_classify_task_trains_the_verbalizer_token_only(tiny_model_dir, tmp_path):
    from fcmatch.models import load_tokenizer
    from fcmatch.tasks import TASKS
    from fcmatch.train.data import IGNORE, load_conversations, tokenize

    tokenizer = load_tokenizer(str(tiny_model_dir))
    path = tmp_path / "k.jsonl"
    path.write_text(json.dumps({"text1": "a b", "text2": "c", "label": "yes"}) + "\n"
                    + json.dumps({"prompt": "x =", "completion": "Y"}) + "\n")
    conversations = load_conversations(path, "classify-minimal")
    assert conversations[1] == {"prompt": "x =", "completion": "Y", "eos": False}
    example = tokenize(tokenizer, conversations[1])
    trained = [t for t in example.targets if t != IGNORE]
    assert trained == tokenizer("Y", add_special_tokens=False)["input_ids"]
    assert TASKS["classify"].to_example(A)["completion"] == " Yes"
