"""The study's three prompts (answer, validate, EXAR) and the training rows built from them.

``plain`` is the reference study's raw-text prompt; ``chat`` puts the same text (without its
``### Response:`` line) in one user turn of the model's chat template. Training and inference render the
prompt with the same function, so a tuned adapter sees at inference what it was trained on (the reference
study evaluated with another prompt than it trained with).

Rows are ``{"prompt", "completion"}``, trained through the engine's ``classify`` task (loss on the
completion only, nothing appended): a generation adapter's completion ends with the tokenizer's eos so that
it learns to stop; the validator's is the bare label, whose first token is what :mod:`.validator` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fcmatch.metacog.labels import CORRECT, WRONG

STYLES = ("plain", "chat")
ANSWER_INSTRUCTION = "Generate a response to the question given in Input. The response must be different from Context."
VALIDATE_INSTRUCTION = ("Validate the response given in Input with CORRECT or WRONG, considering the question given "
                        "in Context.")


def _body(context: str, instruction: str, text: str) -> str:
    context_line = f"{context}\n" if context else ""
    return f"### Context:\n{context_line}### Instruction:\n{instruction}\n### Input:\n{text}\n"


def render(body: str, style: str, tokenizer: Any = None) -> str:
    """The prompt string the model reads: ``body`` + ``\\n### Response:\\n`` (plain) or ``body`` as the user turn
    of the chat template with the assistant turn opened (chat).

    Raises:
        ValueError: an unknown style, or chat without a tokenizer that has a chat template.
    """
    if style == "plain":
        return f"{body}\n### Response:\n"
    if style != "chat":
        raise ValueError(f"prompt style {style!r}: choose one of {', '.join(STYLES)}")
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt style chat needs a tokenizer with a chat template")
    return tokenizer.apply_chat_template([{"role": "user", "content": body.rstrip("\n")}], tokenize=False,
                                         add_generation_prompt=True)


def answer_prompt(question: str, context: str = "", style: str = "plain", tokenizer: Any = None) -> str:
    """Stage zero (``context`` empty) and EXAR (``context`` = the earlier answer to be different from)."""
    return render(_body(context, ANSWER_INSTRUCTION, question), style, tokenizer)


def validator_prompt(question: str, prediction: str, style: str = "plain", tokenizer: Any = None) -> str:
    """The validator's prompt: question as Context, the answer to judge as Input."""
    return render(_body(question, VALIDATE_INSTRUCTION, prediction), style, tokenizer)


def answer_rows(questions: Sequence[Any], style: str, tokenizer: Any) -> list[dict[str, str]]:
    """Stage-zero training rows: question -> gold answer + eos."""
    eos = tokenizer.eos_token or ""
    return [{"prompt": answer_prompt(q.question, "", style, tokenizer), "completion": q.gold + eos} for q in questions]


def validator_rows(labelled: Sequence[dict[str, Any]], style: str, tokenizer: Any) -> list[dict[str, str]]:
    """Validator training rows: (question, prediction) -> its label (no eos: the label's tokens carry the loss)."""
    out = []
    for row in labelled:
        if row["label"] not in (CORRECT, WRONG):
            raise ValueError(f"question {row['question_id']}: label {row['label']!r} is neither {CORRECT} nor {WRONG}")
        out.append({"prompt": validator_prompt(row["question"], row["prediction"], style, tokenizer),
                    "completion": row["label"]})
    return out


def exar_rows(labelled: Sequence[dict[str, Any]], style: str, tokenizer: Any) -> list[dict[str, str]]:
    """EXAR training rows from the WRONG rows: (earlier wrong answer as Context, question) -> the gold answer.

    The target is always the gold answer, never the Context: the reference study overwrote its gold answers
    with the wrong predictions, which teaches copying the Context, the opposite of what EXAR is for.
    """
    eos = tokenizer.eos_token or ""
    return [{"prompt": answer_prompt(r["question"], r["prediction"], style, tokenizer), "completion": r["gold"] + eos}
            for r in labelled if r["label"] == WRONG]


def clean_answer(text: str) -> str:
    """A generated answer cut at its first line break or ``###`` (a model continuing the template), stripped."""
    return text.split("###")[0].strip().split("\n")[0].strip()
