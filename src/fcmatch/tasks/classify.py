"""The classification task family: a (text1, text2?, label) record in, its verbalizer token out.

Used for pattern-based fine-tuning (PBFT, the few-shot study in :mod:`fcmatch.fewshot`): the prompt is the
record rendered with a pattern (:mod:`fcmatch.fewshot.patterns`) and the completion is the label's
verbalizer, one token, with no end-of-sequence token after it, so the cross-entropy falls on the
verbalizer token at the answer position alone. Registered in :data:`fcmatch.tasks.TASKS` as ``classify``
(pattern ``gpt-3``) and ``classify-<pattern>`` for the other plain-text patterns.

Records are JSONL lines ``{"text1", "text2", "label", "meta"}`` or already rendered
``{"prompt", "completion"}`` (how the few-shot grid writes a run's k examples, chat pattern included).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcmatch.fewshot.data import ClassRecord
from fcmatch.fewshot.patterns import PATTERNS, Pattern, PatternError, query, training_example


def read_jsonl(path: str | os.PathLike) -> list[ClassRecord | dict[str, Any]]:
    """The file's records: ClassRecords, or rendered ``{"prompt", "completion"}`` dicts as they are.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed line (the message names file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    records: list[ClassRecord | dict[str, Any]] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not valid JSON ({err.msg})") from None
        if isinstance(row, dict) and isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
            records.append({"prompt": row["prompt"], "completion": row["completion"]})
        elif isinstance(row, dict) and isinstance(row.get("text1"), str) and isinstance(row.get("label"), str):
            records.append(ClassRecord(row["text1"], row.get("text2"), row["label"], dict(row.get("meta") or {})))
        else:
            raise ValueError(f"{where}: needs string 'text1' and 'label' (or 'prompt' and 'completion')")
    return records


@dataclass(frozen=True)
class ClassifyTask:
    """PBFT with one pattern: the record's query, then its verbalizer token (no eos)."""

    pattern: Pattern

    def read_records(self, path: str | os.PathLike) -> list[ClassRecord | dict[str, Any]]:
        """See :func:`read_jsonl`."""
        return read_jsonl(path)

    def to_example(self, record: ClassRecord | dict[str, Any]) -> dict[str, Any]:
        """``{"prompt", "completion", "eos": False}``; a rendered record keeps its own prompt.

        Raises:
            PatternError: a chat pattern (it needs the tokenizer: give rendered records instead).
        """
        if isinstance(record, dict):
            return {**record, "eos": False}
        if self.pattern.chat:
            raise PatternError(f"pattern {self.pattern.name!r} needs the tokenizer: write rendered prompt/completion records")
        return training_example(self.pattern, record)

    def prompt_messages(self, record: ClassRecord) -> list[dict[str, str]]:
        """The query as one user message (generation is not how this task is scored: see fcmatch.fewshot.scoring)."""
        return [{"role": "user", "content": query(self.pattern, record)}]


TASKS = {"classify": ClassifyTask(PATTERNS["gpt-3"])} | {
    f"classify-{name}": ClassifyTask(p) for name, p in PATTERNS.items() if not p.chat}
"""The family's entries for :data:`fcmatch.tasks.TASKS`."""
