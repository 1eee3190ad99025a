"""The instruct task: an instruction (and optional input) in, the reference response out.

Two prompt templates, registered in :data:`fcmatch.tasks.TASKS` as ``instruct`` and ``instruct-chat``:

- ``alpaca``: the Stanford Alpaca prompt as raw text, not the chat template. Its two variants and the
  rule that picks one (an input that is the empty string gets the no-input variant) are those of the
  Alpaca authors' ``train.py`` (github.com/tatsu-lab/stanford_alpaca), character for character: the
  prompt ends at ``### Response:`` and the target, ``output + eos``, follows with no separator.
- ``chat``: the model's own chat template, with the user message :func:`fcmatch.data.instructions.user_content`
  (the instruction, a blank line, the input) and a chat record's system message, if any, before it.

The end-of-sequence token closes every training target (the chat template's end-of-turn token, which is
eos for SmolLM2) so the model learns to stop; the inference prompt never ends with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fcmatch.data.instructions import Instruction, read_instructions, user_content

TEMPLATES = ("alpaca", "chat")
PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)


def bundled(split: str = "train") -> str:
    """Path of the bundled instruction set's ``train`` or ``test`` file (``fcmatch/resources/instruct``).

    Raises:
        ValueError: another split name.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split {split!r}: the bundled set has train and test")
    return str(resources.files("fcmatch.resources.instruct") / f"{split}.json")


def read_records(path: str | os.PathLike) -> list[Instruction]:
    """The task's records: an Alpaca, Dolly or chat file (format detected from its first record).

    Raises:
        FileNotFoundError, FormatError: a missing or malformed file, naming file, record and field.
    """
    return read_instructions(path)


def _check(template: str) -> None:
    if template not in TEMPLATES:
        raise ValueError(f"template {template!r}: choose one of {', '.join(TEMPLATES)}")


def alpaca_prompt(record: Instruction) -> str:
    """The Alpaca prompt of ``record``: the with-input variant unless its input is the empty string.

    Raises:
        ValueError: the record has a system message, which the Alpaca prompt has no place for.
    """
    if record.system:
        raise ValueError("the alpaca template has no place for a system message; use the chat template")
    template = PROMPT_INPUT if record.input != "" else PROMPT_NO_INPUT
    return template.format_map({"instruction": record.instruction, "input": record.input})


def prompt_messages(record: Instruction) -> list[dict[str, str]]:
    """Chat messages up to (not including) the assistant's answer: [system], then the user turn."""
    system = [{"role": "system", "content": record.system}] if record.system else []
    return [*system, {"role": "user", "content": user_content(record)}]


def reference(record: Instruction) -> str:
    """The text a generation is scored against: the record's output."""
    return record.output


def to_example(record: Instruction, template: str = "alpaca") -> dict[str, Any]:
    """Training example of ``record``.

    Returns:
        ``{"prompt", "completion"}`` raw text for ``alpaca`` (the trainer appends eos to the completion),
        ``{"messages": [...]}`` ending with the assistant's output for ``chat``.

    Raises:
        ValueError: an unknown template, or a system message with ``alpaca``.
    """
    _check(template)
    if template == "alpaca":
        return {"prompt": alpaca_prompt(record), "completion": record.output}
    return {"messages": [*prompt_messages(record), {"role": "assistant", "content": record.output}]}


def prompt_text(record: Instruction, tokenizer: Any, template: str = "alpaca") -> str:
    """What the model is given at inference: the Alpaca prompt, or the chat template up to the assistant turn.

    Encode it with ``add_special_tokens=False``; it carries no eos at its end.

    Raises:
        ValueError: an unknown template, or a system message with ``alpaca``.
    """
    _check(template)
    if template == "alpaca":
        return alpaca_prompt(record)
    return tokenizer.apply_chat_template(prompt_messages(record), add_generation_prompt=True, tokenize=False)


@dataclass(frozen=True)
class InstructTask:
    """The task with one template, as :data:`fcmatch.tasks.TASKS` holds it for the trainer."""

    template: str = "alpaca"
    """``alpaca`` or ``chat``."""

    def __post_init__(self) -> None:
        _check(self.template)

    def read_records(self, path: str | os.PathLike) -> list[Instruction]:
        """See :func:`read_records`."""
        return read_records(path)

    def to_example(self, record: Instruction) -> dict[str, Any]:
        """See :func:`to_example`."""
        return to_example(record, self.template)

    def prompt_messages(self, record: Instruction) -> list[dict[str, str]]:
        """See :func:`prompt_messages` (the chat template's conversation, whatever this task's template)."""
        return prompt_messages(record)

    def prompt_text(self, record: Instruction, tokenizer: Any) -> str:
        """See :func:`prompt_text`."""
        return prompt_text(record, tokenizer, self.template)

    def reference(self, record: Instruction) -> str:
        """See :func:`reference`."""
        return reference(record)


ALPACA = InstructTask("alpaca")
CHAT = InstructTask("chat")
