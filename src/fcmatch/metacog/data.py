"""Short-answer questions: read from Dolly/Alpaca/chat files, the bundled set by default, split by question."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fcmatch.data.instructions import read_instructions, user_content


@dataclass(frozen=True)
class Question:
    """One question with its gold answer."""

    id: str
    """Stable id (the record's own, else ``<file stem>-<index>``)."""
    question: str
    """The question text (instruction, then its context when there is one)."""
    gold: str
    """The reference answer."""


def bundled_path(split: str) -> Path:
    """The bundled ``train`` or ``test`` file (src/fcmatch/resources/metacog).

    Raises:
        ValueError: another split name.
    """
    if split not in ("train", "test"):
        raise ValueError(f"bundled metacog split {split!r}: choose train or test")
    return Path(str(resources.files("fcmatch.resources.metacog") / f"{split}.jsonl"))


def read_questions(path: str | os.PathLike | None, split: str = "train", limit: int = 0) -> list[Question]:
    """Questions of an instruction file (format detected), or of the bundled ``split`` when ``path`` is empty.

    Args:
        path: a Dolly JSONL, Alpaca JSON or chat JSONL file; None or '' for the bundled questions.
        split: which bundled file, when ``path`` is empty.
        limit: keep the first N (0 = all).

    Raises:
        FileNotFoundError, fcmatch.data.formats.FormatError: a missing or malformed file (file and line named).
        ValueError: two records with the same question (a split by question needs each question once).
    """
    path = Path(path) if path else bundled_path(split)
    out, seen = [], {}
    for i, record in enumerate(read_instructions(path)):
        text = user_content(record).strip()
        if text in seen:
            raise ValueError(f"{path}: record {i + 1} repeats the question of record {seen[text] + 1}: {text[:60]!r}")
        seen[text] = i
        out.append(Question(record.id or f"{path.stem}-{i}", text, record.output.strip()))
    return out[:limit] if limit else out


def question_bucket(question_id: str, seed: int = 0) -> float:
    """A number in [0, 1) fixed by the question id and seed: the same question always falls in the same split."""
    digest = hashlib.sha256(f"{seed}:{question_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_question(ids: Sequence[str], share: float, seed: int = 0) -> tuple[set[str], set[str]]:
    """Split question ids in two: (rest, held-out), the held-out part about ``share`` of the distinct ids.

    Every row of a question goes where its id goes, so no question is in both parts.

    Raises:
        ValueError: share outside (0, 1), or fewer than 2 distinct questions.
    """
    if not 0 < share < 1:
        raise ValueError(f"validation share {share}: must be in (0, 1)")
    distinct = sorted(set(ids))
    if len(distinct) < 2:
        raise ValueError(f"{len(distinct)} distinct question(s): a split by question needs at least 2")
    ranked = sorted(distinct, key=lambda q: question_bucket(q, seed))
    k = min(len(ranked) - 1, max(1, round(share * len(ranked))))
    return set(ranked[k:]), set(ranked[:k])
