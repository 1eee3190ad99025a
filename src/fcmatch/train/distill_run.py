"""``fcmatch distill``: context distillation from a file of examples, the command-line face of
:func:`fcmatch.train.distill.distill`.

The examples file is JSONL, one example per line, in one of two forms:

- ``{"context": ..., "prompt": ..., "completion"?: ...}``: the teacher reads ``context + separator + prompt``,
  the student ``prompt`` alone (a long instruction or k demonstrations distilled away);
- ``{"teacher_prompt": ..., "student_prompt": ..., "completion"?: ...}``: both prompts written out.

With ``chat: true`` each prompt becomes the user turn of the model's chat template. ``completion`` is the answer
to distil along (``positions: all, answers: given``); leave it out to distil along the teacher's own answers
(``answers: greedy`` or ``sample``) or at the answer position only (``positions: first``). ``label_words``
turns on the classification form: the KL over those verbalizer tokens at the answer position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fcmatch.config import ConfigError, check, setting
from fcmatch.models import DEFAULT_MODEL
from fcmatch.train.distill import DistillConfig

__all__ = ["DistillRunConfig", "ExamplesError", "read_examples", "run_distill"]


class ExamplesError(ValueError):
    """A malformed examples file; the message names the file, line and field."""


@dataclass
class DistillRunConfig:
    """One distillation run: which model, which examples, which settings (saved as config.yaml in output_dir)."""

    examples: str = setting("", metavar="FILE")
    """JSONL examples: context + prompt, or teacher_prompt + student_prompt; completion optional."""
    model: str = setting(DEFAULT_MODEL, metavar="NAME")
    """Base model: fcmatch model name or local Hugging Face folder; the teacher is this model, frozen."""
    chat: bool = False
    """Wrap each prompt as the user turn of the model's chat template (for instruct models)."""
    separator: str = "\n\n"
    """Between context and prompt in the teacher's prompt (context/prompt form)."""
    label_words: list[str] = field(default_factory=list)
    """Verbalizers, e.g. [' Yes', ' No']: each must be one token; sets over=labels (KL over these tokens)."""
    limit: int = setting(0, minimum=0)
    """Use the first N examples only (0 = all)."""
    threads: int = setting(0, minimum=0)
    """CPU threads for torch (0 = torch's default, all cores)."""
    distill: DistillConfig = field(default_factory=DistillConfig)
    """The distillation settings (docs/distillation.md); output_dir is where the run is written."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        if not self.examples:  # checked here, not by argparse, so that --config can give it
            raise ConfigError("examples is required: the JSONL file of (context, prompt) examples")
        if not self.distill.output_dir:
            raise ConfigError("output_dir is required: where adapter/, config.yaml and metrics.jsonl go")
        if self.label_words and self.distill.positions != "first":
            raise ConfigError("label_words scores the answer position only; use positions=first")


def read_examples(path: str | Path, chat_template: Any = None, separator: str = "\n\n",
                  limit: int = 0) -> list[dict[str, str]]:
    """The examples of a JSONL file as ``{"teacher_prompt", "student_prompt", "completion"}`` dicts.

    Args:
        path: the JSONL file.
        chat_template: a tokenizer whose chat template wraps each prompt as a user turn; None = raw text.
        separator: joins context and prompt into the teacher's prompt.
        limit: keep the first N examples (0 = all).

    Raises:
        ExamplesError: no such file, a line that is not a JSON object, a missing or non-string field, or no
            examples at all; naming the file and line.
    """
    from fcmatch.data.formats import FormatError, iter_jsonl
    from fcmatch.extract.generation import chat_prompt

    path = Path(path)
    if not path.is_file():
        raise ExamplesError(f"{path}: no such examples file")
    out: list[dict[str, str]] = []
    try:
        for where, row in iter_jsonl(path):
            if not isinstance(row, dict):
                raise ExamplesError(f"{where}: expected a JSON object, got {type(row).__name__}")
            teacher, student = _prompts(row, where, separator)
            completion = row.get("completion", "")
            if not isinstance(completion, str):
                raise ExamplesError(f"{where}: field 'completion' must be a string")
            if chat_template is not None:
                teacher = chat_prompt(chat_template, [{"role": "user", "content": teacher}])
                student = chat_prompt(chat_template, [{"role": "user", "content": student}])
            out.append({"teacher_prompt": teacher, "student_prompt": student, "completion": completion})
            if limit and len(out) == limit:
                break
    except FormatError as err:
        raise ExamplesError(str(err)) from None
    if not out:
        raise ExamplesError(f"{path}: no examples")
    return out


def _prompts(row: dict[str, Any], where: str, separator: str) -> tuple[str, str]:
    if "teacher_prompt" in row or "student_prompt" in row:
        names = ("teacher_prompt", "student_prompt")
    else:
        names = ("context", "prompt")
    for name in names:
        if not isinstance(row.get(name), str) or not row[name].strip():
            raise ExamplesError(f"{where}: field {name!r} is missing or not a non-empty string (an example has "
                                "context + prompt, or teacher_prompt + student_prompt)")
    if names[0] == "context":
        return row["context"] + separator + row["prompt"], row["prompt"]
    return row["teacher_prompt"], row["student_prompt"]


def label_ids(tokenizer: Any, words: list[str]) -> list[int]:
    """Token id of each verbalizer; ConfigError naming one that is not exactly one token."""
    ids = []
    for word in words:
        tokens = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(tokens) != 1:
            raise ConfigError(f"label_words: {word!r} is {len(tokens)} tokens of this tokenizer ({tokens}); each "
                              "must be exactly one (mind the leading space: ' Yes' is one SmolLM2 token)")
        ids.append(tokens[0])
    if len(set(ids)) != len(ids):
        raise ConfigError(f"label_words: two words share a token ({ids})")
    return ids


def run_distill(config: DistillRunConfig) -> dict[str, Any]:
    """Load the model, read the examples, distil, and write the run; returns a summary (KL before/after)."""
    import torch

    from fcmatch.config import save_config
    from fcmatch.data.formats import atomic_write
    from fcmatch.models import load
    from fcmatch.train.distill import distill, distill_kl, teacher_answers

    if config.threads:
        torch.set_num_threads(config.threads)
    model, tokenizer = load(config.model)
    examples = read_examples(config.examples, tokenizer if config.chat else None, config.separator, config.limit)
    settings = config.distill
    if config.label_words:
        settings = replace(settings, over="labels", label_tokens=label_ids(tokenizer, config.label_words))
    settings = replace(settings, output_dir="")
    out = Path(config.distill.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if settings.answers != "given":  # the teacher answers once, so the KL before and after is along the same text
        examples = teacher_answers(model, tokenizer, examples, settings)
        with atomic_write(out / "teacher_answers.jsonl") as handle:
            handle.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in examples)
        settings = replace(settings, answers="given")
    before = distill_kl(model, tokenizer, examples, settings)
    model, history = distill(model, tokenizer, examples, replace(settings, output_dir=str(out)))
    after = distill_kl(model, tokenizer, examples, settings)
    save_config(config, out / "config.yaml")
    summary = {"examples": len(examples), "steps": len(history), "kl_before": before, "kl_after": after,
               "output_dir": str(out)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
