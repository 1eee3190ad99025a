"""Answers of a model to questions at several temperatures, labelled (``fcmatch metacog label``).

    fcmatch metacog label --model runs/metacog-demo/answerer --split test --output labelled.jsonl

Each row keeps its provenance: question id, model, temperature, seed, the metric values and the label.
Rows are deduplicated per (question, normalised answer), the first temperature's row kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fcmatch.metacog.data import Question
from fcmatch.metacog.labels import LabelRule, deduplicate, label_rows, summary
from fcmatch.metacog.prompts import answer_prompt, clean_answer


def answer(model: Any, tokenizer: Any, prompts: Sequence[str], temperature: float, seed: int, max_new_tokens: int,
           batch_size: int) -> list[str]:
    """One cleaned answer per prompt (:func:`fcmatch.metacog.prompts.clean_answer`); greedy at temperature 0."""
    from fcmatch.extract.config import GenerationSettings
    from fcmatch.instruct.generate import generate_responses

    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    return [clean_answer(t) for t in generate_responses(model, tokenizer, list(prompts), settings, batch_size)]


def answer_rows_at(model: Any, tokenizer: Any, questions: Sequence[Question], temperatures: Sequence[float], *,
                   style: str, seed: int, max_new_tokens: int, batch_size: int, model_name: str,
                   split: str = "", progress: bool = False) -> list[dict[str, Any]]:
    """Unlabelled rows: every question answered at every temperature (temperature order, then question order)."""
    from tqdm.auto import tqdm

    prompts = [answer_prompt(q.question, "", style, tokenizer) for q in questions]
    rows = []
    for t in tqdm(list(temperatures), desc=f"answers {split}".strip(), disable=not progress):
        for q, a in zip(questions, answer(model, tokenizer, prompts, t, seed, max_new_tokens, batch_size), strict=True):
            rows.append({"question_id": q.id, "question": q.question, "gold": q.gold, "prediction": a,
                         "model": model_name, "temperature": t, "seed": seed, "split": split})
    return rows


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Rows as JSONL, written atomically (a crash leaves the old file or none)."""
    from fcmatch.data.formats import atomic_write

    with atomic_write(path) as handle:
        handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file written by :func:`write_jsonl`."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def labelled_answers(model: Any, tokenizer: Any, questions: Sequence[Question], temperatures: Sequence[float],
                     rule: LabelRule, *, bertscore_model: str | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`answer_rows_at`, labelled with ``rule`` and deduplicated."""
    return deduplicate(label_rows(answer_rows_at(model, tokenizer, questions, temperatures, **kwargs), rule,
                                  bertscore_model))


def label_command(config: Any) -> dict[str, Any]:
    """Run ``fcmatch metacog label`` (a :class:`fcmatch.metacog.config.LabelConfig`); returns the summary."""
    from fcmatch.config import save_beside
    from fcmatch.metacog.data import read_questions
    from fcmatch.models import load

    if config.threads:
        torch.set_num_threads(config.threads)
    questions = read_questions(config.input or None, config.split, config.limit)
    model, tokenizer = load(config.model)
    rows = labelled_answers(model, tokenizer, questions, config.temperatures, config.rule,
                            bertscore_model=config.bertscore_model, style=config.style, seed=config.seed,
                            max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
                            model_name=config.model, split=config.input or config.split, progress=True)
    out = write_jsonl(Path(config.output), rows)
    save_beside(config, out)
    return summary(rows)
